"""The market communities choose from: products, hosts, self-hosting, prices and the nested logit.

Everything here is vectorised numpy over communities (or over nations × sectors × products);
no function loops over communities. Notation: ``n`` nation, ``s`` sector, ``p`` product,
``v(p)`` its vendor, ``o(p)`` the vendor's origin, ``h`` a hosting origin (a nation) or
``self``, ``Δ = 1/12`` year, ``t`` months since the start.

**Products.** A vendor offers its flagship (the vendor's own ``license``, ``price``,
``price_decline``) and optional further products (``[[vendors.products]]``: a cheap tier, an
open release), each with its own price, price decline, licence, availability and
``capability_offset``: ``capability[p] = capability[v(p)] + offset[p]``. Communities choose
products; a vendor's share is the sum of its products'. A vendor that may close its weights (a
``license_change`` to closed, a ``close_above_share`` threshold, a temporary opening) also gets
a *frozen open release* ``VENDOR.open_release``: when the vendor closes, the weights it had
released stay downloadable, as an open product frozen at the capability of the vendor's last
open month, priced from the flagship's price at that month; new capability goes to the (now
closed) flagship. A vendor that opens releases its current model: the flagship turns open.

**Prices** (per product, each month after the first; off while ``price_decline = 0`` and
``price_share_response = 0``)::

    price[p] *= (1 − price_decline[p])^Δ · exp(−Δ · price_share_response · (1 − s[v(p)] / peak[v(p)]))

``s[v]`` is the vendor's share of adopters last month and ``peak[v]`` the highest share it has
had so far (the term is 0 while it has had none): a vendor that has lost share cuts the prices
of all its products, by up to ``price_share_response`` log units a year once its share is near
zero, on top of their listed declines; one at its peak keeps the listed path (list prices of
leading products did not rise: GPT-4o and GPT-5 both $10 [facts]). The cut answers share loss,
so a price war can happen and the open/closed price ratio is not fixed.

**Self-hosting** (the cost of running open weights on one's own hardware, USD per M tokens)::

    self_host[n,t] = self_host_cost · (1 − hardware_cost_decline)^(t/12) · exp(self_host_penalty · (1 − chip_supply[n]))

It falls with the price of hardware and rises as a nation's access to frontier accelerators
falls (export controls), whether or not the nation builds models.

**Hosts.** A closed product is served only by its vendor's cloud (host ``o(p)``). An open
product can be used through any cloud present in the nation (presence ``infrastructure[n,h]``;
the vendor's own API is one of them) at the product's hosted price, or self-hosted at
``self_host[n]`` with presence ``self_host_infrastructure``; a sector with
``requires_self_host`` (data residency) may use only self-hosted open weights. Each
nation, sector and product is used through its best host::

    H[n,s,p] = max_h ( −w_cost[s]·log price[n,p,h] + w_infrastructure[s]·presence[n,h] )

(so for an open product the best cloud is the one with the largest presence, whatever the
model's origin) and ``H`` replaces the cost and infrastructure terms of the utility.

**Nested logit** (McFadden 1978; Train, *Discrete Choice Methods with Simulation*, 2009, ch. 4).
Products are grouped in nests by origin, by licence, or by origin and then licence within
origin (two levels), with one dissimilarity parameter ``λ_l`` in (0, 1] per level. With
``V_j = U_j / T``, for a one-level tree with nests ``k``::

    I_k     = log Σ_{j ∈ k} exp(V_j / λ)                       (inclusive value)
    P(j|k)  = exp(V_j / λ) / exp(I_k)
    P(k)    = exp(λ·I_k) / Σ_l exp(λ·I_l)
    P(j)    = P(j|k) · P(k)

and for two levels (origin ``g`` above licence nests ``k``, ``λ_2 ≤ λ_1``)::

    I_k = log Σ_{j∈k} exp(V_j/λ_2),  J_g = log Σ_{k∈g} exp(λ_2·I_k/λ_1)
    P(j) = exp(V_j/λ_2)/exp(I_k) · exp(λ_2·I_k/λ_1)/exp(J_g) · exp(λ_1·J_g)/Σ_h exp(λ_1·J_h)

With every ``λ = 1`` this is the multinomial logit ``exp(V_j)/Σ exp(V)``. A nest of ``c``
identical products of utility ``V`` has inclusive value ``V/λ + log c``, so it weighs
``c^λ·exp(V)``: splitting a product into two clones multiplies its nest's weight by ``2^λ``
(doubling it under the plain logit, almost nothing for small ``λ``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .choice import column_max
from ..months import parse_month

SELF = "self"
FLAGSHIP, EXTRA, FROZEN = 0, 1, 2


# ---- products ----------------------------------------------------------------------------

def closable_vendors(scenario) -> set[str]:
    """Vendors that may close their weights during a run: open ones named by a ``license_change``
    to closed or with a ``close_above_share`` threshold, and closed ones that a policy opens
    (``license_change`` to open, ``open_source_push.releases``), which may close again when it ends."""
    out = {v.id for v in scenario.vendors if v.close_above_share is not None}
    for p in scenario.policies:
        if p.type == "license_change":
            out |= set(p.vendors)
        elif p.type == "open_source_push":
            out |= set(p.releases)
    return out


@dataclass
class ProductTable:
    """Static description of the products, shape (P,) each."""

    ids: tuple[str, ...]  # metric keys: the flagship is keyed by the vendor id, others "vendor.product"
    vendor: np.ndarray  # vendor index
    kind: np.ndarray  # FLAGSHIP, EXTRA or FROZEN
    fixed_open: np.ndarray  # licence of EXTRA products (FROZEN: True)
    price0: np.ndarray
    decline: np.ndarray
    offset: np.ndarray
    available_from: np.ndarray  # first month on the market (FLAGSHIP/EXTRA)

    @classmethod
    def build(cls, scenario) -> "ProductTable":
        ids, vendor, kind, fixed_open, price0, decline, offset, avail = [], [], [], [], [], [], [], []
        closable = closable_vendors(scenario)
        start = scenario.start_month - 1
        extras = []
        for i, v in enumerate(scenario.vendors):
            v_from = start if v.available_from is None else parse_month(v.available_from)
            ids.append(v.id), vendor.append(i), kind.append(FLAGSHIP), fixed_open.append(v.license == "open")
            price0.append(v.price), decline.append(v.price_decline), offset.append(0.0), avail.append(v_from)
            for p in v.products:
                extras.append((f"{v.id}.{p.id}", i, EXTRA, (p.license or v.license) == "open", p.price,
                               v.price_decline if p.price_decline is None else p.price_decline,
                               p.capability_offset,
                               v_from if p.available_from is None else parse_month(p.available_from)))
            if v.id in closable:
                extras.append((f"{v.id}.open_release", i, FROZEN, True, v.price, v.price_decline, 0.0, v_from))
        for e in extras:
            for lst, x in zip((ids, vendor, kind, fixed_open, price0, decline, offset, avail), e):
                lst.append(x)
        return cls(ids=tuple(ids), vendor=np.array(vendor, dtype=np.int64), kind=np.array(kind),
                   fixed_open=np.array(fixed_open, dtype=bool), price0=np.array(price0, dtype=np.float64),
                   decline=np.array(decline, dtype=np.float64), offset=np.array(offset, dtype=np.float64),
                   available_from=np.array(avail, dtype=np.int64))


class Market:
    """Products' state (licence, capability, price, availability) and the nations' view of it."""

    def __init__(self, scenario, index):
        self.table = t = ProductTable.build(scenario)
        self.P = len(t.ids)
        self.V = len(index.vendors)
        self.origin = index.vendor_origin[t.vendor]  # (P,) origin nation of each product
        self.price = t.price0.copy()
        self.is_open = t.fixed_open.copy()
        self.on_market = np.zeros(self.P, dtype=bool)
        self.capability = np.zeros(self.P)
        self.frozen = np.zeros(self.P, dtype=bool)  # FROZEN slots that have been released
        self.frozen_cap = np.zeros(self.P)
        self.frozen_slot = {int(t.vendor[p]): p for p in np.flatnonzero(t.kind == FROZEN)}
        self._last_open_v = None  # vendors' licence and capability at the last update
        self._last_cap_v = None
        ch = scenario.choice
        self.resp = scenario.dynamics.price_share_response
        self.moving = (t.decline > 0) | (self.resp != 0)
        self._decay = (1.0 - t.decline) ** (1.0 / 12.0)  # monthly listed decline of each product
        self.peak = np.zeros(len(index.vendors))  # highest share of adopters each vendor has had
        self.to_vendor = np.zeros((self.P, self.V))  # (P, V) one-hot: aggregates products to vendors
        self.to_vendor[np.arange(self.P), t.vendor] = 1.0
        self.nests, self.lambdas = ch.nests, ch.nest_lambdas()
        self.self_infra = ch.self_host_infrastructure
        self.requires_self = np.array([scenario.sectors[s].requires_self_host for s in index.sectors])
        self.N = len(index.nations)
        # fixed for the run (issue 17: the monthly nations' phase recomputes only what changes)
        self._flagship, self._frozen_kind = t.kind == FLAGSHIP, t.kind == FROZEN
        self._not_flagship = ~self._flagship
        self._terms: NationTerms | None = None  # set by use_nations()
        self._licence_views: dict[bytes, LicenceView] = {}
        self._memo: dict[str, tuple[tuple, object]] = {}  # see _reuse

    def use_nations(self, weights: dict, gdp: np.ndarray, sovereignty: np.ndarray) -> None:
        """The sectors' utility weights and the nations' fixed arrays, once per model, before
        :meth:`hosting` and :meth:`product_utility`."""
        self._terms = NationTerms.build(weights, gdp, sovereignty, self.self_infra, self.requires_self)
        self._licence_views.clear()

    def _reuse(self, name: str, key: tuple, make):
        """``make()``, or its value from the last call with the same ``key``: the same objects
        (a month's world state shares the arrays no policy changed with last month's, and the
        licence view is one object per licence pattern) or equal bytes."""
        hit = self._memo.get(name)
        if hit is not None and all(a is b or (type(a) is bytes and a == b) for a, b in zip(hit[0], key)):
            return hit[1]
        value = make()
        self._memo[name] = (key, value)
        return value

    def licence_view(self) -> "LicenceView":
        """What depends only on this month's licences (cached per licence pattern: it changes in
        a handful of months of a run)."""
        key = self.is_open.tobytes()
        view = self._licence_views.get(key)
        if view is None:
            if len(self._licence_views) >= 64:  # a run with many licence switches: stay small
                self._licence_views.clear()
            view = self._licence_views[key] = LicenceView.build(self, self._terms)
        return view

    # -- licences, capability, availability --------------------------------------------------
    def update(self, vendors, month: int) -> None:
        """This month's licence, capability and availability of every product, from the vendors'.

        A FROZEN slot is released in the first month its vendor is closed after having been open;
        it keeps the capability of the vendor's last open month."""
        t = self.table
        v_open, v_cap = vendors.is_open, vendors.capability
        if self.frozen_slot:
            if self._last_open_v is not None:
                for v, p in self.frozen_slot.items():  # a handful of vendors at most
                    if not self.frozen[p] and self._last_open_v[v] and not v_open[v]:
                        self.frozen[p] = True
                        self.frozen_cap[p] = self._last_cap_v[v]
                        self.price[p] = self.price[np.flatnonzero((t.vendor == v) & (t.kind == FLAGSHIP))[0]]
            self._last_open_v, self._last_cap_v = v_open.copy(), v_cap.copy()
        self.is_open = np.where(self._flagship, v_open[t.vendor], t.fixed_open)
        self.capability = np.where(self.frozen, self.frozen_cap, v_cap[t.vendor] + t.offset)
        self.on_market = np.where(self._frozen_kind, self.frozen,
                                  (t.available_from <= month) & (self._not_flagship | vendors.on_market[t.vendor]))

    def step_prices(self, share_v: np.ndarray) -> None:
        """One month of prices (see the module docstring), from last month's vendor shares."""
        dt = 1.0 / 12.0
        self.peak = np.maximum(self.peak, share_v)
        loss = np.divide(self.peak - share_v, self.peak, out=np.zeros_like(share_v), where=self.peak > 0)
        factor = self._decay * np.exp(-dt * self.resp * loss[self.table.vendor])
        self.price = np.where(self.moving, self.price * factor, self.price)

    # -- the nations' view -------------------------------------------------------------------
    def hosting(self, world, self_host: np.ndarray):
        """Best host of every nation, sector and product, and its utility term.

        Returns ``(H, host, hosted)``: ``H[n,s,p]`` the cost + infrastructure term of the best
        allowed host, ``host[n,s,p]`` its index (a nation, or ``N`` for self), ``hosted[n,p]``
        the hosted price. (Which sectors may use a product at all — data residency — is in
        :meth:`availability`.)

        What depends only on the world state's policy fields and the licences (the clouds
        present, the price factors) is reused while they do not change."""
        N, k, lic = self.N, self._terms, self.licence_view()
        price_mult, open_mult = self._reuse("price factors", (world.price_mult, world.open_price_mult, lic),
                                            lambda: self._price_factors(world, lic))
        hosted = self.price[None, :] * price_mult * open_mult  # (N, P)
        presence_term, cloud_h = self._reuse("clouds", (world.infrastructure, lic), lambda: self._clouds(world, lic))
        cloud = k.neg_w_cost * np.log(hosted)[:, None, :] + presence_term  # (N, S, P)
        selfu = k.neg_w_cost * np.log(self_host)[:, None, None] + k.w_infra_self  # (N, S, 1)
        use_self = selfu > cloud
        if k.any_must_self:
            use_self |= k.must_self
        use_self &= lic.open_cube
        H = np.where(use_self, selfu, cloud)
        host = np.where(use_self, N, cloud_h)
        return H, host, hosted

    def _price_factors(self, world, lic) -> tuple[np.ndarray, np.ndarray]:
        """``price_mult[n, v(p)]`` and the open-weight factor (``open_price_mult[n, v(p)]`` for
        an open product, else 1), each (N, P)."""
        v = self.table.vendor
        return world.price_mult[:, v], np.where(lic.open_row, world.open_price_mult[:, v], 1.0)

    def _clouds(self, world, lic) -> tuple[np.ndarray, np.ndarray]:
        """The presence term ``w_infrastructure[s]·presence`` (N, S, P) of each product's cloud
        (the best present for an open product, its vendor's for a closed one) and that cloud
        (N, 1, P): the vendor's own if it is the best present, else the best."""
        infra = world.infrastructure
        own = infra[:, self.origin]  # (N, P) presence of the vendor's own cloud
        best = infra.max(axis=1)[:, None]  # (N, 1) presence of the best cloud in the nation
        cloud_presence = np.where(lic.open_row, best, own)  # (N, P)
        best_h = np.where(own >= best, self.origin[None, :], infra.argmax(axis=1)[:, None])  # (N, P)
        cloud_h = np.where(lic.open_row, best_h, self.origin[None, :])
        return self._terms.w_infra * cloud_presence[:, None, :], cloud_h[:, None, :]

    def product_utility(self, *, H: np.ndarray, trust: np.ndarray, derivatives: np.ndarray) -> np.ndarray:
        """The part of the utility shared by all communities of one nation and sector, shape (N, S, P)::

            U0[n,s,p] = w_capability[s]·capability[p] + H[n,s,p] + w_cost[s]·log(gdp_per_capita[n])
                      + w_trust[s]·trust[n, o(p)] + w_sovereignty[s]·sovereignty[n]·open[p]
                      + w_ecosystem[s]·log(1 + derivatives[v(p)])

        ``H`` is the best host's cost and infrastructure term (:meth:`hosting`); for a closed
        product it is ``−w_cost·log(price) + w_infrastructure·infrastructure[n, o(p)]`` as before;
        ``derivatives`` is per product (its vendor's). The gdp term is the same for every product
        of a community and leaves choices unchanged. The terms are added in this order, always
        (the gdp term is computed once per run, the sovereignty term once per licence pattern).
        """
        k = self._terms
        per_p = k.w_capability * self.capability[None, None, :] + k.w_ecosystem * np.log1p(derivatives)[None, None, :]
        trust_term = self._reuse("trust", (trust,), lambda: k.w_trust * trust[:, self.origin][:, None, :])
        return per_p + H + k.gdp_term + trust_term + self.licence_view().sovereignty_term

    def availability(self, world) -> np.ndarray:
        """(N, S, P) bool: product p is on the market, allowed in sector s (data residency) and
        its vendor available to nation n and sector s (bans, refusals)."""
        lic = self.licence_view()
        return self._reuse("available", (world.available, lic, self.on_market.tobytes()), lambda: (
            world.available[:, :, self.table.vendor] & self.on_market[None, None, :] & lic.allowed[None]))

    def nesting(self) -> tuple[list[np.ndarray], list[float]] | None:
        """Nest index of every product at each level (top first) and the λ of each level; None
        for the plain multinomial logit (``nests = "none"``). The same object while the
        licences do not change."""
        return self.licence_view().nesting

    def _nesting_now(self) -> tuple[list[np.ndarray], list[float]] | None:
        if self.nests == "none":
            return None
        lic = self.is_open.astype(np.int64)
        if self.nests == "origin":
            keys = [self.origin]
        elif self.nests == "license":
            keys = [lic]
        else:
            keys = [self.origin, self.origin * 2 + lic]
        return [np.unique(k, return_inverse=True)[1].astype(np.int64) for k in keys], list(self.lambdas)


