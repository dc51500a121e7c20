"""The network builder's compiled pieces (numba): :mod:`adoptsim.core.network` builds large
networks here, in chunks of rows, straight into the CSR arrays — the same ties, weights and
entry order as its numpy construction (bit for bit, tests/core/test_network.py), with a peak of
the CSR itself plus one chunk instead of several copies of all the ties. Imported only for
networks of ``network.COMPILED_FROM`` communities or more."""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernel import _INLINE, _JIT, numpy_row_sum, prefetch

#: csr_rows prefetches the sizes of the ties of the row this many rows on (random reads)
AHEAD_BUILD = 16



@njit(**_INLINE)
def run_value(values, run_pos, run_value0, lo, hi, j):
    """``values[j]`` read from its runs when ``run_pos`` is given (runs of consecutive indices
    starting at ``run_pos``, in order, from ``run_value0``; ``j`` lies in one of runs
    ``lo…hi−1``: the order of a nation's or a region's communities in a layout grouped by nation
    is one run per nation), a binary search in a few cached entries instead of a random read of
    an 80 MB array at 10^7; else (and for a ``j`` outside those runs) ``values[j]`` itself."""
    if run_pos.size == 0 or lo >= hi or j < run_pos[lo] or (hi < run_pos.size and j >= run_pos[hi]):
        return values[j]
    hi -= 1
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if run_pos[mid] <= j:
            lo = mid
        else:
            hi = mid - 1
    return run_value0[lo] + (j - run_pos[lo])


@njit(**_INLINE)
def _regional_pos(i, u_kind, u_pick, r0, degree, n, nation, region, n_start, n_count, r_start, r_count,
                  t_nation, t_region):
    """Where tie ``i`` points: (0, position in ``n_order``), (1, position in ``r_order``) or
    (2, the community itself)."""
    r = r0 + i // degree
    u = u_pick[i]
    if u_kind[i] < t_nation:
        k = nation[r]
        return 0, n_start[k] + np.int64(np.floor(u * n_count[k]))
    if u_kind[i] < t_region:
        k = region[r]
        return 1, r_start[k] + np.int64(np.floor(u * r_count[k]))
    return 2, np.int64(np.floor(u * n))


@njit(**_JIT)
def regional_cols(u_kind, u_pick, r0, degree, n, nation, region, n_order, n_start, n_count,
                  r_order, r_start, r_count, t_nation, t_region, n_runs, r_runs, cols):
    """Tie targets of rows ``r0…`` (``degree`` per row) from their two uniforms, as
    :func:`adoptsim.core.network.regional` draws them; ``n_runs``/``r_runs``: (positions, first
    index, each group's first run, its last run + 1) of the runs of consecutive indices in
    ``n_order``/``r_order`` (empty: read the order arrays), see :func:`run_value`."""
    for i in range(u_kind.size):
        which, j = _regional_pos(i, u_kind, u_pick, r0, degree, n, nation, region, n_start, n_count,
                                 r_start, r_count, t_nation, t_region)
        if which == 0:
            k = nation[r0 + i // degree]
            c = run_value(n_order, n_runs[0], n_runs[1], n_runs[2][k], n_runs[3][k], min(j, n_order.size - 1))
        elif which == 1:
            k = region[r0 + i // degree]
            c = run_value(r_order, r_runs[0], r_runs[1], r_runs[2][k], r_runs[3][k], min(j, r_order.size - 1))
        else:
            c = j
        cols[i] = min(c, n - 1)


@njit(**_JIT)
def small_world_cols(u_flip, u_new, r0, degree, n, offsets, rewire, cols):
    """Tie targets of rows ``r0…`` as :func:`adoptsim.core.network.small_world` draws them."""
    for i in range(u_flip.size):
        r = r0 + i // degree
        if u_flip[i] < rewire:
            cols[i] = min(np.int64(np.floor(u_new[i] * n)), n - 1)
        else:
            cols[i] = (r + offsets[i % degree]) % n


@njit(**_JIT)
def csr_rows(cols, r0, degree, sizes, n, indptr, indices, data, pos):
    """Append rows ``r0…`` (``degree`` ties each in ``cols``) to the CSR arrays from entry
    ``pos``; returns the new end. Per row, as :func:`adoptsim.core.network.normalised`: self-ties
    dropped, columns sorted, a repeated tie's weights added in column order, the row total
    summed as ``np.add.reduceat`` sums it, each entry scaled by the row's inverse total, entries
    stored in descending column order. The sizes of the ties :data:`AHEAD_BUILD` rows on are
    prefetched (random reads; reading them from their runs, as :func:`regional_cols` reads the
    orders, measured slower: a binary search over ~300 runs per tie)."""
    c = np.empty(degree, dtype=np.int64)
    keep_c = np.empty(degree, dtype=np.int64)
    keep_w = np.empty(degree)
    m = cols.size // degree
    for i in range(m):
        if i + AHEAD_BUILD < m:  # the sizes of the ties AHEAD_BUILD rows on (random reads)
            for j in range(degree):
                prefetch(sizes, min(cols[(i + AHEAD_BUILD) * degree + j], n - 1))
        r = r0 + i
        for j in range(degree):
            x = cols[i * degree + j]
            c[j] = n if x == r else x
        for j in range(1, degree):  # insertion sort: a handful of ties
            x = c[j]
            k = j - 1
            while k >= 0 and c[k] > x:
                c[k + 1] = c[k]
                k -= 1
            c[k + 1] = x
        cnt = 0
        run = 0.0
        for j in range(degree):
            w = sizes[min(c[j], n - 1)]
            run = w if (j == 0 or c[j] != c[j - 1]) else run + w
            if (j == degree - 1 or c[j + 1] != c[j]) and c[j] < n:
                keep_c[cnt] = c[j]
                keep_w[cnt] = run
                cnt += 1
        total = 0.0
        if cnt > 0:
            total = keep_w[0] + numpy_row_sum(keep_w[1:], cnt - 1)
        inv = 1.0 / total if total > 0 else 0.0
        for j in range(cnt):
            indices[pos + j] = keep_c[cnt - 1 - j]
            data[pos + j] = keep_w[cnt - 1 - j] * inv
        pos += cnt
        indptr[r + 1] = pos
    return pos
