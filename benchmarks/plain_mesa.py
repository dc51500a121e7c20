"""A straightforward per-agent Mesa implementation of the community rules, for comparison.

Each community is a ``mesa.Agent`` holding its own state (nation, sector, size, a Python list
of ``(neighbour, weight)`` pairs, its current model); its ``step()`` loops over its neighbours
and over the vendors in plain Python: Bass first adoption, revision, the multinomial logit of
DESIGN §1 with the peer and inertia terms, then ``advance()`` applies the choice (synchronous
update, as in the engine), and a ``DataCollector`` records the month's developers per nation
and model (all sectors and critical ones), as the engine records them. The world-level phases (policies, vendor dynamics, the per-nation
part of the utility) are the engine's own: they cost O(nations × vendors) per month and are
the same in both implementations, so a comparison times the community phase, which is what
grows with the number of communities.

Random numbers come from ``model.rng`` (Mesa 3's numpy Generator) one draw at a time, so runs
agree with the engine statistically (same rules and parameters), not draw for draw.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from adoptsim.core.model import AdoptionModel, replicate_seed


class PlainCommunity(mesa.Agent):
    def __init__(self, model, nation: int, sector: int, size: float, current: int):
        super().__init__(model)
        self.nation, self.sector, self.size = nation, sector, size
        self.current = current
        self.next = current
        self.neighbours: list[tuple[PlainCommunity, float]] = []

    def step(self) -> None:
        m = self.model
        group = self.nation * m.n_sectors + self.sector
        avail = m.available[group]
        cur = self.current
        if cur < 0:
            # Bass first adoption: 1 - exp(-(p·2·optimism·education + q·A))
            if m.complete:
                adopted_share = m.world_adopted
            else:
                adopted_share = 0.0
                for nb, w in self.neighbours:
                    if nb.current >= 0:
                        adopted_share += w
            prob = 1.0 - math.exp(-(m.p * 2.0 * m.optimism[self.nation] * m.education[self.nation]
                                    + m.q * adopted_share))
            if m.rng.random() >= prob:
                return
        elif avail[cur] and m.rng.random() >= m.revision_rate:
            return
        # multinomial logit over the available vendors
        V = m.n_vendors
        if m.complete:
            share = m.world_share
        else:
            share = [0.0] * V
            for nb, w in self.neighbours:
                if nb.current >= 0:
                    share[nb.current] += w
        base = m.base[group]
        w_peer, w_inertia, T = m.w_peer[self.sector], m.w_inertia[self.sector], m.temperature
        utils = []
        for v in range(V):
            if avail[v]:
                u = base[v] + w_peer * share[v]
                if v == cur:
                    u += w_inertia
                utils.append((v, u / T))
        if not utils:
            if cur >= 0 and not avail[cur]:
                self.next = -1
            return
        top = max(u for _, u in utils)
        weights = [(v, math.exp(u - top)) for v, u in utils]
        x = m.rng.random() * sum(w for _, w in weights)
        acc = 0.0
        for v, w in weights:
            acc += w
            if x < acc:
                break
        self.next = v

    def advance(self) -> None:
        self.current = self.next


class PlainMesaModel(mesa.Model):
    """The same scenario, with communities as plain per-agent Mesa agents."""

    def __init__(self, scenario, seed: int = 7):
        super().__init__(rng=np.random.default_rng(seed))
        # the engine builds the world, the network and the initial adopters; we copy them out
        self.engine = AdoptionModel(scenario, replicate_seed(seed, 0), create_community_agents=False)
        e, c = self.engine, self.engine.communities
        self.n_sectors, self.n_vendors = c.S, c.V
        a = scenario.adoption
        self.p, self.q, self.revision_rate = a.p, a.q, a.revision_rate
        self.temperature = c.temperature
        self.w_peer = c.weights["peer"].tolist()
        self.w_inertia = c.weights["inertia"].tolist()
        self.optimism = e.optimism.tolist()
        self.complete = c.W is None
        self.community_list = [PlainCommunity(self, int(n), int(s), float(z), int(k))
                               for n, s, z, k in zip(c.nation, c.sector, c.size, c.current)]
        if not self.complete:
            W = c.W
            ind, dat, ptr = W.indices.tolist(), W.data.tolist(), W.indptr.tolist()
            agents = self.community_list
            for i, a in enumerate(agents):
                a.neighbours = [(agents[j], w) for j, w in zip(ind[ptr[i]:ptr[i + 1]], dat[ptr[i]:ptr[i + 1]])]
        self.total_size = float(c.size.sum())
        self.critical_sector = [scenario.sector_is_critical(x) for x in e.index.sectors]
        self.datacollector = mesa.DataCollector(model_reporters={"developers": lambda m: m._metrics()})
        self.t = 0

    def _world_phase(self) -> None:
        """Policies, vendors and the per-nation utility: the engine's (vectorised, O(N·V))."""
        e = self.engine
        month = e.month0 + self.t
        devs = np.zeros(self.n_vendors)
        for a in self.community_list:
            if a.current >= 0:
                devs[a.current] += a.size
        adopters = devs.sum()
        e.world = e._policy_state(month)
        e.vendors.update_licence(e.world, month)
        if self.t > 0:  # products -> vendors (one product per vendor in the plain benchmark)
            devs_v = devs @ e.market.to_vendor
            share_v = devs_v / adopters if adopters > 0 else devs_v
            e.vendors.step(e.world, self.t, share_v, devs_v)
            e.market.step_prices(share_v)
        e._prepare_choice_inputs()
        V = self.n_vendors
        self.base = e.base_utility.reshape(-1, V).tolist()
        self.available = e.available.reshape(-1, V).tolist()
        self.education = e.world.education.tolist()
        self.world_adopted = adopters / self.total_size
        self.world_share = (devs / self.total_size).tolist()

    def _metrics(self) -> list:
        """The per-month record the engine's DataCollector keeps: developers per nation and
        model (column 0 non-adopters), and the same for critical sectors."""
        n_nations = len(self.optimism)
        devs = [[0.0] * (self.n_vendors + 1) for _ in range(n_nations)]
        crit = [[0.0] * (self.n_vendors + 1) for _ in range(n_nations)]
        critical = self.critical_sector
        for a in self.community_list:
            devs[a.nation][a.current + 1] += a.size
            if critical[a.sector]:
                crit[a.nation][a.current + 1] += a.size
        return [devs, crit]

    def step(self) -> None:
        self._world_phase()
        agents = self.agents_by_type[PlainCommunity]
        agents.do("step")
        agents.do("advance")
        self.datacollector.collect(self)
        self.t += 1

    def adoption(self) -> float:
        return sum(a.size for a in self.community_list if a.current >= 0) / self.total_size


