"""The vectorised populations: all vendors and all communities as numpy arrays.

:class:`VendorPopulation` holds every vendor's state and its monthly dynamics;
:class:`CommunityLayout` the static layout of the communities; :class:`CommunityPopulation`
their choices, one vectorised kernel per month. The Mesa agents of :mod:`adoptsim.core.agents`
are views onto one row of these arrays. Every step updates whole arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import choice, market
from . import vendor_dynamics as vd
from ..errors import AdoptsimError
from ..months import parse_month
from .schema import WEIGHTS, Scenario


# ---- vectorised populations ---------------------------------------------------------------

class VendorPopulation:
    """State of all vendors as arrays, and their monthly dynamics.

    Per month (``Δ = 1/12`` year), for vendor v of origin o (equations and sources in
    :mod:`adoptsim.core.vendor_dynamics` and docs/model.md):

    * chip supply ``supply[o] = min(1, chip_access[o] + domestic[o]·domestic_mult[o])`` and the usable compute
      stock ``K[v] += compute[v]·(G(t) − G(t−1))·compute_mult[o]·supply[o]/supply0[o]`` (the
      ``compute`` metric; ``K[v](0) = compute[v]``); effective compute ``E[v] = K[v]·efficiency[v]``;
    * efficiency: common algorithmic progress, "train smarter" under chip constraint, and
      spillovers toward the best open (fast) and closed (slow) efficiency;
    * capability ceiling ``C*[v] = C_ref + compute_returns·log(E[v]/E_ref)`` (log returns to
      effective compute) and ``C[v] += min(1, capability_growth[v]·Δ)·max(C*[v] − C[v], 0)``;
      the frontier is the best lab and ``open_lag`` the months the best open model trails it;
    * price (when ``price_decline > 0``; 0 freezes it) ``price[v] *= (1 − price_decline)^Δ
      · exp(Δ·price_share_response·(s[v] − 1/K))`` with s[v] its share of adopters and K the
      number of vendors on the market;
    * derivatives of open vendors ``D[v] += derivative_rate·derivative_mult[v]·fine_tunability[v]
      ·license_permissiveness[v]·developers on v / 1000``;
    * strategy switches (off unless a vendor sets a threshold; evaluated from month
      ``switch_after``, effective that month): a closed vendor whose share of adopters falls below
      ``open_below_share`` opens its weights; an open one above ``close_above_share`` closes.
    """

    def __init__(self, scenario: Scenario, index):
        vs = scenario.vendors
        f = lambda name: np.array([getattr(v, name) for v in vs], dtype=np.float64)  # noqa: E731
        self.dyn = scenario.dynamics
        self.base_compute = f("compute")
        self.capability = f("capability")
        self.price = f("price")
        self.efficiency = f("efficiency")
        self.fine_tunability = f("fine_tunability")
        self.permissiveness = f("license_permissiveness")
        self.capability_growth = f("capability_growth")
        self.price_decline = f("price_decline")
        self.derivatives = f("derivatives")
        self.base_open = np.array([v.license == "open" for v in vs])
        self.open_below = np.array([np.nan if v.open_below_share is None else v.open_below_share for v in vs])
        self.close_above = np.array([np.nan if v.close_above_share is None else v.close_above_share for v in vs])
        self.switched = np.zeros(len(vs), dtype=bool)
        self.available_from = np.array(
            [scenario.start_month - 1 if v.available_from is None else parse_month(v.available_from) for v in vs])
        self.origin = index.vendor_origin
        self.is_open = self.base_open.copy()
        self.on_market = self.available_from <= scenario.start_month
        # production function: the largest effective compute at the start can reach the best
        # capability on the market at the start plus frontier_gap
        self.compute = self.base_compute.copy()  # usable compute stock K[v]
        E0 = self.compute * self.efficiency
        self.E_ref = float(E0.max()) if E0.max() > 0 else 1.0
        self.C_ref = float(self.capability[self.on_market].max() if self.on_market.any()
                           else self.capability.max()) + self.dyn.frontier_gap
        supply0 = np.array([min(1.0, n.chip_access + n.domestic_chips) for n in scenario.nations])
        self.supply0 = supply0[self.origin]
        self.closed_best: list[float] = []  # best released closed capability, month by month
        # fixed for the run
        self._price_moving = self.price_decline > 0
        self._price_decay = (1.0 - self.price_decline) ** (1.0 / 12.0)  # monthly listed decline
        self._may_switch = bool(np.isfinite(self.open_below).any() or np.isfinite(self.close_above).any())
        self.open_lag = float("nan")
        self.revenue = np.zeros(len(vs))

    def update_licence(self, world, month: int) -> None:
        base = self.base_open ^ self.switched
        self.is_open = (base | world.open_release) & ~world.close_release
        self.on_market = self.available_from <= month

    def step(self, world, t: int, share_of_adopters: np.ndarray, devs_on: np.ndarray) -> None:
        """Advance one month, given last month's share of adopters and developers per vendor."""
        d, dt = self.dyn, 1.0 / 12.0
        o = self.origin
        supply = world.chip_supply[o]
        self.compute = self.compute + vd.compute_flow(self.base_compute, d.compute_growth, t,
                                                      world.compute_mult[o], supply, self.supply0)
        E = self.compute * self.efficiency  # effective compute
        ceiling = vd.capability_ceiling(E, self.E_ref, self.C_ref, d.compute_returns)
        self.capability = vd.advance_capability(self.capability, ceiling, self.capability_growth, dt)
        released_open = self.is_open & self.on_market
        log_eff = vd.advance_efficiency(np.log(self.efficiency), np.maximum(E, 1e-300), supply, released_open,
                                        d.efficiency_growth, d.train_smarter, d.spillover_open,
                                        d.spillover_closed, dt)
        self.efficiency = np.exp(log_eff)
        k = max(int(self.on_market.sum()), 1)
        response = np.exp(dt * d.price_share_response * (share_of_adopters - 1.0 / k))
        self.price = np.where(self._price_moving, self.price * self._price_decay * response, self.price)
        self.derivatives = self.derivatives + vd.derivative_increment(
            self.is_open, d.derivative_rate, world.derivative_mult, self.fine_tunability, self.permissiveness,
            devs_on)
        if self._may_switch and t >= d.switch_after and share_of_adopters.sum() > 0:
            opens = ~self.is_open & (share_of_adopters < self.open_below)
            closes = self.is_open & (share_of_adopters > self.close_above)
            self.switched |= opens | closes
            self.is_open = ((self.base_open ^ self.switched) | world.open_release) & ~world.close_release

    def record_frontier(self) -> None:
        """After this month's update: append the best released closed capability and set
        ``open_lag`` (months the best released open model trails it; NaN when undefined)."""
        closed = self.on_market & ~self.is_open
        opened = self.on_market & self.is_open
        self.closed_best.append(float(self.capability[closed].max()) if closed.any() else float("nan"))
        open_best = float(self.capability[opened].max()) if opened.any() else float("nan")
        self.open_lag = vd.open_lag_months(self.closed_best, open_best)


