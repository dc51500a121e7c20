"""AdoptionModel: build the world from a scenario and step it month by month.

Step order (docs/model.md), month ``t`` (0-based; its date is ``meta.start + t`` months):

1. **policies** — a fresh :class:`~adoptsim.state.WorldState` is made from the scenario's base
   values and every policy in force acts on it;
2. **nations** — self-hosting cost and availability (vendors not yet released are masked);
3. **vendors** — licences, capability, efficiency, price and derivatives advance, using last
   month's shares;
4. **communities** — first adoption, revision and logit choice (one vectorised kernel);
5. **metrics** — Mesa's ``DataCollector`` stores the month's developer counts per nation and
   model, and the vendors' state.

Randomness (docs/model.md): a run is driven by one ``numpy.random.SeedSequence``; each subsystem
draws from its own named child stream (:data:`STREAMS`), and each month draws a fixed number of
uniforms per stream, so variants of a scenario share random numbers where their rules agree.
Replicate ``r`` of seed ``s`` uses ``SeedSequence(s, spawn_key=(r,))``, identical to
``SeedSequence(s).spawn(n)[r]`` for every n: results never depend on how many replicates or
workers there are, nor on their order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import pandas as pd

import mesa
import numpy as np

from . import market as mk
from .agents import Community, Nation, Vendor
from .network import build_network
from .policy_plan import PolicyPlan
from .populations import CommunityLayout, CommunityPopulation, VendorPopulation
from .reporters import AGENT_REPORTERS, ModelDataCollector, scalar_reporters
from .schema import Scenario
from .state import WorldIndex, WorldState
from ..months import format_month

STREAMS = ("network", "init", "adoption", "revision", "choice", "policies", "vendors", "mesa")


def replicate_seed(seed: int, replicate: int) -> np.random.SeedSequence:
    """The SeedSequence of one replicate: child ``replicate`` of ``SeedSequence(seed)``."""
    return np.random.SeedSequence(seed, spawn_key=(replicate,))


def run_seed_sequence(scenario: Scenario, rng: np.random.SeedSequence | int | None) -> np.random.SeedSequence:
    """The run's SeedSequence from Mesa's ``rng=``: a SeedSequence as given; an int ``s`` (or
    None: the scenario's ``[meta] seed``) gives replicate 0 of ``s``, :func:`replicate_seed`
    (s, 0) — so ``AdoptionModel(sc, rng=s)`` is replicate 0 of ``simulate(sc, seed=s)``."""
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if rng is None:
        return replicate_seed(scenario.meta.seed, 0)
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)) or rng < 0:
        raise TypeError(f"AdoptionModel: rng must be a whole number >= 0 or a numpy SeedSequence, got {rng!r}")
    return replicate_seed(int(rng), 0)


class HorizonReached(RuntimeError):
    """``step()`` on a model whose run has reached its horizon (``model.running`` is False)."""


def named_streams(seq: np.random.SeedSequence) -> dict[str, np.random.Generator]:
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, seq.spawn(len(STREAMS)))}


def base_world(sc: Scenario, idx: WorldIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray, WorldState]:
    """The nations' fixed arrays (optimism, sovereignty, GDP per capita) and the world state before
    any policy acts (chip access and domestic chips, trust and infrastructure by origin, unit
    multipliers, everything available)."""
    N, V, S = len(idx.nations), len(idx.vendors), len(idx.sectors)
    nf = lambda name: np.array([getattr(n, name) for n in sc.nations], dtype=np.float64)  # noqa: E731
    # an origin a nation does not list: [choice] default_trust (validation requires every vendor
    # origin to be listed when it is not set; other origins are never read)
    trust = np.full((N, N), 0.0 if sc.choice.default_trust is None else sc.choice.default_trust)
    infra = np.zeros((N, N))
    for i, n in enumerate(sc.nations):
        for o, val in n.trust.items():
            trust[i, idx.nation_pos[o]] = val
        for o, val in n.infrastructure.items():
            infra[i, idx.nation_pos[o]] = val
    base = WorldState(
        chip_access=nf("chip_access"), domestic=nf("domestic_chips"), domestic_mult=np.ones(N),
        compute_mult=np.ones(N), trust=trust, infrastructure=infra, infrastructure0=infra.copy(),
        education=np.ones(N), price_mult=np.ones((N, V)), open_price_mult=np.ones((N, V)),
        available=np.ones((N, S, V), dtype=bool), open_release=np.zeros(V, dtype=bool),
        close_release=np.zeros(V, dtype=bool), derivative_mult=np.ones(V))
    return nf("optimism"), nf("sovereignty"), nf("gdp_per_capita"), base


class AdoptionModel(mesa.Model):
    """The adoption model of one scenario and one random seed sequence."""

    def __init__(self, scenario: Scenario, rng: np.random.SeedSequence | int | None = None, *,
                 create_community_agents: bool = True, collect_agents: bool = True,
                 seed: np.random.SeedSequence | int | None = None):
        if not isinstance(scenario, Scenario):
            raise TypeError(f"AdoptionModel: expected a Scenario, got {type(scenario).__name__}; for a scenario "
                            "file use adoptsim.AdoptionModel (it loads paths) or adoptsim.load_scenario(path)")
        if rng is not None and seed is not None:
            raise TypeError("AdoptionModel: give rng= or seed=, not both")
        seq = run_seed_sequence(scenario, rng if rng is not None else seed)
        self.streams = named_streams(seq)
        super().__init__(rng=self.streams["mesa"])
        self.horizon = scenario.meta.months
        self.spec = scenario
        sc = scenario
        self.index = WorldIndex.build(
            [n.id for n in sc.nations], [v.id for v in sc.vendors], list(sc.sectors),
            [n.region for n in sc.nations], [v.origin for v in sc.vendors])
        idx = self.index
        N, V = len(idx.nations), len(idx.vendors)
        self.month0 = sc.start_month
        self.t = 0

        # nations: base arrays and the month's world before policies
        self.optimism, self.sovereignty, self.gdp, self.base = base_world(sc, idx)
        self.policies = sorted(sc.policies, key=lambda p: (p.start_month, p.name))
        self._policy_plan = PolicyPlan(self.policies, idx, self.base)  # ids -> positions, once per run

        # agents
        self.nation_agents = Nation.create_agents(self, N, list(range(N)), list(sc.nations))
        self.vendor_agents = Vendor.create_agents(self, V, list(range(V)), list(sc.vendors))
        self.vendors = VendorPopulation(sc, idx)
        self.market = mk.Market(sc, idx)
        P = self.market.P
        layout = CommunityLayout.layout(sc, idx)
        net = sc.network
        W = build_network(net.kind, layout.nation, idx.nation_region[layout.nation], layout.size,
                          degree=net.degree, cross_border=net.cross_border, same_region=net.same_region,
                          rewire=net.rewire, rng=self.streams["network"])
        self.communities = CommunityPopulation(layout, W, P, sc, idx)
        self.market.use_nations(self.communities.weights, self.gdp, self.sovereignty)
        self._crit_sectors = np.flatnonzero([sc.sector_is_critical(s) for s in idx.sectors])
        self.community_agents = None
        if create_community_agents:
            self.make_community_agents()

        self._uniforms = None  # the month's three uniforms per community, allocated on the first step
        self._developers = None  # set during the metrics phase only (see developers())
        self._groups = self._counts = None
        self._devs_on = None  # developers per vendor at the end of last month (the vendors' step)
        self._host_offset = np.arange(N)[:, None, None] * (N + 1)  # host_counts: nation·(N+1) + host
        # array reporters (read by metrics.tidy), then scalars for Mesa's plots and batch_run; each
        # returns a new array, dict or float every month, so the collector stores them without
        # Mesa's deep copy
        reporters = {
            "developers": lambda m: m.developers(),
            "critical": lambda m: m._groups[:, m._crit_sectors, :].sum(axis=1),
            "sectors": lambda m: m._groups,  # (N, S, P+1): the views (metrics.view_share)
            "hosts": lambda m: m.host_counts(),
            "vendors": lambda m: m.vendor_snapshot(),
        }
        reporters.update(scalar_reporters(idx))
        self.datacollector = ModelDataCollector(
            model_reporters=reporters, agent_reporters=AGENT_REPORTERS if collect_agents else None)
        # month 0's world, then the communities that have adopted before the simulation starts
        self.world = self._policy_state(self.month0)
        self.vendors.update_licence(self.world, self.month0)
        self._prepare_choice_inputs()
        self.communities.initialise(self.base_utility, self.available, self.streams["init"], self.streams["choice"])

    def make_community_agents(self):
        """The communities as Mesa agents (views on the arrays), created on first call.

        ``AdoptionModel(..., create_community_agents=False)`` skips them (at 10^6 communities
        they cost several seconds and ~0.5 GB); this makes them later, at any step, without
        changing any number."""
        if self.community_agents is None:
            self.community_agents = Community.create_agents(self, self.communities.n, np.arange(self.communities.n))
        return self.community_agents

    # ---- phases ------------------------------------------------------------------------
    def _policy_state(self, month: int) -> WorldState:
        """The base world with every policy in force at ``month`` applied (:class:`PolicyPlan`:
        its arrays may be shared with other months' states; do not modify them)."""
        return self._policy_plan.state(month)

    def _prepare_choice_inputs(self) -> None:
        """Nations' phase: products, self-hosting cost, best hosts, availability and base utility
        (see :mod:`adoptsim.core.market`)."""
        w, v, d, m = self.world, self.vendors, self.spec.dynamics, self.market
        m.update(v, self.month0 + self.t)
        self.self_host = mk.self_hosting_cost(d.self_host_cost, d.self_host_penalty, d.hardware_cost_decline,
                                              w.chip_supply, self.t)
        H, self.host, self.hosted = m.hosting(w, self.self_host)
        self.available = m.availability(w)
        self.base_utility = m.product_utility(H=H, trust=w.trust, derivatives=v.derivatives[m.table.vendor])
        self.communities.nesting = m.nesting()

    def developers(self) -> np.ndarray:
        """Developers per nation and product now, shape (N, P+1) (column 0: non-adopters).

        Computed once in the metrics phase of a step and shared by the reporters."""
        if self._developers is not None:
            return self._developers
        return self.communities.developers_by(len(self.index.nations))

    def world_counts(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Developers in the world now per product (P,) and per vendor (V,), and all developers.

        Computed once in the metrics phase of a step and shared by the scalar reporters (and
        the vendors' step of the next month)."""
        if self._counts is not None:
            return self._counts
        devs = self.developers()
        on = devs[:, 1:].sum(axis=0)
        return on, on @ self.market.to_vendor, float(devs.sum())

    def host_counts(self) -> np.ndarray:
        """Adopting developers per nation and host now, shape (N, N+1): columns are the hosting
        origins (nations) and, last, self-hosting (metrics phase only)."""
        N = len(self.index.nations)
        g = self._groups[:, :, 1:]  # (N, S, P)
        flat = (self._host_offset + self.host).ravel()
        return np.bincount(flat, weights=g.ravel(), minlength=N * (N + 1)).reshape(N, N + 1)

    def vendor_snapshot(self) -> dict[str, np.ndarray]:
        g = self._groups[:, :, 1:]  # (N, S, P) developers, metrics phase only
        tokens = self.spec.dynamics.tokens_per_developer
        paid = np.where(self.host < len(self.index.nations), self.hosted[:, None, :], 0.0)  # self-hosting pays no API
        v, m = self.vendors, self.market
        return {
            "capability": v.capability.copy(), "price": m.price.copy(), "derivatives": v.derivatives.copy(),
            "compute": v.compute.copy(), "efficiency": v.efficiency.copy(),
            "revenue": tokens * ((g * paid).sum(axis=(0, 1)) @ m.to_vendor), "open": m.is_open.copy(),
            "open_lag": v.open_lag,
        }

    def step(self) -> None:
        """One month (the step order above). ``running`` turns False after the last month of the
        horizon (``[meta] months``); stepping past it raises :class:`HorizonReached`."""
        if self.t >= self.horizon:
            raise HorizonReached(
                f"AdoptionModel.step(): the run of {self.spec.meta.name!r} has reached its horizon "
                f"({self.horizon} months, {format_month(self.month0 + self.horizon - 1)}); model.running is False. "
                "Make a new AdoptionModel to run again.")
        month = self.month0 + self.t
        c = self.communities
        # 1. policies
        self.world = self._policy_state(month)
        # 2-3. vendors (with last month's shares, as recorded in last month's metrics phase),
        # then the nations' view of the market
        self.vendors.update_licence(self.world, month)
        if self.t > 0:
            devs_on = self._devs_on  # per vendor, at the end of last month
            adopters = devs_on.sum()
            share = devs_on / adopters if adopters > 0 else np.zeros_like(devs_on)
            self.vendors.step(self.world, self.t, share, devs_on)
            self.market.step_prices(share)
        self.vendors.record_frontier()
        self._prepare_choice_inputs()
        # 4. communities: a fixed number of draws per stream and month
        n = c.n
        if self._uniforms is None:  # reused every month: no fresh 3·8·n bytes (page faults at 10^6+)
            self._uniforms = np.empty((3, n))
        u_adopt, u_revise, u_choice = self._uniforms
        self.streams["adoption"].random(out=u_adopt)
        self.streams["revision"].random(out=u_revise)
        self.streams["choice"].random(out=u_choice)
        c.step(self.base_utility, self.available, self.optimism, self.world.education,
               u_adopt, u_revise, u_choice)
        # 5. metrics (developers per nation, sector and product, once)
        self._groups = c.developers_by_group(len(self.index.nations))
        self._developers = self._groups.sum(axis=1)
        self._counts = self.world_counts()
        self._devs_on = self._counts[1]
        self.datacollector.collect(self)
        self._developers = self._groups = self._counts = None
        self.t += 1
        self.running = self.t < self.horizon

    def run(self, progress: Callable[[int], None] | None = None) -> "AdoptionModel":
        """Step to the horizon (the months not yet run)."""
        while self.running:
            self.step()
            if progress is not None:
                progress(1)
        return self


def release(model: mesa.Model) -> None:
    """Let a finished model be garbage-collected: Mesa 3.3 keeps every model alive in the
    class-level registry ``Agent._ids`` (keyed by model; gone in Mesa 3.5), which grows memory
    by about 1 MB per baseline run over many runs. Use the model no further."""
    ids = mesa.Agent.__dict__.get("_ids")
    if isinstance(ids, dict):
        ids.pop(model, None)


def simulate(scenario: Scenario, seed: int | None = None, replicates: int = 1,
             metrics: tuple[str, ...] | None = None,
             progress: Callable[[int], None] | None = None,
             create_community_agents: bool = False) -> "pd.DataFrame":
    """Run ``replicates`` replicates of a scenario; return the tidy table of all of them.

    Replicate r uses :func:`replicate_seed` (seed, r): the same scenario and seed give
    bit-identical numbers, whatever else runs. The models are not returned, so by default their
    communities are not made into Mesa agent objects (a cost of several seconds and ~0.6 GB at
    10^6 communities that changes no number); ``AdoptionModel`` itself creates them by default.
    """
    import pandas as pd

    from .metrics import tidy

    seed = scenario.meta.seed if seed is None else int(seed)
    frames = []
    for r in range(replicates):
        model = AdoptionModel(scenario, replicate_seed(seed, r), create_community_agents=create_community_agents,
                              collect_agents=False)
        model.run(progress)
        frames.append(tidy(model, replicate=r, metrics=metrics))
        release(model)
    out = pd.concat(frames, ignore_index=True)
    for col in ("scope", "scope_id", "metric", "key"):
        out[col] = out[col].astype("category")
    return out