# ---- the lean version, on any world (nested logit included) --------------------------------

class LeanCommunity(mesa.Agent):
    """A community as a competent Mesa user would write it: ``model.random`` (Python's
    generator, the cheapest scalar draw), neighbours as a list of (agent, weight), a choice only
    for the communities that choose, and the month's changes collected by the model and applied
    after every agent has stepped (synchronous update without an ``advance`` pass)."""

    __slots__ = ("nation", "sector", "size", "group", "current", "neighbours")

    def __init__(self, model, nation: int, sector: int, size: float, current: int):
        super().__init__(model)
        self.nation, self.sector, self.size = nation, sector, size
        self.group = nation * model.n_sectors + sector
        self.current = current
        self.neighbours: list[tuple[LeanCommunity, float]] = []

    def step(self) -> None:
        m = self.model
        avail = m.available[self.group]
        cur = self.current
        rand = m.random.random
        lost = False
        if cur < 0:
            if m.complete:
                a = m.world_adopted
            else:
                a = 0.0
                for nb, w in self.neighbours:
                    if nb.current >= 0:
                        a += w
            if rand() >= 1.0 - math.exp(-(m.bass[self.nation] + m.q * a)):
                return
        else:
            lost = not avail[cur]
            if not lost and rand() >= m.revision_rate:
                return
        P = m.n_products
        if m.complete:
            share = m.world_share
        else:
            share = [0.0] * P
            for nb, w in self.neighbours:
                c = nb.current
                if c >= 0:
                    share[c] += w
        base = m.base[self.group]
        wp, wi, T = m.w_peer[self.sector], m.w_inertia[self.sector], m.temperature
        z = {}
        for v in range(P):
            if avail[v]:
                u = base[v] + wp * share[v]
                if v == cur:
                    u += wi
                z[v] = u / T
        if not z:
            if lost:
                m.changes.append((self, -1))
            return
        weights = m.nested_weights(z)
        x = rand() * sum(weights.values())
        acc = 0.0
        for v, w in weights.items():
            acc += w
            if x < acc:
                break
        m.changes.append((self, v))


