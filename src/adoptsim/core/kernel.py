"""The fused community kernel: a month in two compiled passes over the communities (numba).

:meth:`adoptsim.core.populations.CommunityPopulation.step` runs :func:`step_communities`: pass 1
(:func:`choosers`) finds the communities that choose this month (first adoption, revision, a
lost model); pass 2 (:func:`_choose`) computes, for every chooser, its neighbours' shares per
product, its utilities, the (nested) logit weights and its draw; then :func:`apply_choices`
updates the state (synchronously: both passes read the state at the start of the month). The
numpy reference (:mod:`adoptsim.core.choice`, :func:`adoptsim.core.market.nested_logit_probabilities`)
does pass 2 as ~35 passes over (choosers × products) temporaries; :func:`_choose` does it row by
row, with per-row scratch of a few products' length and no (m × V) temporary. The neighbours'
products are random reads (~1 MB at 10^6 communities, beyond the L2 cache): pass 2 prefetches
those of the chooser :data:`AHEAD` places on (``llvm.prefetch``, :func:`prefetch`), which cut
its time by about a third at 10^6.

**The reference's numbers.** The utilities are the reference's bit for bit, the probabilities
equal to rounding, the choices the same given the same uniforms:

* neighbour shares and the neighbours' adoption are summed in the order of the CSR entries (as
  ``bincount`` and scipy's ``csr_matvec`` sum them; a non-adopting neighbour adds nothing, as
  adding ``0.0`` changes no sum);
* ``U = base + w_peer·share``, then ``+ w_inertia`` on the current product; ``Z = U / T``;
* **weights from the group's** (:func:`group_tables`, once per call): a chooser's utility
  differs from its group's (nation × sector) base utility only on the set ``A`` of the
  products its neighbours use and its own (about two of the baseline's 16 products). Every
  weight is ``exp((Z − z_g)·(1/λ_L))`` with ``z_g`` the group's largest ``base/T`` (the textbook
  formula subtracts the chooser's own largest ``Z``: a common factor, which cancels); off ``A``
  it is the group's, computed once; on ``A`` one ``exp`` each. A nest none of whose products is
  in ``A`` has the group's sum, so its power ``S^a`` and factor are the group's too: only the
  nests above ``A`` take a ``pow``. This makes 2–3 ``exp`` and ~4 ``pow`` per chooser of what
  were 16 and 7. A chooser whose largest ``Z`` is more than :data:`RESCALE`/λ_L away from
  ``z_g`` (a very low temperature) is computed on its own scale, every product, as the
  reference does;
* the plain logit's row total is summed as numpy's ``E.sum(axis=1)`` sums a row (its pairwise
  summation: :func:`numpy_row_sum`), then ``P = E / total``; the nested logit's nest sums in
  product order, its factors pushed down as the reference pushes them;
* the draw inverts the CDF with the partial sums accumulated left to right and
  ``x = (1 − u)·Σ``.

The weights differ from the reference's by a common factor and in their last bits, so a
choice could differ only where a uniform falls within ~1e−16 of a boundary of the CDF: never
seen — every bundled scenario's tables are bit-identical on both paths (tests/core/test_kernel.py
checks the probabilities to 1e-12, the choices exactly, and whole runs). ``fastmath`` is off (no
reassociation, no fused multiply-add), and ``exp``/``pow`` are the C library's.

Compiled on first use and cached on disk (``cache=True``, in ``__pycache__`` next to this file,
or ``NUMBA_CACHE_DIR``): the first run after an install pays ~5 s of compilation; later
processes pay numba's fixed start-up, ~0.4 s to import it and ~0.35 s to load the compiled
kernel (measured on the 2-core development machine). Which path a model uses is chosen by
``ADOPTSIM_KERNEL`` (``auto``, the default: fused from 200,000 communities on, or once the
process has run enough on the numpy path; ``fused``; ``numpy``), read into
:data:`adoptsim.core.populations.KERNEL`.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

PEER_NONE, PEER_CSR, PEER_WORLD = 0, 1, 2
#: a chooser's weights are scaled by its group's largest Z unless their own largest Z is further
#: from it than this (in units of λ_L): exp(±300) is far from float64's over- and underflow
RESCALE = 300.0
#: pass 2 prefetches the neighbours' products of the chooser this many places on (measured:
#: 2 too close, 8 and 16 alike)
AHEAD = 8

@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch ``arr[idx]`` into its caches (LLVM's ``llvm.prefetch``: read, high
    locality); no effect on any value."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return sig, codegen


_JIT = dict(cache=True, fastmath=False, nogil=True, error_model="numpy")
_INLINE = dict(_JIT, inline="always")  # per-row helpers: no call (and no reference counting) per row


@njit(**_JIT)
def numpy_row_sum(a, n):
    """``a[0] + … + a[n−1]`` in the order numpy's pairwise summation adds a contiguous row of
    ``n`` float64 (``pairwise_sum`` in numpy's ``loops_utils.h``), for ``n`` up to 128 the
    exact order: below 8 terms one after another, else eight interleaved partial sums combined
    as ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))``, then the remainder one after another."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[0], a[1], a[2], a[3]
        r4, r5, r6, r7 = a[4], a[5], a[6], a[7]
        m = n - n % 8
        for i in range(8, m, 8):
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for i in range(m, n):
            res += a[i]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return numpy_row_sum(a, n2) + numpy_row_sum(a[n2:], n - n2)


