"""The scenario schema (pydantic) and its validation.

A scenario (docs/scenarios.md) is read from TOML by :mod:`adoptsim.io.scenario_files`, which
also resolves ``extends``; :func:`parse_scenario` then validates the merged data: every field
strictly (unknown keys are errors, with a did-you-mean), then every reference (origins, trust
keys, policy issuers, targets, vendors, sectors) and every range.

All problems are collected and raised together as one :class:`~adoptsim.errors.InputError`,
each rendered ``file: path.to.field: message``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError, Problem, did_you_mean
from ..months import YearMonth, format_month, parse_month
from .checks import problems_from, pydantic_message
from .policies import REGISTRY, Policy

Finite = Annotated[float, Field(allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Ident = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$", max_length=64)]

WEIGHTS = ("capability", "cost", "trust", "sovereignty", "infrastructure", "ecosystem", "peer", "inertia")
CRITICAL_SECTORS = ("government", "health")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Meta(_Strict):
    name: str = "unnamed"
    description: str = ""
    start: YearMonth = "2025-01"
    months: Annotated[int, Field(ge=1, le=1200)] = 72
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 7
    # the posterior ensemble this scenario runs over (docs/experiments.md, "Ensembles"): a path
    # relative to the file that declares it, made absolute by the loader (adoptsim.io); the core
    # never reads it. Not part of the digest: it names where the parameters come from, not a rule.
    ensemble: str | None = None


class Adoption(_Strict):
    """Bass first adoption and revision."""

    p: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.01  # innovation, per month
    q: Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)] = 0.3  # imitation, per month
    revision_rate: Unit = 0.05  # probability an adopter reconsiders in a month
    initial: Unit = 0.0  # share of communities already adopted at the start


class Choice(_Strict):
    """Weights of the logit utility (docs/model.md) and its temperature."""

    temperature: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)] = 1.0
    capability: Finite = 0.1
    cost: Finite = 0.5
    trust: Finite = 1.0
    sovereignty: Finite = 0.5
    infrastructure: Finite = 0.5
    ecosystem: Finite = 0.1
    peer: Finite = 1.0
    inertia: Finite = 1.0
    # nested logit (adoptsim.core.market): nest structure, one dissimilarity parameter per level
    nests: Literal["origin_license", "origin", "license", "none"] = "origin_license"
    nest_lambda: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | list[
        Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]] = 1.0
    # trust in an origin a nation does not list; None: an unlisted vendor origin is an error
    default_trust: Unit | None = None
    # infrastructure presence of self-hosting (own hardware), same units as nations' infrastructure
    self_host_infrastructure: Finite = 1.0

    def nest_lambdas(self) -> list[float]:
        """The dissimilarity parameter of each nest level, top level first (empty for "none")."""
        levels = {"origin_license": 2, "origin": 1, "license": 1, "none": 0}[self.nests]
        lam = self.nest_lambda
        if not levels:
            return []  # the plain logit: nest_lambda is not used
        return [float(lam)] * levels if isinstance(lam, float) else [float(x) for x in lam]


class Network(_Strict):
    kind: Literal["complete", "regional", "small_world"] = "regional"
    degree: Annotated[int, Field(ge=1, le=1000)] = 8
    cross_border: Unit = 0.1  # regional: share of ties outside the own nation
    same_region: Unit = 0.5  # regional: of those, the share that stays in the own region
    rewire: Unit = 0.1  # small_world: Watts-Strogatz rewiring probability


class Communities(_Strict):
    per_nation: Annotated[int, Field(ge=1, le=1_000_000)] = 20


#: The named views of usage (docs/model.md, "Views"): what OpenRouter sees (tokens of
#: price-sensitive developers and startups), what Hugging Face sees (downloads of models), what
#: enterprises use (enterprise workloads, tokens).
VIEWS = ("openrouter", "huggingface", "enterprise")


class Platforms(_Strict):
    """A sector's platform mix: how much of a developer's use each view sees (relative units;
    0 = the view does not see the sector). Default: every view sees every sector alike."""

    openrouter: NonNeg = 1.0
    huggingface: NonNeg = 1.0
    enterprise: NonNeg = 1.0


class Sector(_Strict):
    """A sector: its share of each nation's developers and multipliers of the [choice] weights;
    its tokens per developer and platform mix weight the views (``view_share``)."""

    share: Unit
    critical: bool | None = None  # counted in critical_dependency; default: government, health
    capability: NonNeg = 1.0
    cost: NonNeg = 1.0
    trust: NonNeg = 1.0
    sovereignty: NonNeg = 1.0
    infrastructure: NonNeg = 1.0
    ecosystem: NonNeg = 1.0
    peer: NonNeg = 1.0
    inertia: NonNeg = 1.0
    requires_self_host: bool = False  # data residency: only self-hosted open weights allowed
    tokens: Positive = 1.0  # tokens per developer relative to other sectors (weights the token views)
    platforms: Platforms = Field(default_factory=Platforms)  # what each view sees of the sector


class Dynamics(_Strict):
    """World parameters of vendor dynamics and self-hosting (see docs/model.md)."""

    frontier_gap: NonNeg = 10.0  # capability reachable at start with the largest effective compute, above the best released
    compute_growth: NonNeg = 0.0  # world AI compute grows (1 + g) per year; labs add their share of the new chips
    compute_returns: NonNeg = 3.0  # capability points per e-fold of effective compute (log production function)
    efficiency_growth: NonNeg = 0.2  # per-year log growth of algorithmic efficiency common to all labs
    train_smarter: NonNeg = 0.5  # extra efficiency growth per year at zero chip supply
    spillover_open: NonNeg = 1.0  # per year: share of the log-efficiency gap to the best released open vendor closed
    spillover_closed: NonNeg = 0.2  # per year: the same toward the best closed (or unreleased) vendor
    price_share_response: Finite = 0.0  # per-year log price response to relative share (clipped ±1)
    derivative_rate: NonNeg = 1.0  # derivatives per 1,000 adopting developer-months (open)
    self_host_cost: Positive = 2.0  # USD / M tokens to self-host with full compute access
    self_host_penalty: NonNeg = 2.0  # log cost penalty at zero chip access
    hardware_cost_decline: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)] = 0.0  # per year
    tokens_per_developer: NonNeg = 1.0  # M tokens per developer per month (revenue)
    switch_after: Annotated[int, Field(ge=0, le=1200)] = 12  # months before strategy switches


class NationSpec(_Strict):
    """One ``[[nations]]`` entry."""

    id: Ident
    name: str = ""
    region: str = "World"
    developers: Positive
    gdp_per_capita: Positive = 10_000.0
    compute: NonNeg = 0.0
    chip_access: Unit = 1.0
    domestic_chips: Unit = 0.0  # domestic accelerator supply, share of full frontier-chip access
    optimism: Unit = 0.5
    sovereignty: Unit = 0.0
    trust: dict[str, Unit] = Field(default_factory=dict)  # per origin; missing: [choice] default_trust
    infrastructure: dict[str, Unit] = Field(default_factory=dict)  # per origin; missing: 0


class Product(_Strict):
    """A further product of a vendor (a cheap tier, a separate open release); the vendor's own
    fields describe its flagship. Capability = the vendor's capability + ``capability_offset``."""

    id: Ident
    name: str = ""
    license: Literal["open", "closed"] | None = None  # default: the vendor's base licence
    price: Positive
    price_decline: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)] | None = None  # default: vendor's
    capability_offset: Finite = 0.0
    available_from: YearMonth | None = None  # default: the vendor's