@dataclass(frozen=True)
class NationTerms:
    """The fixed parts of :meth:`Market.hosting` and :meth:`Market.product_utility`: sector
    weights shaped (1, S, 1), the gdp term (N, S, 1) and the self-hosting infrastructure term."""

    w_capability: np.ndarray
    w_ecosystem: np.ndarray
    w_trust: np.ndarray
    w_sovereignty: np.ndarray
    w_infra: np.ndarray
    neg_w_cost: np.ndarray  # −w_cost
    w_infra_self: np.ndarray  # w_infrastructure · self_host_infrastructure
    gdp_term: np.ndarray  # w_cost · log(gdp_per_capita), (N, S, 1)
    sovereignty: np.ndarray  # (N,)
    must_self: np.ndarray  # (1, S, 1) bool: requires_self_host
    any_must_self: bool

    @classmethod
    def build(cls, weights: dict, gdp, sovereignty, self_infra: float, requires_self) -> "NationTerms":
        W = {k: v[None, :, None] for k, v in weights.items()}
        return cls(w_capability=W["capability"], w_ecosystem=W["ecosystem"], w_trust=W["trust"],
                   w_sovereignty=W["sovereignty"], w_infra=W["infrastructure"], neg_w_cost=-W["cost"],
                   w_infra_self=W["infrastructure"] * self_infra,
                   gdp_term=W["cost"] * np.log(gdp)[:, None, None], sovereignty=sovereignty,
                   must_self=requires_self[None, :, None], any_must_self=bool(requires_self.any()))


