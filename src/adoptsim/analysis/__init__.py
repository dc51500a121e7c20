"""Analysis of simulated tables: bands, the empirical targets, comparisons, PRIM."""