class VendorSpec(_Strict):
    """One ``[[vendors]]`` entry; its own fields describe its flagship product."""

    id: Ident
    name: str = ""
    origin: str
    license: Literal["open", "closed"]
    capability: NonNeg
    price: Positive
    compute: NonNeg = 1.0
    efficiency: Positive = 1.0
    fine_tunability: NonNeg = 1.0  # relative ease of fine-tuning the family (e.g. sizes one can fine-tune)
    license_permissiveness: Unit = 1.0  # 1 = permissive (Apache/MIT), lower for restrictive licences
    capability_growth: NonNeg = 0.0
    price_decline: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)] = 0.0
    derivatives: NonNeg = 0.0
    available_from: YearMonth | None = None
    open_below_share: Unit | None = None  # closed vendor opens its weights below this share
    close_above_share: Unit | None = None  # open vendor closes its weights above this share
    products: list[Product] = Field(default_factory=list)  # further products (the flagship is the vendor)


class Scenario(_Strict):
    meta: Meta = Field(default_factory=Meta)
    adoption: Adoption = Field(default_factory=Adoption)
    choice: Choice = Field(default_factory=Choice)
    network: Network = Field(default_factory=Network)
    communities: Communities = Field(default_factory=Communities)
    dynamics: Dynamics = Field(default_factory=Dynamics)
    sectors: dict[Ident, Sector] = Field(default_factory=lambda: {"general": Sector(share=1.0)})
    nations: list[NationSpec] = Field(min_length=1)
    vendors: list[VendorSpec] = Field(min_length=1)
    policies: list[Any] = Field(default_factory=list)  # validated against the registry

    # ---- convenience -------------------------------------------------------------------
    @property
    def start_month(self) -> int:
        return parse_month(self.meta.start)

    @property
    def end_month(self) -> int:
        """Last simulated month (inclusive)."""
        return self.start_month + self.meta.months - 1

    def sector_is_critical(self, name: str) -> bool:
        s = self.sectors[name]
        return s.critical if s.critical is not None else name in CRITICAL_SECTORS

    def to_dict(self) -> dict:
        """The resolved scenario as plain data (defaults filled, ``extends`` applied)."""
        d = self.model_dump(mode="python", exclude_none=True)
        d["policies"] = [p.model_dump(mode="python", exclude_none=True) for p in self.policies]
        return d

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def digest(self) -> str:
        """SHA-256 of the resolved scenario: identical scenarios have identical digests.
        ``meta.ensemble`` (where an ensemble of parameter sets lives, an absolute path once
        loaded) is left out: it changes no run of this scenario, and the digest must not depend
        on where the repository is checked out."""
        d = self.to_dict()
        d["meta"].pop("ensemble", None)
        return hashlib.sha256(tomli_w.dumps(d).encode()).hexdigest()