@dataclass
class CommunityLayout:
    """Static layout of the communities: nation, sector, size (developers), critical flag."""

    nation: np.ndarray
    sector: np.ndarray
    size: np.ndarray
    critical: np.ndarray

    @classmethod
    def layout(cls, scenario: Scenario, index) -> "CommunityLayout":
        """``per_nation`` communities per nation, split across sectors by largest remainder of
        ``per_nation · share``; each gets an equal part of its nation-sector's developers."""
        shares = np.array([scenario.sectors[s].share for s in index.sectors])
        k = scenario.communities.per_nation
        counts = largest_remainder(shares, k)
        devs = np.array([n.developers for n in scenario.nations])
        N, S = len(devs), len(shares)
        per_group = np.tile(counts, N)  # (N*S,)
        nation = np.repeat(np.repeat(np.arange(N), S), per_group)
        sector = np.repeat(np.tile(np.arange(S), N), per_group)
        group_devs = (devs[:, None] * shares[None, :]).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            size_per = np.where(per_group > 0, group_devs / np.maximum(per_group, 1), 0.0)
        size = np.repeat(size_per, per_group)
        crit = np.array([scenario.sector_is_critical(s) for s in index.sectors])
        return cls(nation=nation, sector=sector, size=size, critical=crit[sector])


