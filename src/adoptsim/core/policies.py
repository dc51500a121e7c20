"""Policy types (scenario events) and their registry.

A policy is a ``[[policies]]`` entry of a scenario. Every policy has a unique ``name``, a
``type``, an ``issuer`` (a nation id), ``targets`` (nation ids), a ``start`` month and an
optional ``end`` month (exclusive: the first month in which it no longer acts), plus the
parameters of its type. Each type is one small class registered by name with
:func:`register`; it validates its own parameters (pydantic) and acts on the month's
:class:`~adoptsim.state.WorldState` in :meth:`Policy.apply`. Adding a type touches nothing
else.

Policies are pure functions of the month: ``apply(state, idx, elapsed)`` receives the number of
months since ``start`` (0 in the first month). Most types act only while in force; types whose
effect is a built stock (``infrastructure_buildout``, ``compute_investment``) keep the level
reached at ``end`` afterwards (``persistent = True``).

``apply`` is :meth:`Policy.resolve` (the positions of the ids a policy names: nations, vendors,
sectors, as index arrays or masks) followed by :meth:`Policy.act` (the month's effect). The model
resolves each policy once per run and calls ``act`` every month, so a month's policy phase does
no id lookups or set operations (issue 17). A type may define ``apply`` alone instead (then
``resolve`` hands ``act`` the :class:`~adoptsim.core.state.WorldIndex` itself).
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..months import YearMonth, parse_month
from .state import WorldIndex, WorldState

REGISTRY: dict[str, type["Policy"]] = {}

Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


def register(cls: type["Policy"]) -> type["Policy"]:
    """Class decorator: make a policy type available to scenarios under its ``type`` name."""
    name = cls.model_fields["type"].default
    if not name or name in REGISTRY:
        raise ValueError(f"policy type {name!r} is missing or registered twice")
    REGISTRY[name] = cls
    return cls


class Policy(BaseModel):
    """Fields common to every policy type."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(min_length=1)
    type: str
    issuer: str | None = None
    targets: list[str] = Field(default_factory=list)
    start: YearMonth
    end: YearMonth | None = None
    description: str = ""

    persistent: ClassVar[bool] = False  # keeps acting (at its end level) after ``end``
    issuer_required: ClassVar[bool] = True
    #: the WorldState fields ``act`` changes, each from its own value and the policy's
    #: parameters only (None: any field — a type that does not say); :class:`~adoptsim.core.policy_plan.PolicyPlan` uses it
    writes: ClassVar[tuple[str, ...] | None] = None

    @model_validator(mode="after")
    def _order(self):
        if self.issuer_required and not self.issuer:
            raise ValueError(f"policy type {self.type!r} needs an 'issuer' (a nation id)")
        if self.end is not None and parse_month(self.end) <= parse_month(self.start):
            raise ValueError(f"'end' ({self.end}) must come after 'start' ({self.start})")
        return self

    @cached_property
    def start_month(self) -> int:
        return parse_month(self.start)

    @cached_property
    def end_month(self) -> int | None:
        return None if self.end is None else parse_month(self.end)

    def elapsed(self, month: int) -> int | None:
        """Months since start to use for ``apply`` at ``month``; None when the policy does not act."""
        if month < self.start_month:
            return None
        end = self.end_month
        if end is not None and month >= end:
            return (end - 1 - self.start_month) if self.persistent else None
        return month - self.start_month

    def references(self) -> list[tuple[str, str, str]]:
        """(field, kind, id) triples to check against the scenario: kind is nation|vendor|sector."""
        refs = [("issuer", "nation", self.issuer)] if self.issuer else []
        refs += [("targets", "nation", t) for t in self.targets]
        for fname in ("vendors", "releases"):
            refs += [(fname, "vendor", v) for v in getattr(self, fname, [])]
        for fname in ("origins",):
            refs += [(fname, "nation", o) for o in getattr(self, fname, [])]
        if getattr(self, "origin", None):
            refs.append(("origin", "nation", self.origin))
        for fname in ("sectors", "ban_sectors"):
            refs += [(fname, "sector", s) for s in getattr(self, fname, [])]
        return refs

    def target_nations(self, idx: WorldIndex, default_all: bool = True) -> np.ndarray:
        if self.targets:
            return idx.nation_idx(self.targets)
        if default_all:
            return np.arange(len(idx.nations))
        return idx.nation_idx([self.issuer])

    def effect_key(self, elapsed: int):
        """A value equal for two ``elapsed`` on which ``act`` has the same effect: 0 for a type
        whose effect does not change while it is in force (override), ``elapsed`` otherwise."""
        return elapsed

    def resolve(self, idx: WorldIndex):
        """What :meth:`act` needs from the index (positions of the ids this policy names),
        computed once per model. The default, for a type that defines only ``apply``: the index."""
        return idx

    def act(self, state: WorldState, where, elapsed: int) -> None:
        """Act on the month's state, given ``where = self.resolve(idx)``."""
        if type(self).apply is Policy.apply:  # pragma: no cover - a type must define apply or act
            raise NotImplementedError(f"policy type {self.type!r} defines neither apply nor act")
        self.apply(state, where, elapsed)

    def apply(self, state: WorldState, idx: WorldIndex, elapsed: int) -> None:
        """Act on the month's state: :meth:`act` with the positions resolved now."""
        self.act(state, self.resolve(idx), elapsed)


