"""The exogenous world state of one month, which policies modify, and the id <-> index maps.

Each step the model makes the month's :class:`WorldState` from the scenario's base arrays and
every policy in force (:class:`~adoptsim.core.policy_plan.PolicyPlan`: the result of copying the
base and letting each policy act on it, bit for bit) and hands it to vendors and communities.
Policies are pure functions of (base state, month), so a run never accumulates hidden policy
state. A month's state may share arrays that no policy changed with other months' states:
read them, do not modify them (``WorldState.copy()`` gives arrays of one's own).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class WorldIndex:
    """Positions of nations, vendors, sectors and regions in the model's arrays."""

    nations: tuple[str, ...]
    vendors: tuple[str, ...]
    sectors: tuple[str, ...]
    regions: tuple[str, ...]
    vendor_origin: np.ndarray  # (V,) nation index of each vendor's origin
    nation_region: np.ndarray  # (N,) region index of each nation
    nation_pos: dict[str, int] = field(default_factory=dict)
    vendor_pos: dict[str, int] = field(default_factory=dict)
    sector_pos: dict[str, int] = field(default_factory=dict)
    _origin_cache: dict[tuple, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, nations, vendors, sectors, nation_regions, vendor_origins) -> "WorldIndex":
        regions = tuple(dict.fromkeys(nation_regions))
        npos = {n: i for i, n in enumerate(nations)}
        rpos = {r: i for i, r in enumerate(regions)}
        return cls(
            nations=tuple(nations),
            vendors=tuple(vendors),
            sectors=tuple(sectors),
            regions=regions,
            vendor_origin=np.array([npos[o] for o in vendor_origins], dtype=np.int64),
            nation_region=np.array([rpos[r] for r in nation_regions], dtype=np.int64),
            nation_pos=npos,
            vendor_pos={v: i for i, v in enumerate(vendors)},
            sector_pos={s: i for i, s in enumerate(sectors)},
        )

    def nation_idx(self, ids) -> np.ndarray:
        return np.array([self.nation_pos[i] for i in ids], dtype=np.int64)

    def vendor_idx(self, ids) -> np.ndarray:
        return np.array([self.vendor_pos[i] for i in ids], dtype=np.int64)

    def sector_idx(self, names) -> np.ndarray:
        return np.array([self.sector_pos[s] for s in names], dtype=np.int64)

    def vendors_of_origins(self, origins) -> np.ndarray:
        """Vendor indices whose origin is one of ``origins`` (nation ids); cached per origin set
        (policies ask every month)."""
        key = tuple(origins)
        hit = self._origin_cache.get(key)
        if hit is None:
            hit = self._origin_cache[key] = np.flatnonzero(np.isin(self.vendor_origin, self.nation_idx(origins)))
        return hit


@dataclass
class WorldState:
    """Exogenous quantities for one month; policies scale, shift or mask them."""

    chip_access: np.ndarray  # (N,) share of world-frontier accelerators a nation can buy, 0..1 (× by controls)
    domestic: np.ndarray  # (N,) domestic accelerator supply, share of full access (+ by build-outs)
    domestic_mult: np.ndarray  # (N,) factor on domestic supply (× by equipment/HBM controls)
    compute_mult: np.ndarray  # (N,) multiplier on the compute of vendors from that nation
    trust: np.ndarray  # (N, N) trust of nation n in models from origin o, 0..1
    infrastructure: np.ndarray  # (N, N) presence of origin o's clouds in nation n, 0..1
    education: np.ndarray  # (N,) multiplier on first-adoption (innovation) probability
    price_mult: np.ndarray  # (N, V) multiplier on vendor v's hosted price in nation n
    open_price_mult: np.ndarray  # (N, V) extra multiplier on v's hosted price while v is open
    available: np.ndarray  # (N, S, V) bool: can a community of nation n, sector s use v
    open_release: np.ndarray  # (V,) bool: a closed vendor has released open weights
    close_release: np.ndarray  # (V,) bool: an open vendor has closed its weights
    derivative_mult: np.ndarray  # (V,) multiplier on derivative accumulation
    infrastructure0: np.ndarray | None = None  # (N, N) the scenario's infrastructure, before any build-out

    @property
    def chip_supply(self) -> np.ndarray:
        """(N,) frontier-chip-equivalent supply: ``min(1, chip_access + domestic·domestic_mult)``
        (sums and products of policy terms composed once, so policy order does not matter)."""
        return np.minimum(1.0, self.chip_access + self.domestic * self.domestic_mult)

    def copy(self) -> "WorldState":
        return WorldState(**{k: (v if v is None else v.copy()) for k, v in self.__dict__.items()})