@njit(**_JIT)
def neighbour_adopted_rows(indptr, indices, data, current, rows, out):
    """``out[i] = Σ_k W[rows[i], k]·[current[k] ≥ 0]`` (``(W @ adopted)[rows]``), summed in
    the order of the CSR entries."""
    for i in range(rows.size):
        r = rows[i]
        s = 0.0
        for e in range(indptr[r], indptr[r + 1]):
            if current[indices[e]] >= 0:
                s += data[e]
        out[i] = s


@njit(**_INLINE)
def _nested_weights(E, V, nest, lams, parent, ngroups, S, T, fac, f, aff, Tg, Fg, f0g, g):
    """Unnormalised nested-logit weights of one row, in place in ``E`` (see
    :func:`adoptsim.core.market.nested_logit_probabilities`: the same operations in the same
    order). A nest not marked in ``aff`` takes its power ``T``, its factor ``T/S`` (and, at the
    top, ``S^(λ0−1)``) from row ``g`` of the group tables ``Tg``/``Fg``/``f0g`` instead of
    computing them: its sum is the group's, so the values are the same bits."""
    L = lams.size
    bottom = nest[L - 1]
    G = ngroups[L - 1]
    for k in range(G):
        S[L - 1, k] = 0.0
    for j in range(V):
        S[L - 1, bottom[j]] += E[j]
    # levels from the bottom up: T = S^a, factor T/S (0 where S = 0), sums one level up
    for level in range(L - 2, -1, -1):
        a = lams[level + 1] / lams[level]
        Gl = ngroups[level + 1]
        for k in range(ngroups[level]):
            S[level, k] = 0.0
        for k in range(Gl):
            s = S[level + 1, k]
            if not aff[level + 1, k]:
                t = Tg[g, level + 1, k]
                fac[level + 1, k] = Fg[g, level + 1, k]
            elif a == 1.0:
                t = s
                fac[level + 1, k] = 1.0
            elif s > 0:
                t = s ** a
                fac[level + 1, k] = t / s
            else:  # pow(0, a > 0) = 0: no call
                t = 0.0
                fac[level + 1, k] = 0.0
            T[level + 1, k] = t
            S[level, parent[level + 1, k]] += t
    # the top factor, then push down: f = fac · f[parent] (fac = 1 where a = 1: f[parent] itself)
    lam0 = lams[0]
    for k in range(ngroups[0]):
        s = S[0, k]
        if not aff[0, k]:
            f[0, k] = f0g[g, k]
        elif lam0 == 1.0:
            f[0, k] = 1.0
        else:
            f[0, k] = s ** (lam0 - 1.0) if s > 0 else 0.0
    for level in range(1, L):
        a = lams[level] / lams[level - 1]
        for k in range(ngroups[level]):
            up = f[level - 1, parent[level, k]]
            f[level, k] = up if a == 1.0 else fac[level, k] * up
    for j in range(V):
        E[j] *= f[L - 1, bottom[j]]