def allowed_mask(idx: WorldIndex, nations: np.ndarray, sectors: np.ndarray, vendors: np.ndarray) -> np.ndarray:
    """(N, S, V) bool, False for every (nation, sector, vendor) of the three lists (a ban, a
    refusal): ``available &= mask`` sets exactly the cross product to False."""
    mask = np.ones((len(idx.nations), len(idx.sectors), len(idx.vendors)), dtype=bool)
    mask[nations[:, None, None], sectors[None, :, None], vendors[None, None, :]] = False
    return mask


def factor_matrix(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, factor: float) -> np.ndarray:
    """Ones, with ``factor`` at the cross product of ``rows`` and ``cols``: ``x *= F`` multiplies
    exactly those entries by ``factor`` (``x·1.0 = x`` bit for bit elsewhere)."""
    F = np.ones(shape)
    F[rows[:, None], cols[None, :]] = factor
    return F


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    targets: list[str] = Field(min_length=1)
    chip_access: Unit


@register
class ExportControl(Policy):
    """Issuer restricts accelerator exports: targets' ``chip_access`` (their share of
    world-frontier chips they can buy) is multiplied by ``chip_access`` (a factor above 1 relaxes
    earlier controls); each entry of ``tiers`` multiplies its own targets by its own factor
    (tiered controls such as the 2025 Diffusion Rule). ``domestic`` multiplies the targets'
    domestic accelerator production (controls on chip-making equipment and HBM). Every effect is
    a factor, so controls commute with each other and with additive domestic build-outs."""

    type: Literal["export_control"] = "export_control"
    writes: ClassVar[tuple[str, ...]] = ("chip_access", "domestic_mult")
    chip_access: Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)] = 0.5
    domestic: Unit = 1.0
    tiers: list[Tier] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_targets(self):
        if not self.targets and not self.tiers:
            raise ValueError("an export_control needs 'targets' or 'tiers'")
        return self

    def references(self):
        refs = super().references()
        for i, tier in enumerate(self.tiers):
            refs += [(f"tiers.{i}.targets", "nation", t) for t in tier.targets]
        return refs

    def effect_key(self, elapsed):
        return 0

    def resolve(self, idx):
        return (idx.nation_idx(self.targets) if self.targets else None,
                [(idx.nation_idx(tier.targets), tier.chip_access) for tier in self.tiers])

    def act(self, state, where, elapsed):
        tgt, tiers = where
        if tgt is not None:
            state.chip_access[tgt] *= self.chip_access
            state.domestic_mult[tgt] *= self.domestic
        for tier_tgt, factor in tiers:
            state.chip_access[tier_tgt] *= factor


@register
class Retaliation(Policy):
    """Issuer answers the targets (nations): their ``chip_access`` is multiplied by
    ``chip_access`` (e.g. critical-mineral export bans), the targets' vendors are banned in the
    issuer for ``ban_sectors`` (``["*"]`` = every sector), and the issuer's trust in the targets'
    models shifts by ``trust_delta``."""

    type: Literal["retaliation"] = "retaliation"
    writes: ClassVar[tuple[str, ...]] = ("chip_access", "trust", "available")
    chip_access: Unit = 1.0
    ban_sectors: list[str] = Field(default_factory=list)
    trust_delta: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)] = 0.0

    @model_validator(mode="after")
    def _targets(self):
        if not self.targets:
            raise ValueError("a retaliation needs 'targets' (the nations it answers)")
        return self

    def references(self):
        return [r for r in super().references() if not (r[0] == "ban_sectors" and r[2] == "*")]

    def effect_key(self, elapsed):
        return 0

    def resolve(self, idx):
        tgt = idx.nation_idx(self.targets)
        me = idx.nation_pos[self.issuer]
        keep = None
        if self.ban_sectors:
            sectors = (np.arange(len(idx.sectors)) if "*" in self.ban_sectors
                       else idx.sector_idx(self.ban_sectors))
            keep = allowed_mask(idx, np.array([me]), sectors, idx.vendors_of_origins(self.targets))
        return tgt, me, keep

    def act(self, state, where, elapsed):
        tgt, me, keep = where
        state.chip_access[tgt] *= self.chip_access
        state.trust[me, tgt] = np.clip(state.trust[me, tgt] + self.trust_delta, 0.0, 1.0)
        if keep is not None:
            state.available &= keep


