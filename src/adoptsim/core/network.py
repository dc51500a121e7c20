"""Community networks as sparse, row-normalised, size-weighted adjacency matrices.

Every builder returns ``W`` (``scipy.sparse.csr_matrix``, N x N) with
``W[c, k] = size[k] / Σ_{k' ∈ nb(c)} size[k']`` for each neighbour ``k`` of ``c`` (rows of
communities without neighbours are empty), so that ``W @ x`` is the size-weighted mean of
``x`` over each community's neighbours. The ``complete`` network is never materialised: the
model uses world totals instead (``build_network`` returns ``None``).

Communities are numbered contiguously by nation. Construction is vectorised: one draw per
edge, no per-community Python loop.

* ``regional``: each community draws ``degree`` out-ties; a tie stays in the own nation with
  probability ``1 − cross_border``; otherwise it goes to a community of the own region with
  probability ``same_region`` and to any community with probability ``1 − same_region``.
* ``small_world``: Watts–Strogatz: a ring (in nation order, so ring neighbours are mostly
  compatriots) where each community is tied to the ``degree`` nearest ones, each tie rewired
  to a uniformly drawn community with probability ``rewire``.

Self-ties are dropped; a repeated tie counts twice.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def normalised(rows: np.ndarray, cols: np.ndarray, sizes: np.ndarray, n: int) -> sp.csr_matrix:
    """The row-normalised CSR matrix of the ties ``rows[i] -> cols[i]`` (self-ties dropped,
    repeated ties summed), built directly: the builders emit ``width`` ties per row in row order,
    so each row's columns are sorted in place and deduplicated in one vectorised pass (no COO
    copy, no ``sum_duplicates``, no ``diags @ W``), with int32 indices where they fit. Entries
    are stored in descending column order within a row.

    Bit-identical to ``csr_matrix((sizes[cols], (rows, cols)))`` summed, row-summed and scaled by
    ``diags(1/rowsum)``: repeated ties are added one after another in column order, each row's
    total is summed as scipy's ``W.sum(axis=1)`` sums it, and each entry is multiplied once by its row's
    inverse total (tests/core/test_network.py checks it against that reference)."""
    width = rows.size // n if n else 0
    if n == 0 or width * n != rows.size or not (rows.reshape(n, width) == np.arange(n)[:, None]).all():
        return normalised_reference(rows, cols, sizes, n)
    idx_type = np.int32 if n < 2**31 - 1 else np.int64
    C = cols.reshape(n, width).astype(idx_type)
    C[C == np.arange(n, dtype=idx_type)[:, None]] = n  # self-ties sort last and are dropped
    C.sort(axis=1)
    W = sizes.astype(np.float64)[np.minimum(C, n - 1)]
    first = np.ones_like(C, dtype=bool)  # the first entry of each run of equal columns
    first[:, 1:] = C[:, 1:] != C[:, :-1]
    run = np.zeros(n, dtype=np.float64)
    for j in range(width):  # a repeated tie adds its weight to its run's first entry, in order
        run = np.where(first[:, j], W[:, j], run + W[:, j])
        W[:, j] = run
    last = np.ones_like(first)  # the entry that holds each run's total
    last[:, :-1] = first[:, 1:]
    keep = last & (C < n)
    counts = keep.sum(axis=1)
    asc = W[keep]  # entries in column order
    starts = np.minimum(np.concatenate(([0], np.cumsum(counts)[:-1])), max(asc.size - 1, 0))
    total = (np.where(counts > 0, np.add.reduceat(asc, starts), 0.0) if asc.size  # as scipy's W.sum(axis=1)
             else np.zeros(n))
    del asc, starts
    # entries in descending column order within each row: the order scipy's diags(inv) @ W
    # leaves them in, which the neighbour sums follow (so results stay bit-identical)
    keep, C, W = keep[:, ::-1], C[:, ::-1], W[:, ::-1]
    indptr = np.zeros(n + 1, dtype=idx_type)
    np.cumsum(counts, out=indptr[1:])
    indices, data = C[keep], W[keep]
    del C, W, first, last, keep
    inv = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    data *= np.repeat(inv, counts)
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def normalised_reference(rows: np.ndarray, cols: np.ndarray, sizes: np.ndarray, n: int) -> sp.csr_matrix:
    """The plain scipy construction (COO -> CSR, sum duplicates, diag scaling): used for ties not
    laid out as a fixed number per row, and as the reference in the tests."""
    keep = rows != cols
    rows, cols = rows[keep], cols[keep]
    w = sizes[cols].astype(np.float64)
    W = sp.csr_matrix((w, (rows, cols)), shape=(n, n))
    W.sum_duplicates()
    tot = np.asarray(W.sum(axis=1)).ravel()
    inv = np.divide(1.0, tot, out=np.zeros_like(tot), where=tot > 0)
    return sp.csr_matrix(sp.diags(inv) @ W)


def _group_offsets(groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Members of each group as (order, start, count) with order = indices sorted by group."""
    # a stable sort has one result; on 16-bit keys numpy sorts by radix (linear time)
    keys = groups.astype(np.int16) if n_groups <= np.iinfo(np.int16).max else groups
    order = np.argsort(keys, kind="stable")
    count = np.bincount(groups, minlength=n_groups)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    return order, start, count


