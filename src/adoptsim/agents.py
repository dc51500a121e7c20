"""Nation, Vendor and Community agents.

The three agent classes are Mesa agents, so a model can be inspected agent by agent
(``model.agents_by_type[Community]``), but their state lives in numpy arrays owned by the
vectorised populations :class:`VendorPopulation` and :class:`CommunityPopulation`; the
agent objects are views onto one row of those arrays. Every step updates whole arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np
import scipy.sparse as sp

from . import choice, market
from .months import parse_month
from .scenario import WEIGHTS, Scenario


# ---- Mesa agents (views) ------------------------------------------------------------------

class _ScenarioAgent(mesa.Agent):
    """An agent made from one scenario entry (``spec``), at position ``index`` of the arrays."""

    def __init__(self, model, index: int, spec):
        super().__init__(model)
        self.index = index
        self.spec = spec

    @property
    def id(self) -> str:
        return self.spec.id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.id})"


class Nation(_ScenarioAgent):
    """A nation or bloc; its parameters come from the scenario, policies modify them monthly."""

    @property
    def chip_access(self) -> float:
        return float(self.model.world.chip_access[self.index])


class Vendor(_ScenarioAgent):
    """A model vendor; capability, price, licence and derivatives evolve each month."""

    @property
    def capability(self) -> float:
        return float(self.model.vendors.capability[self.index])

    @property
    def price(self) -> float:
        """Price of the vendor's flagship product (products 0..V−1 are the flagships)."""
        return float(self.model.market.price[self.index])

    @property
    def is_open(self) -> bool:
        return bool(self.model.vendors.is_open[self.index])

    @property
    def derivatives(self) -> float:
        return float(self.model.vendors.derivatives[self.index])


class Community(mesa.Agent):
    """A developer community in one nation and sector; a view on row ``index`` of the arrays."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def nation(self) -> str:
        return self.model.index.nations[self.model.communities.nation[self.index]]

    @property
    def sector(self) -> str:
        return self.model.index.sectors[self.model.communities.sector[self.index]]

    @property
    def size(self) -> float:
        return float(self.model.communities.size[self.index])

    @property
    def current_model(self) -> str | None:
        v = self.model.communities.current[self.index]
        return None if v < 0 else self.model.market.table.ids[v]

    def __repr__(self) -> str:
        return f"Community({self.index}, {self.nation}/{self.sector}, {self.current_model})"


# ---- vectorised populations ---------------------------------------------------------------

class VendorPopulation:
    """State of all vendors as arrays, and their monthly dynamics.

    Per month (``Δ = 1/12`` year), for vendor v of origin o:

    * usable compute ``K[v] = compute[v]·(1 + compute_growth)^(t/12)·compute_mult[o]·chip_access[o]``
      (the ``compute`` metric) and effective compute ``E[v] = K[v]·efficiency[v]``;
    * frontier ``F(t) = max_v capability[v](0) + frontier_gap + frontier_growth·t/12``;
    * attainable capability ``C*[v] = F(t) − compute_gap·log(max_u E[u] / E[v])``: the
      best-resourced vendor can reach the frontier, and each e-fold of effective compute below it
      costs ``compute_gap`` points (diminishing returns: logarithmic in compute), so a chip ban
      lowers a vendor's ceiling and efficiency gains win it back;
    * capability ``C[v] += min(1, capability_growth[v]·Δ)·max(C*[v] − C[v], 0)`` — vendors close
      a share of their gap to that moving ceiling each month and never lose capability;
    * efficiency ``eff[v] *= exp(Δ·(efficiency_growth + train_smarter·(1 − chip_access[o])
      ·(1 − E[v]/max_u E[u])))``: chip-constrained vendors train smarter, the more so the further
      their effective compute is below the leader's (the push fades as they catch up);
    * price (when ``price_decline > 0``; 0 freezes it) ``price[v] *= (1 − price_decline)^Δ
      · exp(Δ·price_share_response·(s[v] − 1/K))`` with s[v] its share of adopters and K the
      number of vendors on the market;
    * derivatives of open vendors ``D[v] += derivative_rate·derivative_mult[v]·developers on v / 1000``;
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
        self.frontier0 = float(self.capability.max()) + self.dyn.frontier_gap
        self.is_open = self.base_open.copy()
        self.on_market = np.ones(len(vs), dtype=bool)
        self.compute = np.zeros(len(vs))
        self.revenue = np.zeros(len(vs))

    def update_licence(self, world, month: int) -> None:
        base = self.base_open ^ self.switched
        self.is_open = (base | world.open_release) & ~world.close_release
        self.on_market = self.available_from <= month

    def step(self, world, t: int, share_of_adopters: np.ndarray, devs_on: np.ndarray) -> None:
        """Advance one month, given last month's share of adopters and developers per vendor."""
        d, dt = self.dyn, 1.0 / 12.0
        o = self.origin
        access = world.chip_access[o]
        compute = self.base_compute * (1.0 + d.compute_growth) ** (t * dt) * world.compute_mult[o]
        self.compute = compute * access  # physical compute the vendor can use
        E = self.compute * self.efficiency  # effective compute
        frontier = self.frontier0 + d.frontier_growth * t * dt
        E = np.maximum(E, 1e-300)  # a vendor with no compute at all sits infinitely far below
        ceiling = frontier - d.compute_gap * np.log(E.max() / E)
        rate = np.minimum(1.0, self.capability_growth * dt)
        self.capability = self.capability + rate * np.maximum(ceiling - self.capability, 0.0)
        behind = 1.0 - E / E.max()  # how far below the best-resourced vendor, 0..1
        self.efficiency = self.efficiency * np.exp(
            dt * (d.efficiency_growth + d.train_smarter * (1.0 - access) * behind))
        k = max(int(self.on_market.sum()), 1)
        moving = self.price_decline > 0
        response = np.exp(dt * d.price_share_response * (share_of_adopters - 1.0 / k))
        self.price = np.where(moving, self.price * (1.0 - self.price_decline) ** dt * response, self.price)
        self.derivatives = self.derivatives + np.where(
            self.is_open, d.derivative_rate * world.derivative_mult * devs_on / 1000.0, 0.0)
        if t >= d.switch_after and share_of_adopters.sum() > 0:
            opens = ~self.is_open & (share_of_adopters < self.open_below)
            closes = self.is_open & (share_of_adopters > self.close_above)
            self.switched |= opens | closes
            self.is_open = ((self.base_open ^ self.switched) | world.open_release) & ~world.close_release