@register
class OpenSourcePush(Policy):
    """Issuer backs open models: its open vendors' hosted price is cut by ``subsidy`` in the
    targets (every nation when empty), the vendors in ``releases`` publish open weights from
    ``start``, and the issuer's open vendors accumulate derivatives ``1 + derivatives_boost``
    times faster."""

    type: Literal["open_source_push"] = "open_source_push"
    writes: ClassVar[tuple[str, ...]] = ("open_release", "derivative_mult", "open_price_mult")
    subsidy: Annotated[float, Field(ge=0.0, le=0.95, allow_inf_nan=False)] = 0.0
    releases: list[str] = Field(default_factory=list)
    derivatives_boost: Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)] = 0.0

    def effect_key(self, elapsed):
        return 0

    def resolve(self, idx):
        own = idx.vendors_of_origins([self.issuer])
        subsidy = (factor_matrix((len(idx.nations), len(idx.vendors)), self.target_nations(idx), own,
                                 1.0 - self.subsidy) if self.subsidy else None)
        return (idx.vendor_idx(self.releases) if self.releases else None), own, subsidy

    def act(self, state, where, elapsed):
        releases, own, subsidy = where
        if releases is not None:
            state.open_release[releases] = True
        state.derivative_mult[own] *= 1.0 + self.derivatives_boost
        if subsidy is not None:
            state.open_price_mult *= subsidy


@register
class InfrastructureBuildout(Policy):
    """The issuer's clouds and data centres grow in the targets (partner nations): their
    ``infrastructure[target, issuer]`` rises linearly from its base value to at least ``level``
    over ``ramp_months``; what is built stays after ``end``."""

    type: Literal["infrastructure_buildout"] = "infrastructure_buildout"
    writes: ClassVar[tuple[str, ...]] = ("infrastructure",)
    persistent: ClassVar[bool] = True
    level: Unit = 0.8
    ramp_months: Annotated[int, Field(ge=1, le=600)] = 24

    @model_validator(mode="after")
    def _targets(self):
        if not self.targets:
            raise ValueError("an infrastructure_buildout needs 'targets' (the partner nations)")
        return self

    def effect_key(self, elapsed):
        return min(elapsed, self.ramp_months - 1)  # the ramp ends at ramp_months

    def resolve(self, idx):
        return idx.nation_idx(self.targets), idx.nation_pos[self.issuer]

    def act(self, state, where, elapsed):
        tgt, o = where
        frac = min(1.0, (elapsed + 1) / self.ramp_months)
        # ramp from the scenario's value (not from what another build-out reached), and keep the
        # larger of the build-outs: the result does not depend on the order of the policies
        base = (state.infrastructure if state.infrastructure0 is None else state.infrastructure0)[tgt, o]
        state.infrastructure[tgt, o] = np.maximum(state.infrastructure[tgt, o], base + (self.level - base) * frac)


@register
class ModelBan(Policy):
    """Nations ban models: in the targets (the issuer alone when empty), communities of the
    ``sectors`` (all when empty) may not use the ``vendors`` nor any vendor from ``origins``.
    A community whose model is banned must choose again that month."""

    type: Literal["model_ban"] = "model_ban"
    writes: ClassVar[tuple[str, ...]] = ("available",)
    vendors: list[str] = Field(default_factory=list)
    origins: list[str] = Field(default_factory=list)
    sectors: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _what(self):
        if not self.vendors and not self.origins:
            raise ValueError("a model_ban needs 'vendors' or 'origins' (what is banned)")
        return self

    def effect_key(self, elapsed):
        return 0

    def resolve(self, idx):
        nations = self.target_nations(idx, default_all=False)
        sectors = idx.sector_idx(self.sectors) if self.sectors else np.arange(len(idx.sectors))
        vendors = np.union1d(idx.vendor_idx(self.vendors), idx.vendors_of_origins(self.origins))
        return allowed_mask(idx, nations, sectors, vendors)

    def act(self, state, where, elapsed):
        state.available &= where


@register
class ServiceRestriction(Policy):
    """The issuer's vendors (or only ``vendors``) refuse service to the targets, for the
    ``sectors`` (all when empty)."""

    type: Literal["service_restriction"] = "service_restriction"
    writes: ClassVar[tuple[str, ...]] = ("available",)
    vendors: list[str] = Field(default_factory=list)
    sectors: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _targets(self):
        if not self.targets:
            raise ValueError("a service_restriction needs 'targets' (the nations refused)")
        return self

    def effect_key(self, elapsed):
        return 0

    def resolve(self, idx):
        nations = idx.nation_idx(self.targets)
        own = idx.vendors_of_origins([self.issuer])
        vendors = np.intersect1d(own, idx.vendor_idx(self.vendors)) if self.vendors else own
        sectors = idx.sector_idx(self.sectors) if self.sectors else np.arange(len(idx.sectors))
        return allowed_mask(idx, nations, sectors, vendors)

    def act(self, state, where, elapsed):
        state.available &= where


