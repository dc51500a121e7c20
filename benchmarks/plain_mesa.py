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