@dataclass(frozen=True)
class LicenceView:
    """What depends only on the products' licences of a month: broadcast masks, the sectors
    allowed each product, the sovereignty term of the utility and the nesting."""

    open_row: np.ndarray  # (1, P) bool
    open_cube: np.ndarray  # (1, 1, P) bool
    allowed: np.ndarray  # (S, P) bool
    sovereignty_term: np.ndarray | None  # (N, S, P): w_sovereignty[s]·sovereignty[n]·open[p] (after use_nations)
    nesting: tuple | None

    @classmethod
    def build(cls, market: "Market", terms: NationTerms) -> "LicenceView":
        is_open = market.is_open.copy()
        sov = None
        if terms is not None:
            sov = terms.w_sovereignty * (terms.sovereignty[:, None] * is_open.astype(np.float64)[None, :])[:, None, :]
        return cls(open_row=is_open[None, :], open_cube=is_open[None, None, :],
                   allowed=~(market.requires_self[:, None] & ~is_open[None, :]),
                   sovereignty_term=sov, nesting=market._nesting_now())


def self_hosting_cost(base_cost: float, penalty: float, hardware_decline: float, chip_supply: np.ndarray,
                      months: int) -> np.ndarray:
    """Cost of running open weights in nation n, USD per million tokens::

        self_host[n,t] = self_host_cost · (1 − hardware_cost_decline)^(t/12) · exp(self_host_penalty · (1 − chip_supply[n]))
    """
    return base_cost * (1.0 - hardware_decline) ** (months / 12.0) * np.exp(penalty * (1.0 - chip_supply))