@njit(**_JIT)
def group_tables(base, available, masked, temperature, nested, nest, lams, parent, ngroups):
    """Per group ``g`` (row of ``base``): ``zg[g]``, the largest ``base/T`` over the available
    products (0 when none is), ``eg[g, v] = exp((base[g, v]/T − zg[g])·(1/λ_L))`` (0 where
    unavailable) — the weight of a product whose utility is the group's, i.e. no neighbour on
    it and not the chooser's own — and, for the nested logit, each nest's power ``Tg``, factor
    ``Fg`` and top factor ``f0g`` when every product in it has its group weight."""
    Gn, V = base.shape
    L = lams.size if nested else 1
    Gmax = (nest.shape[1] if nested else 1) + 1
    inv_bottom = 1.0 / lams[L - 1] if nested else 1.0
    zg = np.zeros(Gn)
    eg = np.zeros((Gn, V))
    Tg = np.zeros((Gn, L, Gmax))
    Fg = np.zeros((Gn, L, Gmax))
    f0g = np.zeros((Gn, Gmax))
    S = np.empty((L, Gmax))
    T = np.empty((L, Gmax))
    fac = np.empty((L, Gmax))
    f = np.empty((L, Gmax))
    aff = np.ones((L, Gmax), dtype=np.bool_)
    E = np.empty(V)
    for g in range(Gn):
        zmax = 0.0
        for v in range(V):
            z = -np.inf if (masked and not available[g, v]) else base[g, v] / temperature
            if v == 0 or z > zmax:
                zmax = z
        if masked and not np.isfinite(zmax):
            zmax = 0.0
        zg[g] = zmax
        for v in range(V):
            if masked and not available[g, v]:
                E[v] = 0.0
            else:
                z = base[g, v] / temperature - zmax
                if inv_bottom != 1.0:
                    z *= inv_bottom
                E[v] = np.exp(z)
            eg[g, v] = E[v]
        if nested:
            _nested_weights(E, V, nest, lams, parent, ngroups, S, T, fac, f, aff, Tg, Fg, f0g, g)
            for level in range(L):
                for k in range(ngroups[level]):
                    Tg[g, level, k] = T[level, k]
                    Fg[g, level, k] = fac[level, k]
            for k in range(ngroups[0]):
                f0g[g, k] = f[0, k]
    return zg, eg, Tg, Fg, f0g


@njit(**_JIT)
def choosers(current, cur_small, nation, group, p, q, optimism, education, world_adopted, revision_rate,
             u_adopt, u_revise, available, masked, indptr, indices, data, rows_out):
    """Pass 1 of a month: the communities that choose, in order, into ``rows_out``; returns
    their number. A non-adopter adopts when ``u_adopt < 1 − exp(−(p·2·optimism·education +
    q·A))`` (``A`` its neighbours' adoption summed over the CSR entries, or ``world_adopted``
    on a complete network: ``indptr`` empty then); an adopter revises when ``u_revise <
    revision_rate``, or must choose again when its product is unavailable (``masked`` only)."""
    complete = indptr.size == 0
    m = 0
    for r in range(current.size):
        cur = current[r]
        if cur < 0:
            if complete:
                a = world_adopted
            else:
                a = 0.0
                for e in range(indptr[r], indptr[r + 1]):
                    if cur_small[indices[e]] >= 0:
                        a += data[e]
            nat = nation[r]
            prob = -np.expm1(-(p * 2.0 * optimism[nat] * education[nat] + q * a))
            chooses = u_adopt[r] < prob
        else:
            chooses = u_revise[r] < revision_rate
            if masked:
                chooses = chooses | (not available[group[r], cur])
        rows_out[m] = r  # written always, kept when it chooses: no unpredictable branch
        m += chooses
    return m


