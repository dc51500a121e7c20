"""Policy types (scenario events) and their registry.

A policy is a ``[[policies]]`` entry of a scenario. Every policy has a unique ``name``, a
``type``, an ``issuer`` (a nation id), ``targets`` (nation ids), a ``start`` month and an
optional ``end`` month (exclusive: the first month in which it no longer acts), plus the
parameters of its type. Each type is one small class registered by name with
:func:`register`; it validates its own parameters (pydantic) and acts on the month's
:class:`~adoptsim.state.WorldState` in :meth:`Policy.apply`. Adding a type touches nothing
else.

Policies are pure functions of the month: ``apply(state, elapsed)`` receives the number of
months since ``start`` (0 in the first month). Most types act only while in force; types whose
effect is a built stock (``infrastructure_buildout``, ``compute_investment``) keep the level
reached at ``end`` afterwards (``persistent = True``).
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

    def apply(self, state: WorldState, idx: WorldIndex, elapsed: int) -> None:  # pragma: no cover
        raise NotImplementedError


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

    def apply(self, state, idx, elapsed):
        if self.targets:
            tgt = idx.nation_idx(self.targets)
            state.chip_access[tgt] *= self.chip_access
            state.domestic_mult[tgt] *= self.domestic
        for tier in self.tiers:
            state.chip_access[idx.nation_idx(tier.targets)] *= tier.chip_access


@register
class Retaliation(Policy):
    """Issuer answers the targets (nations): their ``chip_access`` is multiplied by
    ``chip_access`` (e.g. critical-mineral export bans), the targets' vendors are banned in the
    issuer for ``ban_sectors`` (``["*"]`` = every sector), and the issuer's trust in the targets'
    models shifts by ``trust_delta``."""

    type: Literal["retaliation"] = "retaliation"
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

    def apply(self, state, idx, elapsed):
        tgt = idx.nation_idx(self.targets)
        state.chip_access[tgt] *= self.chip_access
        me = idx.nation_pos[self.issuer]
        state.trust[me, tgt] = np.clip(state.trust[me, tgt] + self.trust_delta, 0.0, 1.0)
        if self.ban_sectors:
            sectors = (np.arange(len(idx.sectors)) if "*" in self.ban_sectors
                       else idx.sector_idx(self.ban_sectors))
            vendors = idx.vendors_of_origins(self.targets)
            state.available[me, sectors[:, None], vendors[None, :]] = False


@register
class OpenSourcePush(Policy):
    """Issuer backs open models: its open vendors' hosted price is cut by ``subsidy`` in the
    targets (every nation when empty), the vendors in ``releases`` publish open weights from
    ``start``, and the issuer's open vendors accumulate derivatives ``1 + derivatives_boost``
    times faster."""

    type: Literal["open_source_push"] = "open_source_push"
    subsidy: Annotated[float, Field(ge=0.0, le=0.95, allow_inf_nan=False)] = 0.0
    releases: list[str] = Field(default_factory=list)
    derivatives_boost: Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)] = 0.0

    def apply(self, state, idx, elapsed):
        if self.releases:
            state.open_release[idx.vendor_idx(self.releases)] = True
        own = idx.vendors_of_origins([self.issuer])
        state.derivative_mult[own] *= 1.0 + self.derivatives_boost
        if self.subsidy:
            tgt = self.target_nations(idx)
            state.open_price_mult[tgt[:, None], own[None, :]] *= 1.0 - self.subsidy


@register
class InfrastructureBuildout(Policy):
    """The issuer's clouds and data centres grow in the targets (partner nations): their
    ``infrastructure[target, issuer]`` rises linearly from its base value to at least ``level``
    over ``ramp_months``; what is built stays after ``end``."""

    type: Literal["infrastructure_buildout"] = "infrastructure_buildout"
    persistent: ClassVar[bool] = True
    level: Unit = 0.8
    ramp_months: Annotated[int, Field(ge=1, le=600)] = 24

    @model_validator(mode="after")
    def _targets(self):
        if not self.targets:
            raise ValueError("an infrastructure_buildout needs 'targets' (the partner nations)")
        return self

    def apply(self, state, idx, elapsed):
        tgt = idx.nation_idx(self.targets)
        o = idx.nation_pos[self.issuer]
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
    vendors: list[str] = Field(default_factory=list)
    origins: list[str] = Field(default_factory=list)
    sectors: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _what(self):
        if not self.vendors and not self.origins:
            raise ValueError("a model_ban needs 'vendors' or 'origins' (what is banned)")
        return self

    def apply(self, state, idx, elapsed):
        nations = self.target_nations(idx, default_all=False)
        sectors = idx.sector_idx(self.sectors) if self.sectors else np.arange(len(idx.sectors))
        vendors = np.union1d(idx.vendor_idx(self.vendors), idx.vendors_of_origins(self.origins))
        state.available[nations[:, None, None], sectors[None, :, None], vendors[None, None, :]] = False


@register
class ServiceRestriction(Policy):
    """The issuer's vendors (or only ``vendors``) refuse service to the targets, for the
    ``sectors`` (all when empty)."""

    type: Literal["service_restriction"] = "service_restriction"
    vendors: list[str] = Field(default_factory=list)
    sectors: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _targets(self):
        if not self.targets:
            raise ValueError("a service_restriction needs 'targets' (the nations refused)")
        return self

    def apply(self, state, idx, elapsed):
        nations = idx.nation_idx(self.targets)
        own = idx.vendors_of_origins([self.issuer])
        vendors = np.intersect1d(own, idx.vendor_idx(self.vendors)) if self.vendors else own
        sectors = idx.sector_idx(self.sectors) if self.sectors else np.arange(len(idx.sectors))
        state.available[nations[:, None, None], sectors[None, :, None], vendors[None, None, :]] = False


@register
class TrustShock(Policy):
    """A step change ``delta`` in the targets' (all nations when empty) trust in models of
    ``origin``, decaying with ``half_life`` months (permanent while in force when omitted):
    ``trust += delta · 0.5^(elapsed / half_life)``, clipped to [0, 1]."""

    type: Literal["trust_shock"] = "trust_shock"
    issuer_required: ClassVar[bool] = False
    origin: str
    delta: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]
    half_life: Annotated[float, Field(gt=0.0, le=1200.0, allow_inf_nan=False)] | None = None

    def apply(self, state, idx, elapsed):
        tgt = self.target_nations(idx)
        o = idx.nation_pos[self.origin]
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
    persistent: ClassVar[bool] = True
    annual_growth: Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)] = 0.5
    domestic_gain: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.0

    def apply(self, state, idx, elapsed):
        me = idx.nation_pos[self.issuer]
        years = (elapsed + 1) / 12.0
        state.compute_mult[me] *= (1.0 + self.annual_growth) ** years
        state.domestic[me] += self.domestic_gain * years


@register
class PriceChange(Policy):
    """The hosted price of ``vendors`` (and of every vendor from ``origins``) is multiplied by
    ``factor`` in the targets (every nation when empty): a tariff, a price war, a subsidy."""

    type: Literal["price_change"] = "price_change"
    issuer_required: ClassVar[bool] = False
    vendors: list[str] = Field(default_factory=list)
    origins: list[str] = Field(default_factory=list)
    factor: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _what(self):
        if not self.vendors and not self.origins:
            raise ValueError("a price_change needs 'vendors' or 'origins'")
        return self

    def apply(self, state, idx, elapsed):
        nations = self.target_nations(idx)
        vendors = np.union1d(idx.vendor_idx(self.vendors), idx.vendors_of_origins(self.origins))
        state.price_mult[nations[:, None], vendors[None, :]] *= self.factor


@register
class Education(Policy):
    """AI-skills programmes: the first-adoption (innovation) term of the targets (every nation
    when empty) is multiplied by ``factor``."""

    type: Literal["education"] = "education"
    issuer_required: ClassVar[bool] = False
    factor: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)] = 1.5

    def apply(self, state, idx, elapsed):
        state.education[self.target_nations(idx)] *= self.factor


@register
class LicenseChange(Policy):
    """The ``vendors`` change licence while in force: ``license = "open"`` publishes their
    weights, ``"closed"`` withdraws them (new versions only through an API)."""

    type: Literal["license_change"] = "license_change"
    issuer_required: ClassVar[bool] = False
    vendors: list[str] = Field(min_length=1)
    license: Literal["open", "closed"]

    def apply(self, state, idx, elapsed):
        target = state.open_release if self.license == "open" else state.close_release
        target[idx.vendor_idx(self.vendors)] = True
