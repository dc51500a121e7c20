"""Experiment files: their schema and the loaded :class:`Experiment` (docs/experiments.md).

An **experiment file** names a base scenario, a design over factors and how many replicates to
run of every design point::

    description = "Export-control severity x weight of trust"
    scenario = "../scenarios/baseline.toml"   # relative to this file
    replicates = 10
    seed = 2025
    metrics = ["adoption", "share_origin"]     # metrics kept in every run's shard
    dates = ["2027-12"]                        # summary dates besides each run's final month
    [design]
    method = "grid"                            # grid | list | lhs | sobol | oat
    samples = 64                               # lhs and sobol only
    [[factors]]
    path = "policies.chip_ban.chip_access"     # any scalar field of the resolved scenario
    values = [0.1, 0.5, 0.9]                   # or range = [lo, hi] (lhs, sobol)

Loading and checking is :func:`adoptsim.experiments.loader.load_experiment`; designs are in
:mod:`adoptsim.experiments.designs`, factor paths in :mod:`adoptsim.experiments.paths`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..core.checks import indexed_problems
from ..core.schema import Scenario, parse_scenario
from ..errors import InputError, Problem
from ..months import YearMonth
from .paths import apply_point

DEFAULT_METRICS = ("adoption", "share_license", "share_origin", "share_vendor")
Scalar = bool | int | float | str


class Strict(BaseModel):
    """A schema of an input file: unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


def check_range(v: list[float] | None) -> list[float] | None:
    """A ``range = [lo, hi]``: finite with lo < hi (None passes)."""
    if v is not None and not (math.isfinite(v[0]) and math.isfinite(v[1]) and v[0] < v[1]):
        raise ValueError(f"expected [lo, hi] with finite lo < hi, got {list(v)}")
    return v


class Factor(Strict):
    path: str = Field(min_length=1)
    values: list[Scalar] | None = Field(default=None, min_length=1)
    range: list[float] | None = Field(default=None, min_length=2, max_length=2)

    @field_validator("range")
    @classmethod
    def _order(cls, v):
        return check_range(v)


class Design(Strict):
    method: Literal["grid", "list", "lhs", "sobol", "oat"] = "grid"
    samples: Annotated[int, Field(ge=1, le=10_000_000)] | None = None


class ExperimentSpec(Strict):
    description: str = ""
    scenario: str = Field(min_length=1)
    replicates: Annotated[int, Field(ge=1, le=100_000)] = 10
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), min_length=1)
    dates: list[YearMonth] = Field(default_factory=list)
    design: Design = Field(default_factory=Design)
    factors: list[Factor] = Field(default_factory=list)


@dataclass
class Experiment:
    """A loaded and validated experiment."""

    file: str
    spec: ExperimentSpec
    scenario_file: Path
    raw: dict  # merged raw base scenario
    base: Scenario
    locators: dict[str, tuple]
    points: list[dict[str, Any]]  # design points, path -> value, in design order
    text: str = ""

    @property
    def name(self) -> str:
        return Path(self.file).stem

    @property
    def factor_paths(self) -> list[str]:
        return [f.path for f in self.spec.factors]

    def point_scenario(self, i: int) -> Scenario:
        label = f"{self.file} (point {i}: {self.points[i]})"
        return parse_scenario(apply_point(self.raw, self.locators, self.points[i]), label)


def validated(data: dict, model: type[BaseModel], file: str, problems: list[Problem] = ()):
    """``data`` validated by ``model``; else one InputError with ``problems`` and every field's problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(list(problems) + indexed_problems(exc, file, model)) from None


def named_file(path: Path, file: str, field: str, name: str, problems: list[Problem] = ()) -> Path:
    """The file an input file names in ``field`` (relative to it), which must exist."""
    target = Path(path).parent / name
    if not target.exists():
        raise InputError(list(problems) + [Problem(file, field, f"file not found: {name!r} (looked for {target})")])
    return target