@njit(**_JIT)
def _choose(rows, current, cur_small, group, u_choice, base, available, masked, w_peer, w_inertia, peer_mode,
            indptr, indices, data, world_share, temperature, nested, nest, lams, parent, ngroups,
            zg, eg, Tg, Fg, f0g, picked, record, U_out, P_out):
    """Pass 2: the product drawn by each chooser ``rows[i]`` into ``picked[i]`` (−1 where none
    is available); one function, so that nothing is called per row.

    A chooser's weights are its group's (``eg``, from :func:`group_tables`) except on the
    products its neighbours use and its own product (the set ``A``): only those take an ``exp``,
    and only the nests above them a ``pow``. The neighbours' products of the chooser
    :data:`AHEAD` places on are prefetched (the gathers are random reads)."""
    V = base.shape[1]
    share = np.zeros(V)
    in_a = np.zeros(V, dtype=np.bool_)
    a_list = np.empty(V, dtype=np.int64)
    z_a = np.empty(V)
    E = np.empty(V)
    Gmax = (nest.shape[1] if nested else 1) + 1
    L = lams.size if nested else 1
    S = np.empty((L, Gmax))
    T = np.empty((L, Gmax))
    fac = np.empty((L, Gmax))
    f = np.empty((L, Gmax))
    aff = np.zeros((L, Gmax), dtype=np.bool_)
    all_one = True
    if nested:
        for level in range(L):
            if lams[level] != 1.0:
                all_one = False
    bottom = nest[L - 1]
    inv_bottom = 1.0 / lams[L - 1] if nested else 1.0
    n_iter = rows.size
    for it in range(n_iter):
        r = rows[it]
        if peer_mode == PEER_CSR and it + AHEAD < n_iter:
            q = rows[it + AHEAD]
            for e in range(indptr[q], indptr[q + 1]):
                prefetch(cur_small, indices[e])
        cur = current[r]
        g = group[r]
        # the set A: products with a neighbour on them (their shares summed in the order of the
        # CSR entries), then the chooser's own
        n_a = 0
        if peer_mode == PEER_CSR:
            for e in range(indptr[r], indptr[r + 1]):
                c = cur_small[indices[e]]
                if c >= 0:
                    share[c] += data[e]
                    if not in_a[c]:
                        in_a[c] = True
                        a_list[n_a] = c
                        n_a += 1
        elif peer_mode == PEER_WORLD:
            for v in range(V):
                share[v] = world_share[v]
                if world_share[v] != 0.0:
                    in_a[v] = True
                    a_list[n_a] = v
                    n_a += 1
        if cur >= 0 and not in_a[cur]:
            in_a[cur] = True
            a_list[n_a] = cur
            n_a += 1
        wp = w_peer[r]
        if record:
            for v in range(V):
                uv = base[g, v] + wp * share[v]
                if v == cur:
                    uv += w_inertia[r]
                U_out[it, v] = uv
        # Z = U/T on A; its largest value
        za = -np.inf
        for i in range(n_a):
            v = a_list[i]
            if masked and not available[g, v]:
                z_a[i] = -np.inf
                continue
            uv = base[g, v] + wp * share[v]
            if v == cur:
                uv += w_inertia[r]
            z_a[i] = uv / temperature
            if z_a[i] > za:
                za = z_a[i]
        offset = zg[g]
        if np.isfinite(za) and abs(za - offset) * inv_bottom > RESCALE:
            # the group's scale would overflow (or lose A to underflow): this row on its own
            # largest Z, every product computed, as the textbook formula does it
            offset = -np.inf
            for v in range(V):
                if not (masked and not available[g, v]):
                    uv = base[g, v] + wp * share[v]
                    if v == cur:
                        uv += w_inertia[r]
                    z = uv / temperature
                    if z > offset:
                        offset = z
                    if not in_a[v]:
                        in_a[v] = True
                        a_list[n_a] = v
                        z_a[n_a] = z
                        n_a += 1
                    else:
                        for i in range(n_a):
                            if a_list[i] == v:
                                z_a[i] = z
        # weights: the group's, and exp((Z − offset)·(1/λ_L)) on A
        for v in range(V):
            E[v] = eg[g, v]
        for i in range(n_a):
            if z_a[i] == -np.inf:
                E[a_list[i]] = 0.0
                continue
            z = z_a[i] - offset
            if inv_bottom != 1.0:
                z *= inv_bottom
            E[a_list[i]] = np.exp(z)
        if nested:
            if not all_one:
                for level in range(L):
                    for k in range(ngroups[level]):
                        aff[level, k] = False
                for i in range(n_a):
                    k = bottom[a_list[i]]
                    aff[L - 1, k] = True
                    for level in range(L - 2, -1, -1):
                        k = parent[level + 1, k]
                        aff[level, k] = True
                _nested_weights(E, V, nest, lams, parent, ngroups, S, T, fac, f, aff, Tg, Fg, f0g, g)
        else:
            tot = numpy_row_sum(E, V)
            if not masked or tot > 0:
                for v in range(V):
                    E[v] = E[v] / tot
            else:
                for v in range(V):
                    E[v] = 0.0
        for i in range(n_a):  # clean the scratch for the next chooser
            v = a_list[i]
            share[v] = 0.0
            in_a[v] = False
        if record:
            for v in range(V):
                P_out[it, v] = E[v]
        # the draw: partial sums left to right, x = (1 − u)·Σ
        total = E[0]
        for v in range(1, V):
            total += E[v]
        k = -1
        if total > 0:
            x = (1.0 - u_choice[r]) * total
            cum = E[0]
            k = 0
            for v in range(1, V):
                if cum < x:
                    k += 1
                cum += E[v]
        picked[it] = k