@register
class TrustShock(Policy):
    """A step change ``delta`` in the targets' (all nations when empty) trust in models of
    ``origin``, decaying with ``half_life`` months (permanent while in force when omitted):
    ``trust += delta · 0.5^(elapsed / half_life)``, clipped to [0, 1]."""

    type: Literal["trust_shock"] = "trust_shock"
    writes: ClassVar[tuple[str, ...]] = ("trust",)
    issuer_required: ClassVar[bool] = False
    origin: str
    delta: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]
    half_life: Annotated[float, Field(gt=0.0, le=1200.0, allow_inf_nan=False)] | None = None

    def effect_key(self, elapsed):
        return 0 if self.half_life is None else elapsed

    def resolve(self, idx):
        return self.target_nations(idx), idx.nation_pos[self.origin]

    def act(self, state, where, elapsed):
        tgt, o = where
        decay = 1.0 if self.half_life is None else 0.5 ** (elapsed / self.half_life)
        state.trust[tgt, o] = np.clip(state.trust[tgt, o] + self.delta * decay, 0.0, 1.0)


@register
class ComputeInvestment(Policy):
    """The issuer invests in AI compute: its vendors' flow of new compute is multiplied by
    ``(1 + annual_growth)^(months/12)`` (growth above the world trend), and its domestic
    accelerator supply rises by ``domestic_gain`` per year (a separate additive term: export
    controls multiply imports, ``chip_access``, and never cut it); the level reached stays after
    ``end``. Both effects commute with every other policy."""

    type: Literal["compute_investment"] = "compute_investment"
    writes: ClassVar[tuple[str, ...]] = ("compute_mult", "domestic")
    persistent: ClassVar[bool] = True
    annual_growth: Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)] = 0.5
    domestic_gain: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.0

    def resolve(self, idx):
        return idx.nation_pos[self.issuer]

    def act(self, state, me, elapsed):
        years = (elapsed + 1) / 12.0
        state.compute_mult[me] *= (1.0 + self.annual_growth) ** years
        state.domestic[me] += self.domestic_gain * years


@register
class PriceChange(Policy):
    """The hosted price of ``vendors`` (and of every vendor from ``origins``) is multiplied by
    ``factor`` in the targets (every nation when empty): a tariff, a price war, a subsidy."""

    type: Literal["price_change"] = "price_change"
    writes: ClassVar[tuple[str, ...]] = ("price_mult",)
    issuer_required: ClassVar[bool] = False
    vendors: list[str] = Field(default_factory=list)
    origins: list[str] = Field(default_factory=list)
    factor: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _what(self):
        if not self.vendors and not self.origins:
            raise ValueError("a price_change needs 'vendors' or 'origins'")
        return self

    def effect_key(self, elapsed):
        return 0

    def resolve(self, idx):
        vendors = np.union1d(idx.vendor_idx(self.vendors), idx.vendors_of_origins(self.origins))
        return factor_matrix((len(idx.nations), len(idx.vendors)), self.target_nations(idx), vendors, self.factor)

    def act(self, state, factors, elapsed):
        state.price_mult *= factors


@register
class Education(Policy):
    """AI-skills programmes: the first-adoption (innovation) term of the targets (every nation
    when empty) is multiplied by ``factor``."""

    type: Literal["education"] = "education"
    writes: ClassVar[tuple[str, ...]] = ("education",)
    issuer_required: ClassVar[bool] = False
    factor: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)] = 1.5

    def effect_key(self, elapsed):
        return 0

    def resolve(self, idx):
        return self.target_nations(idx)

    def act(self, state, tgt, elapsed):
        state.education[tgt] *= self.factor


@register
class LicenseChange(Policy):
    """The ``vendors`` change licence while in force: ``license = "open"`` publishes their
    weights, ``"closed"`` withdraws them (new versions only through an API)."""

    type: Literal["license_change"] = "license_change"
    writes: ClassVar[tuple[str, ...]] = ("open_release", "close_release")
    issuer_required: ClassVar[bool] = False
    vendors: list[str] = Field(min_length=1)
    license: Literal["open", "closed"]

    def effect_key(self, elapsed):
        return 0

    def resolve(self, idx):
        return idx.vendor_idx(self.vendors)

    def act(self, state, vendors, elapsed):
        target = state.open_release if self.license == "open" else state.close_release
        target[vendors] = True