def largest_remainder(shares: np.ndarray, k: int) -> np.ndarray:
    """Integer counts summing to k, proportional to shares, at least 1 per positive share when possible."""
    raw = shares * k
    counts = np.floor(raw).astype(np.int64)
    pos = shares > 0
    if k >= pos.sum():
        counts = np.where(pos & (counts == 0), 1, counts)
    while counts.sum() > k:
        i = int(np.argmax(np.where(counts > 1, counts - raw, -np.inf)))
        counts[i] -= 1
    rem = raw - counts
    while counts.sum() < k:
        i = int(np.argmax(rem))
        counts[i] += 1
        rem[i] = -np.inf
    return counts


#: which community kernel new populations use unless told: "fused" (the numba kernel of
#: :mod:`adoptsim.core.kernel`), "numpy" (the reference path of this module) or "auto". Both give
#: the same choices (tests/core/test_kernel.py; docs/model.md, "Numerics"). "auto" spares a
#: single small run numba's fixed start-up (~0.8 s per process: importing it and loading the
#: compiled kernel from its cache): it takes the fused kernel from FUSED_FROM communities on, and
#: for any size once this process has run SWITCH_AFTER community-months on the numpy path — a
#: sweep or ensemble worker, the app, a calibration: the start-up is then repaid within a few
#: runs (the numpy path costs ~0.75 µs more per community-month on the baseline). Set from
#: ``ADOPTSIM_KERNEL``.
KERNEL = os.environ.get("ADOPTSIM_KERNEL", "auto").strip().lower()
FUSED_FROM = 200_000
SWITCH_AFTER = 1_000_000
_numpy_work = 0  # community-months this process has run on the numpy path


def fused_default(n: int) -> bool:
    """Whether a population of ``n`` communities uses the fused kernel under :data:`KERNEL`."""
    if KERNEL not in ("auto", "fused", "numpy"):
        raise AdoptsimError(f"environment: ADOPTSIM_KERNEL: expected auto, fused or numpy, got {KERNEL!r}")
    return KERNEL == "fused" or (KERNEL == "auto" and (n >= FUSED_FROM or _numpy_work >= SWITCH_AFTER))