def choose_rows(rows, group, base, available, masked, u, current, cur_small, w_peer, w_inertia,
                peer_mode, indptr, indices, data, world_share, temperature,
                nested, nest, lams, parent, ngroups, picked, record, U_out, P_out):
    """The product drawn by each chooser ``rows[i]`` into ``picked[i]`` (−1 where none is
    available), with utilities and (unnormalised, for the nested logit) probabilities into
    ``U_out``/``P_out`` when ``record``.

    ``base``/``available``: (groups, V) utilities U0 and availability; ``masked`` False when
    every product is available everywhere; ``current`` each community's product (−1: none) and
    ``cur_small`` the same as a narrow integer (the neighbours' products are gathered from it:
    fewer cache misses); ``w_peer``/``w_inertia`` per community (the peer term is skipped when
    ``peer_mode`` is PEER_NONE); ``nest`` (L, V) nest of each product per level, ``lams`` (L,),
    ``parent`` (L, G) nest one level up of each nest, ``ngroups`` (L,).
    """
    tables = group_tables(base, available, masked, temperature, nested, nest, lams, parent, ngroups)
    _choose(rows, current, cur_small, group, u, base, available, masked, w_peer, w_inertia, peer_mode,
            indptr, indices, data, world_share, temperature, nested, nest, lams, parent, ngroups, *tables,
            picked, record, U_out, P_out)


def step_communities(current, cur_small, nation, group, p, q, optimism, education, world_adopted,
                     revision_rate, u_adopt, u_revise, u_choice, base, available, masked,
                     w_peer, w_inertia, peer_mode, indptr, indices, data, world_share, temperature,
                     nested, nest, lams, parent, ngroups, rows, picked):
    """One month of :meth:`adoptsim.core.populations.CommunityPopulation.step`: who chooses
    (:func:`choosers`), what (:func:`_choose`), both from the state at the start of the month,
    then the new state (:func:`apply_choices`). Returns the number of choosers (``rows``/``picked``
    hold them and their new product)."""
    m = choosers(current, cur_small, nation, group, p, q, optimism, education, world_adopted, revision_rate,
                 u_adopt, u_revise, available, masked, indptr, indices, data, rows)
    V = base.shape[1]
    dummy = np.empty((0, V))
    choose_rows(rows[:m], group, base, available, masked, u_choice, current, cur_small, w_peer, w_inertia,
                peer_mode, indptr, indices, data, world_share, temperature, nested, nest, lams, parent, ngroups,
                picked[:m], False, dummy, dummy)
    apply_choices(rows[:m], picked[:m], current, cur_small, group, available, masked)
    return m


@njit(**_JIT)
def apply_choices(rows, picked, current, cur_small, group, available, masked):
    """The synchronous update: each chooser takes its draw; one that found nothing available
    keeps its product, unless that product is gone (then it has none)."""
    for i in range(rows.size):
        r = rows[i]
        k = picked[i]
        if k < 0:
            cur = current[r]
            k = -1 if (cur >= 0 and masked and not available[group[r], cur]) else cur
            picked[i] = k
        current[r] = k
        cur_small[r] = k


@njit(**_JIT)
def add_at(out, offset, current, weights):
    """``out[offset[i] + current[i]] += weights[i]`` for i in order: ``np.bincount(offset +
    current, weights, minlength=out.size)``, the same sums in the same order."""
    for i in range(current.size):
        out[offset[i] + current[i]] += weights[i]


def nesting_arrays(nesting, V: int):
    """The nested logit's (nest_of, lambdas) as the kernel's arrays: ``nest`` (L, V),
    ``lams`` (L,), ``parent`` (L, G) (row 0 unused) and ``ngroups`` (L,); dummies for the plain
    logit (``nesting`` None)."""
    if nesting is None:
        return (False, np.zeros((1, max(V, 1)), dtype=np.int64), np.ones(1), np.zeros((1, 1), dtype=np.int64),
                np.ones(1, dtype=np.int64))
    nest_of, lambdas = nesting
    L = len(nest_of)
    nest = np.stack([np.asarray(k, dtype=np.int64) for k in nest_of])
    ngroups = np.array([int(k.max()) + 1 for k in nest], dtype=np.int64)
    parent = np.zeros((L, max(int(ngroups.max()), V)), dtype=np.int64)
    for level in range(1, L):
        parent[level, nest[level]] = nest[level - 1]
    return True, nest, np.asarray(lambdas, dtype=np.float64), parent, ngroups
