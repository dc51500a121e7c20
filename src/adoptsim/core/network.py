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


def _normalised(rows: np.ndarray, cols: np.ndarray, sizes: np.ndarray, n: int) -> sp.csr_matrix:
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
    order = np.argsort(groups, kind="stable")
    count = np.bincount(groups, minlength=n_groups)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    return order, start, count


def regional(nation: np.ndarray, region: np.ndarray, sizes: np.ndarray, degree: int,
             cross_border: float, same_region: float, rng: np.random.Generator) -> sp.csr_matrix:
    n = len(nation)
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
    return _normalised(rows, np.minimum(cols, n - 1), sizes, n)


def small_world(sizes: np.ndarray, degree: int, rewire: float, rng: np.random.Generator) -> sp.csr_matrix:
    n = len(sizes)
    degree = min(degree, max(n - 1, 1))
    offsets = np.array([j for j in range(1, degree + 1)], dtype=np.int64)
    offsets = np.where(offsets % 2 == 1, (offsets + 1) // 2, -(offsets // 2))  # +1, -1, +2, -2, ...
    rows = np.repeat(np.arange(n), degree)
    cols = (rows + np.tile(offsets, n)) % n
    flip = rng.random(rows.size) < rewire
    new = np.floor(rng.random(rows.size) * n).astype(np.int64)
    cols = np.where(flip, np.minimum(new, n - 1), cols)
    return _normalised(rows, cols, sizes, n)


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