@dataclass
class Communities:
    """Static layout of the communities: nation, sector, size (developers), critical flag."""

    nation: np.ndarray
    sector: np.ndarray
    size: np.ndarray
    critical: np.ndarray

    @classmethod
    def layout(cls, scenario: Scenario, index) -> "Communities":
        """``per_nation`` communities per nation, split across sectors by largest remainder of
        ``per_nation · share``; each gets an equal part of its nation-sector's developers."""
        shares = np.array([scenario.sectors[s].share for s in index.sectors])
        k = scenario.communities.per_nation
        counts = _largest_remainder(shares, k)
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


def _largest_remainder(shares: np.ndarray, k: int) -> np.ndarray:
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


class CommunityPopulation:
    """Choices of all communities, one vectorised kernel per month (see :mod:`adoptsim.choice`).

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

    def __init__(self, layout: Communities, W: sp.csr_matrix | None, n_vendors: int,
                 scenario: Scenario, index):
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

    # -- neighbourhood -------------------------------------------------------------------
    def _onehot(self) -> sp.csr_matrix:
        has = self.current >= 0
        rows = np.flatnonzero(has)
        return sp.csr_matrix((np.ones(rows.size), (rows, self.current[rows])), shape=(self.n, self.V))

    def neighbour_adopted(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Size-weighted share of the neighbours that have adopted, for all communities or ``rows``."""
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
        g = self.group[rows]
        Ug = base.reshape(-1, self.V)[g]
        share = self.neighbour_share(rows) if use_peer else np.zeros_like(Ug)
        U = choice.utilities(Ug, share, self.current[rows], self.w_peer_c[rows], self.w_inertia_c[rows])
        avail = available.reshape(-1, self.V)[g]
        if self.nesting is None:
            P = choice.logit_probabilities(U, avail, self.temperature)
        else:
            P = market.nested_logit_probabilities(U, avail, self.temperature, *self.nesting, normalise=False)
        return choice.sample_choices(P, u[rows])

    def initialise(self, base, available, rng_init, rng_choice) -> None:
        """Adopters at the start: a share ``adoption.initial`` of communities, choosing without peers."""
        if self.adoption.initial <= 0:
            return
        u = rng_init.random(self.n)
        rows = np.flatnonzero(u < self.adoption.initial)
        self.current[rows] = self.choose(rows, base, available, rng_choice.random(self.n), use_peer=False)

    def step(self, base: np.ndarray, available: np.ndarray, optimism: np.ndarray, education: np.ndarray,
             u_adopt: np.ndarray, u_revise: np.ndarray, u_choice: np.ndarray) -> None:
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
        flat = self._group_offset + self.current
        return np.bincount(flat, weights=self.size, minlength=n_nations * self.S * (self.V + 1)).reshape(
            n_nations, self.S, self.V + 1)

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