# ---- validation ----------------------------------------------------------------------------

def _validate_policy(entry: Any, i: int, file: str) -> tuple[Policy | None, list[Problem]]:
    name = entry.get("name") if isinstance(entry, dict) else None
    label = f"policies.{name}" if isinstance(name, str) and name else f"policies[{i}]"
    if not isinstance(entry, dict):
        return None, [Problem(file, label, "expected a [[policies]] table")]
    kind = entry.get("type")
    if not isinstance(kind, str) or kind not in REGISTRY:
        hint = did_you_mean(str(kind), sorted(REGISTRY), cutoff=0.5)
        what = "missing policy 'type'" if kind is None else f"unknown policy type {kind!r}"
        return None, [Problem(file, f"{label}.type", what + hint)]
    cls = REGISTRY[kind]
    try:
        return cls.model_validate(entry), []
    except ValidationError as exc:
        probs = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc)
            probs.append(Problem(file, f"{label}.{field}" if field else label,
                                 pydantic_message(err, list(cls.model_fields))))
        return None, probs


def _check_references(s: Scenario, file: str) -> list[Problem]:
    probs: list[Problem] = []

    def dupes(items, what):
        seen = set()
        for x in items:
            if x in seen:
                probs.append(Problem(file, what, f"duplicate id {x!r}"))
            seen.add(x)

    dupes([n.id for n in s.nations], "nations")
    dupes([v.id for v in s.vendors], "vendors")
    dupes([p.name for p in s.policies], "policies")
    nations = {n.id for n in s.nations}
    vendors = {v.id for v in s.vendors}
    sectors = set(s.sectors)

    def unknown(where, kind, ident):
        pool = {"nation": nations, "vendor": vendors, "sector": sectors}[kind]
        hint = did_you_mean(str(ident), sorted(pool), cutoff=0.5, list_all=False)
        probs.append(Problem(file, where, f"unknown {kind} {ident!r}{hint}"))

    for v in s.vendors:
        if v.origin not in nations:
            unknown(f"vendors.{v.id}.origin", "nation", v.origin)
        dupes([p.id for p in v.products], f"vendors.{v.id}.products")
    lam = s.choice.nest_lambdas()
    want = {"origin_license": 2, "origin": 1, "license": 1, "none": 0}[s.choice.nests]
    if want and isinstance(s.choice.nest_lambda, list) and len(lam) != want:
        probs.append(Problem(file, "choice.nest_lambda",
                             f"nests = {s.choice.nests!r} has {want} level(s); give one value or a list of {want}"))
    elif any(lo > hi for hi, lo in zip(lam, lam[1:])):
        probs.append(Problem(file, "choice.nest_lambda", f"a lower nest level's lambda may not exceed the level "
                             f"above it (got {lam}; McFadden's condition for a random-utility model)"))
    if s.choice.default_trust is None:
        origins = sorted({v.origin for v in s.vendors})
        for n in s.nations:
            missing = [o for o in origins if o not in n.trust]
            if missing:
                probs.append(Problem(file, f"nations.{n.id}.trust",
                                     f"no trust in vendor origin(s) {', '.join(missing)}: list them, or set an "
                                     "explicit [choice] default_trust"))
    for n in s.nations:
        for table in ("trust", "infrastructure"):
            for origin in getattr(n, table):
                if origin not in nations:
                    unknown(f"nations.{n.id}.{table}.{origin}", "nation", origin)
    total = sum(sec.share for sec in s.sectors.values())
    if abs(total - 1.0) > 1e-6:
        probs.append(Problem(file, "sectors", f"sector shares must sum to 1, they sum to {total:.6g}"))
    if not s.sectors:
        probs.append(Problem(file, "sectors", "at least one sector is needed"))
    first, last = s.start_month, s.end_month
    for p in s.policies:
        if not first <= p.start_month <= last:
            probs.append(Problem(file, f"policies.{p.name}.start",
                                 f"{p.start} is outside the horizon {format_month(first)}..{format_month(last)}"))
        for where, kind, ident in p.references():
            pool = {"nation": nations, "vendor": vendors, "sector": sectors}[kind]
            if ident not in pool:
                unknown(f"policies.{p.name}.{where}", kind, ident)
    return probs


def parse_scenario(raw: dict, file: str = "<scenario>") -> Scenario:
    """Validate merged scenario data; raise one InputError listing every problem."""
    if not isinstance(raw, dict):
        raise InputError([Problem(file, "", "expected a TOML document")])
    raw = dict(raw)
    raw.pop("extends", None)
    policies_raw = raw.pop("policies", [])
    problems: list[Problem] = []
    scenario = None
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems += problems_from(exc, file, raw, Scenario)
    policies = []
    if not isinstance(policies_raw, list):
        problems.append(Problem(file, "policies", "expected an array of [[policies]] tables"))
        policies_raw = []
    for i, entry in enumerate(policies_raw):
        pol, probs = _validate_policy(entry, i, file)
        problems += probs
        if pol is not None:
            policies.append(pol)
    if scenario is not None and not problems:
        scenario = scenario.model_copy(update={"policies": policies})
        problems += _check_references(scenario, file)
    if problems:
        raise InputError(problems)
    return scenario