class CommunityPopulation:
    """Choices of all communities, one vectorised kernel per month (see :mod:`adoptsim.core.choice`).

    Each month, from the state at the start of the month (synchronous update):

    1. a non-adopter adopts with the Bass probability of :func:`choice.first_adoption_probability`;
    2. an adopter reconsiders with probability ``revision_rate``; an adopter whose model became
       unavailable (a ban, a refusal) must choose again;
    3. every community that adopts or reconsiders draws a vendor from the multinomial logit
       :func:`choice.logit_probabilities` over the vendors available to it;
       one that finds none available keeps its state, except that a community whose model is
       no longer available becomes a non-adopter.

    Each draw uses its own named random stream with one uniform per community per month, so a
    scenario and a variant share random numbers wherever their rules agree.
    """

    def __init__(self, layout: CommunityLayout, W: sp.csr_matrix | None, n_vendors: int,
                 scenario: Scenario, index, fused: bool | None = None):
        self.layout = layout
        self.nation, self.sector, self.size = layout.nation, layout.sector, layout.size
        self.n, self.V = len(self.size), n_vendors
        self.S = len(index.sectors)
        self.group = self.nation * self.S + self.sector
        self.W = W
        self.current = np.full(self.n, -1, dtype=np.int64)
        self._devs_offset = self.nation * (n_vendors + 1) + 1  # developers_by: nation·(V+1) + current + 1
        self._crit_rows = np.flatnonzero(layout.critical)
        self._crit_offset, self._crit_size = self._devs_offset[self._crit_rows], self.size[self._crit_rows]
        self.total_size = float(self.size.sum())
        self.adoption = scenario.adoption
        self.temperature = scenario.choice.temperature
        mult = lambda w: np.array([getattr(scenario.sectors[s], w) for s in index.sectors])  # noqa: E731
        self.weights = {w: getattr(scenario.choice, w) * mult(w) for w in WEIGHTS}
        self.w_peer_c = self.weights["peer"][self.sector]
        self.w_inertia_c = self.weights["inertia"][self.sector]
        self.uses_peer = bool(np.any(self.weights["peer"] != 0))
        self.nesting = None  # (nest_of, lambdas) of the nested logit, set by the model each month
        self._group_offset = self.group * (n_vendors + 1) + 1
        # the fused numba kernel (adoptsim.core.kernel) or the numpy reference below; both give
        # the same numbers (tests/core/test_kernel.py)
        self.fused = fused_default(self.n) if fused is None else bool(fused)
        self._kernel = None  # the kernel module and its preallocated outputs, on first use
        if self.fused:
            self._load_kernel()

    # -- neighbourhood -------------------------------------------------------------------
    def neighbour_adopted(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Size-weighted share of the neighbours that have adopted, for all communities or ``rows``."""
        if self.fused and self.W is not None and rows is not None:
            out = np.empty(rows.size)
            W = self.W
            self._kernel.neighbour_adopted_rows(W.indptr, W.indices, W.data, self._small_current(), rows, out)
            return out
        adopted = (self.current >= 0).astype(np.float64)
        m = self.n if rows is None else rows.size
        if self.W is None:
            return np.full(m, float(self.size @ adopted) / self.total_size)
        if rows is None:
            return self.W @ adopted
        # the same row sums as W @ adopted, on fewer rows when that pays (slicing costs about a
        # matvec on half the rows, plus a fixed overhead that dominates on small networks)
        if 2 * rows.size < self.n and self.n >= 20_000:
            return self.W[rows] @ adopted
        return (self.W @ adopted)[rows]

    def neighbour_share(self, rows: np.ndarray) -> np.ndarray:
        """Size-weighted share of each chooser's neighbours on each vendor, shape (m, V)."""
        if not self.uses_peer or rows.size == 0:
            return np.zeros((rows.size, self.V))
        if self.W is None:
            has = self.current >= 0
            world = np.bincount(self.current[has], weights=self.size[has], minlength=self.V) / self.total_size
            return np.broadcast_to(world, (rows.size, self.V))
        # Σ_k W[c,k]·[current[k] = v], summed in the order of W's entries (as W[rows] @ onehot
        # would), by one weighted bincount over the choosers' entries; non-adopting neighbours
        # add exactly 0.0
        Wr = self.W[rows]
        cur = self.current[Wr.indices]
        flat = np.repeat(np.arange(0, rows.size * self.V, self.V), np.diff(Wr.indptr))
        flat += cur
        np.maximum(flat, 0, out=flat)
        w = np.where(cur >= 0, Wr.data, 0.0)
        return np.bincount(flat, weights=w, minlength=rows.size * self.V).reshape(rows.size, self.V)

    # -- choices -------------------------------------------------------------------------
    def choose(self, rows: np.ndarray, base: np.ndarray, available: np.ndarray, u: np.ndarray,
               use_peer: bool = True) -> np.ndarray:
        """Vendor drawn by each of ``rows`` (−1 where none is available)."""
        if self.fused:
            return self.choose_fused(rows, base, available, u, use_peer)
        return self.choose_reference(rows, base, available, u, use_peer)[0]

    def choose_fused(self, rows, base, available, u, use_peer: bool = True, record: bool = False):
        """:meth:`choose` by the fused kernel; with ``record`` also returns the utilities and
        the (for the nested logit, unnormalised) probabilities, each (m, V)."""
        k = self._load_kernel()
        m, V = rows.size, self.V
        picked = np.empty(m, dtype=np.int64)
        U_out = np.empty((m if record else 0, V))
        P_out = np.empty((m if record else 0, V))
        args = self._kernel_args(base, available, use_peer)
        k.choose_rows(rows, self.group, args[0], args[1], args[2], u, self.current, self._small_current(),
                      self.w_peer_c, self.w_inertia_c, *args[3:], picked, record, U_out, P_out)
        return (picked, U_out, P_out) if record else picked

    def _kernel_args(self, base, available, use_peer: bool) -> tuple:
        """The kernel's arguments from base (U0) to the nesting: base, available, masked,
        peer_mode, indptr, indices, data, world_share, temperature, nested, nest, lams,
        parent, ngroups."""
        k, V, W = self._kernel, self.V, self.W
        base2 = np.ascontiguousarray(base.reshape(-1, V), dtype=np.float64)
        avail2 = np.ascontiguousarray(available.reshape(-1, V))
        masked = not bool(avail2.all())
        peer, world = k.PEER_NONE, self._zeros_v
        if use_peer and self.uses_peer:
            if W is None:
                peer = k.PEER_WORLD
                has = self.current >= 0
                world = np.bincount(self.current[has], weights=self.size[has], minlength=V) / self.total_size
            else:
                peer = k.PEER_CSR
        indptr, indices, data = (self._no_edges if W is None else (W.indptr, W.indices, W.data))
        return (base2, avail2, masked, peer, indptr, indices, data, world, float(self.temperature),
                *self._nesting_for_kernel())

    def _small_current(self) -> np.ndarray:
        """``current`` as the narrowest integer that holds it, refreshed (the kernel gathers
        neighbours' products from it: 1 byte instead of 8 per random access)."""
        np.copyto(self._cur_small, self.current, casting="unsafe")
        return self._cur_small

    def step_fused(self, base, available, optimism, education, u_adopt, u_revise, u_choice) -> None:
        """:meth:`step` by the fused kernel (two passes over the communities)."""
        k, a = self._load_kernel(), self.adoption
        world_adopted = 0.0
        if self.W is None:
            world_adopted = float(self.size @ (self.current >= 0).astype(np.float64)) / self.total_size
        args = self._kernel_args(base, available, True)
        k.step_communities(self.current, self._small_current(), self.nation, self.group, float(a.p), float(a.q),
                           np.ascontiguousarray(optimism, dtype=np.float64),
                           np.ascontiguousarray(education, dtype=np.float64), world_adopted,
                           float(a.revision_rate), u_adopt, u_revise, u_choice, args[0], args[1], args[2],
                           self.w_peer_c, self.w_inertia_c, *args[3:], self._rows, self._picked)

    def _load_kernel(self):
        if self._kernel is None:
            from . import kernel  # imports numba: only when the fused path is used
            self._kernel = kernel
            # preallocated: the month's choosers and their products, current as a narrow integer
            self._rows = np.empty(self.n, dtype=np.int64)
            self._picked = np.empty(self.n, dtype=np.int64)
            narrow = np.int8 if self.V < 127 else np.int16 if self.V < 32767 else np.int64
            self._cur_small = np.empty(self.n, dtype=narrow)
            self._zeros_v = np.zeros(self.V)
            self._no_edges = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0))
            self._nesting_key = self._nesting_arrays = self._nesting_src = None
        return self._kernel

    def _nesting_for_kernel(self):
        nesting = self.nesting
        if self._nesting_arrays is not None and nesting is self._nesting_src:  # the market's, unchanged
            return self._nesting_arrays
        key = None if nesting is None else (tuple(tuple(k) for k in nesting[0]), tuple(nesting[1]))
        if self._nesting_arrays is None or key != self._nesting_key:
            self._nesting_key, self._nesting_arrays = key, self._kernel.nesting_arrays(nesting, self.V)
        self._nesting_src = nesting
        return self._nesting_arrays

    def choose_reference(self, rows, base, available, u, use_peer: bool = True):
        """:meth:`choose` by the numpy reference path: (choices, utilities, probabilities — for
        the nested logit unnormalised)."""
        g = self.group[rows]
        Ug = base.reshape(-1, self.V)[g]
        share = self.neighbour_share(rows) if use_peer else np.zeros_like(Ug)
        U = choice.utilities(Ug, share, self.current[rows], self.w_peer_c[rows], self.w_inertia_c[rows])
        avail = available.reshape(-1, self.V)[g]
        if self.nesting is None:
            P = choice.logit_probabilities(U, avail, self.temperature)
        else:
            P = market.nested_logit_probabilities(U, avail, self.temperature, *self.nesting, normalise=False)
        return choice.sample_choices(P, u[rows]), U, P

    def initialise(self, base, available, rng_init, rng_choice) -> None:
        """Adopters at the start: a share ``adoption.initial`` of communities, choosing without peers."""
        if self.adoption.initial <= 0:
            return
        u = rng_init.random(self.n)
        rows = np.flatnonzero(u < self.adoption.initial)
        self.current[rows] = self.choose(rows, base, available, rng_choice.random(self.n), use_peer=False)

    def step(self, base: np.ndarray, available: np.ndarray, optimism: np.ndarray, education: np.ndarray,
             u_adopt: np.ndarray, u_revise: np.ndarray, u_choice: np.ndarray) -> None:
        if self.fused:
            return self.step_fused(base, available, optimism, education, u_adopt, u_revise, u_choice)
        global _numpy_work
        _numpy_work += self.n
        a = self.adoption
        adopted = self.current >= 0
        # first adoption: the probability is needed for non-adopters only
        na = np.flatnonzero(~adopted)
        nat = self.nation[na]
        prob = choice.first_adoption_probability(a.p, a.q, optimism[nat], education[nat], self.neighbour_adopted(na))
        new = np.zeros(self.n, dtype=bool)
        new[na] = u_adopt[na] < prob
        revise = adopted & (u_revise < a.revision_rate)
        avail_flat = available.reshape(-1, self.V)
        lost = np.zeros(self.n, dtype=bool)
        if not avail_flat.all():
            lost[adopted] = ~avail_flat[self.group[adopted], self.current[adopted]]
        rows = np.flatnonzero(new | revise | lost)
        if rows.size == 0:
            return
        picked = self.choose(rows, base, available, u_choice)
        keep = picked < 0
        # no vendor available: keep the current state, but a community whose model is gone drops it
        picked = np.where(keep, np.where(lost[rows], -1, self.current[rows]), picked)
        self.current[rows] = picked

    def developers_by_group(self, n_nations: int) -> np.ndarray:
        """Developers per nation, sector and model, shape (N, S, V+1); column 0 counts non-adopters."""
        shape = (n_nations, self.S, self.V + 1)
        if self.fused:  # the same sums in the same order as bincount's, without the (n,) index array
            out = np.zeros(shape)
            self._kernel.add_at(out.reshape(-1), self._group_offset, self.current, self.size)
            return out
        flat = self._group_offset + self.current
        return np.bincount(flat, weights=self.size, minlength=int(np.prod(shape))).reshape(shape)

    def developers_by(self, n_nations: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Developers per nation and model, shape (N, V+1); column 0 counts non-adopters."""
        if mask is None:
            flat = self._devs_offset + self.current
            size = self.size
        elif mask is self.layout.critical:  # every month's metrics: the gathers are precomputed
            flat = self._crit_offset + self.current[self._crit_rows]
            size = self._crit_size
        else:
            flat = self._devs_offset[mask] + self.current[mask]
            size = self.size[mask]
        return np.bincount(flat, weights=size, minlength=n_nations * (self.V + 1)).reshape(n_nations, self.V + 1)