# ---- nested logit ------------------------------------------------------------------------

def _group_sums(X: np.ndarray, groups: np.ndarray, G: int) -> np.ndarray:
    """(m, G) sums of the columns of X by group, each added left to right in column order (a
    fixed order: ``X @ onehot`` would leave it to the BLAS kernel, which varies with the
    machine and the row's place in a block; the fused kernel of :mod:`adoptsim.core.kernel`
    sums in this order too)."""
    out = np.zeros((X.shape[0], G))
    for j in range(groups.size):
        out[:, groups[j]] += X[:, j]
    return out


def nested_logit_probabilities(U: np.ndarray, available: np.ndarray, temperature: float,
                               nest_of: list[np.ndarray], lambdas: list[float],
                               normalise: bool = True) -> np.ndarray:
    """Nested logit choice probabilities, shape (m, P) (see the module docstring).

    ``nest_of[l]`` gives each product's nest at level l (top first; each level refines the one
    above), ``lambdas[l]`` that level's dissimilarity parameter. Unavailable products have
    probability 0, and so do nests without an available product; rows with nothing available
    are all zero. With ``normalise=False`` the rows are proportional to the probabilities (the
    sampler needs no more).

    Computed as weights: with ``e_j = exp((V_j − max V)/λ_L)``, the sum ``S_k`` of a bottom nest,
    ``a_l = λ_{l+1}/λ_l`` and ``S_g = Σ_{k∈g} S_k^{a}`` one level up, the probability of j is
    proportional to ``e_j · Π_levels S_k^{a−1} · S_top^{λ_1 − 1}`` — the product of the
    conditional probabilities of the docstring formula, up to the common denominator.
    """
    everywhere = bool(available.all())
    Z = U / temperature if everywhere else np.where(available, U / temperature, -np.inf)
    zmax = column_max(Z)[:, None]
    if not everywhere:
        zmax = np.where(np.isfinite(zmax), zmax, 0.0)
    Z -= zmax  # <= 0
    L = len(nest_of)
    lam = list(lambdas)
    g = nest_of[-1]
    G = int(g.max()) + 1
    if lam[-1] != 1.0:
        Z *= 1.0 / lam[-1]
    E = np.exp(Z, out=Z)
    if all(x == 1.0 for x in lam):  # every λ = 1: the weights are exp(V), the plain logit
        W = E
        return W if not normalise else _normalised(W)
    S = _group_sums(E, g, G)  # sums of the bottom nests, (m, G)
    factors = []  # per level, bottom first: (factor per nest, nest index of the level below's nests)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for level in range(L - 2, -1, -1):
            up = nest_of[level]
            Gu = int(up.max()) + 1
            parent = np.zeros(G, dtype=np.int64)
            parent[g] = up  # each lower nest lies in exactly one upper nest
            a = lam[level + 1] / lam[level]
            T = S if a == 1.0 else np.power(S, a)
            factors.append((None if a == 1.0 else np.divide(T, S, out=np.zeros_like(S), where=S > 0), parent))
            S = _group_sums(T, parent, Gu)
            g, G = up, Gu
        top = None if lam[0] == 1.0 else np.power(S, lam[0] - 1.0, out=np.zeros_like(S), where=S > 0)
    # push the factors down to the bottom nests, then to the products
    f = np.ones_like(S) if top is None else top
    for fac, parent in reversed(factors):
        f = f[:, parent] if fac is None else fac * f[:, parent]
    W = E
    W *= f[:, nest_of[-1]]
    return W if not normalise else _normalised(W)


def _normalised(W: np.ndarray) -> np.ndarray:
    tot = W.sum(axis=1, keepdims=True)
    return np.divide(W, tot, out=np.zeros_like(W), where=tot > 0)