class LeanMesaModel(mesa.Model):
    """The engine's world phase (policies, vendors, market: O(nations × products)) and
    :class:`LeanCommunity` agents starting from the engine's network and initial adopters."""

    def __init__(self, scenario, seed: int = 7):
        super().__init__(rng=np.random.default_rng(seed))
        self.engine = AdoptionModel(scenario, replicate_seed(seed, 0), create_community_agents=False)
        e, c = self.engine, self.engine.communities
        self.n_sectors, self.n_products = c.S, c.V
        a = scenario.adoption
        self.p, self.q, self.revision_rate = a.p, a.q, a.revision_rate
        self.temperature = c.temperature
        self.w_peer = c.weights["peer"].tolist()
        self.w_inertia = c.weights["inertia"].tolist()
        self.complete = c.W is None
        self.community_list = [LeanCommunity(self, int(n), int(s), float(z), int(k))
                               for n, s, z, k in zip(c.nation, c.sector, c.size, c.current)]
        if not self.complete:
            W = c.W
            ind, dat, ptr = W.indices.tolist(), W.data.tolist(), W.indptr.tolist()
            agents = self.community_list
            for i, ag in enumerate(agents):
                ag.neighbours = [(agents[j], w) for j, w in zip(ind[ptr[i]:ptr[i + 1]], dat[ptr[i]:ptr[i + 1]])]
        self.total_size = float(c.size.sum())
        self.n_nations = len(e.index.nations)
        self.critical_sector = [scenario.sector_is_critical(x) for x in e.index.sectors]
        self.datacollector = mesa.DataCollector(model_reporters={"developers": lambda m: m.record()})
        self.devs = None
        self.changes: list = []
        self.t = 0

    def nested_weights(self, z: dict) -> dict:
        """Weights proportional to the nested-logit probabilities of the available products
        (``z``: product -> U/T): ``e_j = exp((z_j − max z)/λ_L)``, nest sums raised level by
        level (docs/model.md); the plain logit without nests."""
        top = max(z.values())
        if self.nests is None:
            return {v: math.exp(x - top) for v, x in z.items()}
        nest_of, lams = self.nests
        L = len(lams)
        e = {v: math.exp((x - top) / lams[-1]) for v, x in z.items()}
        S = {}
        for v, w in e.items():
            k = nest_of[-1][v]
            S[k] = S.get(k, 0.0) + w
        factors = []
        for level in range(L - 2, -1, -1):
            a = lams[level + 1] / lams[level]
            up, fac = {}, {}
            for k, s in S.items():
                t = s ** a
                fac[k] = t / s
                parent = self.parents[level + 1][k]
                up[parent] = up.get(parent, 0.0) + t
            factors.append(fac)
            S = up
        f = {k: s ** (lams[0] - 1.0) for k, s in S.items()}
        for level, fac in zip(range(1, L), reversed(factors)):
            f = {k: fk * f[self.parents[level][k]] for k, fk in fac.items()}
        return {v: w * f[nest_of[-1][v]] for v, w in e.items()}

    def _world_phase(self) -> None:
        e = self.engine
        month = e.month0 + self.t
        e.world = e._policy_state(month)
        e.vendors.update_licence(e.world, month)
        if self.t > 0:  # last month's record, as the engine does
            devs_p = np.array(self.devs[0])[:, 1:].sum(axis=0)
            devs_v = devs_p @ e.market.to_vendor
            adopters = devs_v.sum()
            share_v = devs_v / adopters if adopters > 0 else np.zeros_like(devs_v)
            e.vendors.step(e.world, self.t, share_v, devs_v)
            e.market.step_prices(share_v)
        e.vendors.record_frontier()
        e._prepare_choice_inputs()
        P = self.n_products
        self.base = e.base_utility.reshape(-1, P).tolist()
        self.available = e.available.reshape(-1, P).tolist()
        edu = e.world.education
        self.bass = [self.p * 2.0 * float(o) * float(edu[i]) for i, o in enumerate(e.optimism)]
        nesting = e.communities.nesting
        self.nests = None
        if nesting is not None:
            nest_of, lams = [k.tolist() for k in nesting[0]], list(nesting[1])
            self.nests = (nest_of, lams)
            self.parents = [None] + [{nest_of[l][j]: nest_of[l - 1][j] for j in range(P)}
                                     for l in range(1, len(lams))]
        if self.complete:
            world = [0.0] * P
            for ag in self.community_list:
                if ag.current >= 0:
                    world[ag.current] += ag.size
            self.world_adopted = sum(world) / self.total_size
            self.world_share = [w / self.total_size for w in world]

    def record(self) -> list:
        """Developers per nation and product (column 0: non-adopters), all and critical sectors."""
        devs = [[0.0] * (self.n_products + 1) for _ in range(self.n_nations)]
        crit = [[0.0] * (self.n_products + 1) for _ in range(self.n_nations)]
        critical = self.critical_sector
        for ag in self.community_list:
            devs[ag.nation][ag.current + 1] += ag.size
            if critical[ag.sector]:
                crit[ag.nation][ag.current + 1] += ag.size
        self.devs = [devs, crit]
        return self.devs

    def step(self) -> None:
        self._world_phase()
        self.changes = []
        self.agents_by_type[LeanCommunity].do("step")
        for ag, v in self.changes:  # synchronous: applied after every community has chosen
            ag.current = v
        self.datacollector.collect(self)
        self.t += 1

    def adoption(self) -> float:
        return sum(ag.size for ag in self.community_list if ag.current >= 0) / self.total_size

    def shares(self) -> np.ndarray:
        out = np.zeros(self.n_products)
        for ag in self.community_list:
            if ag.current >= 0:
                out[ag.current] += ag.size
        return out / self.total_size