#: from this many communities on, networks are built by the compiled builder of
#: :mod:`adoptsim.core.network_kernel` (chunked, straight into the CSR arrays; the same matrix bit for
#: bit), below it by the numpy construction (no numba start-up for small worlds)
COMPILED_FROM = 200_000
CHUNK_ROWS = 1 << 18


def _two_streams(rng: np.random.Generator, size: int):
    """Chunked draws equal to ``a = rng.random(size); b = rng.random(size)``: (generator of
    a's chunks, generator of b's, finish) — b from a copy of the bit generator advanced by
    ``size`` draws; ``finish()`` leaves ``rng`` where the two full draws would. None when the
    bit generator cannot jump ahead draw by draw (then draw in full)."""
    bg = rng.bit_generator
    if type(bg) not in (np.random.PCG64, np.random.PCG64DXSM):
        return None
    other = type(bg)()
    other.state = bg.state
    other.advance(size)
    return rng, np.random.Generator(other), lambda: bg.advance(size)


def runs(order: np.ndarray, start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, ...]:
    """The runs of consecutive indices in a group order (:func:`_group_offsets`), for
    :func:`adoptsim.core.network_kernel.run_value`: (positions, first indices, each group's first run,
    its last run + 1); empty arrays when there are more than ``len(order) // 64`` runs (then
    reading the order is as cheap). A group that is empty gets an empty range; a clamped
    position (the last community) lies in the last run."""
    pos = np.concatenate(([0], np.flatnonzero(np.diff(order) != 1) + 1)).astype(np.int64)
    if pos.size > max(len(order) // 64, 1):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(len(start), dtype=np.int64), np.zeros(len(start), dtype=np.int64)
    lo = np.searchsorted(pos, start, side="right") - 1
    hi = np.maximum(np.searchsorted(pos, start + count, side="left"), lo + 1)
    return pos, order[pos].astype(np.int64), lo.astype(np.int64), hi.astype(np.int64)


def compiled_network(n: int, degree: int, sizes: np.ndarray, rng: np.random.Generator, cols_of) -> sp.csr_matrix | None:
    """The row-normalised CSR matrix of ``degree`` ties per row, built chunk by chunk:
    ``cols_of(ua, ub, r0, cols)`` fills the ties of rows ``r0…`` from the chunk's two uniforms."""
    streams = _two_streams(rng, n * degree)
    if streams is None or n >= 2**31 - 1:
        return None
    from . import network_kernel as kernel  # numba: large networks only
    ga, gb, finish = streams
    indptr = np.zeros(n + 1, dtype=np.int32)
    indices = np.empty(n * degree, dtype=np.int32)
    data = np.empty(n * degree)
    sizes = np.ascontiguousarray(sizes, dtype=np.float64)
    pos = 0
    for r0 in range(0, n, CHUNK_ROWS):
        m = min(CHUNK_ROWS, n - r0) * degree
        ua, ub = ga.random(m), gb.random(m)
        cols = np.empty(m, dtype=np.int64)
        cols_of(kernel, ua, ub, r0, cols)
        pos = kernel.csr_rows(cols, r0, degree, sizes, n, indptr, indices, data, pos)
    finish()
    return sp.csr_matrix((data[:pos], indices[:pos], indptr), shape=(n, n), copy=False)


def regional(nation: np.ndarray, region: np.ndarray, sizes: np.ndarray, degree: int,
             cross_border: float, same_region: float, rng: np.random.Generator) -> sp.csr_matrix:
    n = len(nation)
    if n >= COMPILED_FROM and degree > 0:
        n_order, n_start, n_count = _group_offsets(nation, int(nation.max()) + 1)
        r_order, r_start, r_count = _group_offsets(region, int(region.max()) + 1)
        t_nation, t_region = 1.0 - cross_border, 1.0 - cross_border * (1.0 - same_region)
        nat, reg = nation.astype(np.int64), region.astype(np.int64)
        # a nation's, a region's communities: a few runs of consecutive indices
        n_runs, r_runs = runs(n_order, n_start, n_count), runs(r_order, r_start, r_count)
        W = compiled_network(n, degree, sizes, rng, lambda k, ua, ub, r0, cols: k.regional_cols(
            ua, ub, r0, degree, n, nat, reg, n_order, n_start, n_count, r_order, r_start, r_count,
            t_nation, t_region, n_runs, r_runs, cols))
        if W is not None:
            return W
    rows = np.repeat(np.arange(n), degree)
    u_kind = rng.random(rows.size)
    u_pick = rng.random(rows.size)
    n_order, n_start, n_count = _group_offsets(nation, int(nation.max()) + 1)
    r_order, r_start, r_count = _group_offsets(region, int(region.max()) + 1)
    own_n, own_r = nation[rows], region[rows]
    cols = np.floor(u_pick * n).astype(np.int64)  # anywhere
    in_nation = u_kind < 1.0 - cross_border
    in_region = ~in_nation & (u_kind < 1.0 - cross_border * (1.0 - same_region))
    k = own_n[in_nation]
    cols[in_nation] = n_order[n_start[k] + np.floor(u_pick[in_nation] * n_count[k]).astype(np.int64)]
    k = own_r[in_region]
    cols[in_region] = r_order[r_start[k] + np.floor(u_pick[in_region] * r_count[k]).astype(np.int64)]
    return normalised(rows, np.minimum(cols, n - 1), sizes, n)


def small_world(sizes: np.ndarray, degree: int, rewire: float, rng: np.random.Generator) -> sp.csr_matrix:
    n = len(sizes)
    degree = min(degree, max(n - 1, 1))
    offsets = np.array([j for j in range(1, degree + 1)], dtype=np.int64)
    offsets = np.where(offsets % 2 == 1, (offsets + 1) // 2, -(offsets // 2))  # +1, -1, +2, -2, ...
    if n >= COMPILED_FROM:
        W = compiled_network(n, degree, sizes, rng, lambda k, ua, ub, r0, cols: k.small_world_cols(
            ua, ub, r0, degree, n, offsets, float(rewire), cols))
        if W is not None:
            return W
    rows = np.repeat(np.arange(n), degree)
    cols = (rows + np.tile(offsets, n)) % n
    flip = rng.random(rows.size) < rewire
    new = np.floor(rng.random(rows.size) * n).astype(np.int64)
    cols = np.where(flip, np.minimum(new, n - 1), cols)
    return normalised(rows, cols, sizes, n)


def build_network(kind: str, nation: np.ndarray, region: np.ndarray, sizes: np.ndarray, *,
                  degree: int, cross_border: float, same_region: float, rewire: float,
                  rng: np.random.Generator) -> sp.csr_matrix | None:
    """The row-normalised weight matrix of the scenario's network, or None for ``complete``."""
    if kind == "complete":
        return None
    if kind == "regional":
        return regional(nation, region, sizes, degree, cross_border, same_region, rng)
    if kind == "small_world":
        return small_world(sizes, degree, rewire, rng)
    raise ValueError(f"unknown network kind {kind!r}")
