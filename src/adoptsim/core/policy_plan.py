"""The world state of each month from the base and the policies (:class:`PolicyPlan`), resolved
once per model; the policy types themselves are in :mod:`adoptsim.core.policies`."""

from __future__ import annotations

import numpy as np

from .policies import Policy
from .state import WorldIndex, WorldState


class PolicyPlan:
    """The policies of one model, resolved once (:meth:`Policy.resolve`), and the world state of
    any month from the base state: ``state(month)`` equals copying the base and letting every
    policy in force act on it in order, bit for bit.

    Month to month most of the world does not change, so a field of the state is recomputed only
    when a policy that writes it (:attr:`Policy.writes`) starts, stops or changes its effect
    (:meth:`Policy.effect_key`) since the last call; the other fields are the arrays of the last
    call, shared between the months' states (treat a state's arrays as read-only). Only the
    policies that write a recomputed field act, on fresh copies of the base's arrays (a policy's
    effect on a field depends on that field alone, so the fields it also writes, kept from the
    last call, cannot differ)."""

    def __init__(self, policies: list[Policy], idx: WorldIndex, base: WorldState):
        self.policies = list(policies)
        self.base = base
        fields = tuple(base.__dict__)
        self.where = [p.resolve(idx) for p in self.policies]
        self.writes = [frozenset(fields if p.writes is None else p.writes) for p in self.policies]
        self._effects: list | None = None  # per policy: (elapsed, effect key) at the last call, None when not in force
        self._arrays: dict[str, np.ndarray | None] = dict(base.__dict__)

    def state(self, month: int) -> WorldState:
        """The world state of ``month``: the base with every policy in force applied."""
        effects = []
        for p in self.policies:
            elapsed = p.elapsed(month)
            effects.append(None if elapsed is None else (elapsed, p.effect_key(elapsed)))
        last = self._effects
        if last is None:  # the first call: every field
            stale = set(self._arrays)
        else:
            stale = set()
            for i, (e, e0) in enumerate(zip(effects, last)):
                if (e is None) != (e0 is None) or (e is not None and e[1] != e0[1]):
                    stale |= self.writes[i]
        if stale:
            acting = [i for i, e in enumerate(effects) if e is not None and not self.writes[i].isdisjoint(stale)]
            scratch = stale.union(*(self.writes[i] for i in acting))
            state = WorldState(**{f: (v.copy() if f in scratch and v is not None else self._arrays[f])
                                  for f, v in self.base.__dict__.items()})
            for i in acting:
                self.policies[i].act(state, self.where[i], effects[i][0])
            for f in stale:
                self._arrays[f] = getattr(state, f)
        self._effects = effects
        return WorldState(**self._arrays)
