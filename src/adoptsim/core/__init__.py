"""The model core: scenario schema and checks, policies, world state, network, choice rules,
agents and populations, the Mesa model and its metrics. Reads and writes no files."""

#: The scope levels of every table and figure: the world, a region, a nation.
SCOPES = ("world", "region", "nation")
