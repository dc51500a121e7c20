"""Calibration specs: schema, loading and checks (docs/experiments.md).

``adoptsim calibrate SPEC --out DIR`` reads a **calibration spec**::

    description = "Baseline: behavioural weights and Qwen's growth against the usage targets"
    scenario = "../scenarios/baseline.toml"   # relative to this file
    targets = "targets.toml"                  # target file (see .targets), relative to this file
    replicates = 2                            # replicates per parameter sample
    seed = 2025                               # replicate r of every sample uses the same seed
    horizon = "2025-12"                       # optional: runs stop here (default: last target month)
    [method]
    samples = 160                             # Latin hypercube points over the parameter ranges
    accept = "bands"                          # or "closest"
    fraction = 0.1                            # "closest" (or fallback): the closest fraction
    min_accepted = 8                          # "bands" falls back to "closest" below this count
    refine = false                            # Nelder-Mead on the distance (common random numbers)
    refine_iterations = 40
    check_replicates = 10                     # replicates of the calibrated scenario in the check
    [[parameters]]
    path = "adoption.revision_rate"           # a factor path as in sweeps (adoptsim.experiments.paths)
    range = [0.05, 0.40]                      # prior: uniform on the range
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ...core.schema import Scenario, parse_scenario
from ...errors import InputError, Problem
from ...io.scenario_files import load_raw, read_bytes_bounded, read_toml
from ...months import YearMonth, format_month, parse_month
from ..paths import (check_factor_values, current_value, integer_range_problems, is_integer_field, nearest_paths,
                     valid_paths, whole_range)
from ..spec import Strict, check_range, named_file, validated
from .targets import TARGET_METRICS, Target, load_targets, target_reference_problems


class Parameter(Strict):
    path: str = Field(min_length=1)
    range: list[float] = Field(min_length=2, max_length=2)

    @field_validator("range")
    @classmethod
    def _order(cls, v):
        return check_range(v)


class Method(Strict):
    samples: Annotated[int, Field(ge=2, le=1_000_000)] = 128
    accept: Literal["bands", "closest"] = "bands"
    fraction: Annotated[float, Field(gt=0, le=1)] = 0.1
    min_accepted: Annotated[int, Field(ge=1)] = 8
    refine: bool = False
    refine_iterations: Annotated[int, Field(ge=1, le=10_000)] = 40
    check_replicates: Annotated[int, Field(ge=1, le=10_000)] = 10


class CalibrationSpec(Strict):
    description: str = ""
    scenario: str = Field(min_length=1)
    targets: str = Field(min_length=1)
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 2
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    horizon: YearMonth | None = None
    method: Method = Field(default_factory=Method)
    parameters: list[Parameter] = Field(min_length=1)


@dataclass
class Calibration:
    file: str
    spec: CalibrationSpec
    scenario_file: Path
    targets_file: Path
    targets: list[Target]  # the used ones
    all_targets: list[Target]
    raw: dict  # merged raw base scenario, horizon applied
    base: Scenario  # the base scenario (full horizon)
    locators: dict[str, tuple]
    integer: dict[str, bool]
    horizon: str
    text: str = ""

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.spec.parameters]

    @property
    def metrics(self) -> list[str]:
        """The metrics the runs must keep to compute every target."""
        out = list(TARGET_METRICS) if any(t.quantity for t in self.targets) else []
        for t in self.targets:
            if t.metric and t.metric not in out:
                out.append(t.metric)
        return out


def _read(path: Path, file: str) -> tuple[CalibrationSpec, Path, Path]:
    """The validated spec and the paths of its scenario and target file (both must exist)."""
    spec = validated(read_toml(path, file), CalibrationSpec, file)
    scen_path = named_file(path, file, "scenario", spec.scenario)
    tpath = named_file(path, file, "targets", spec.targets)
    return spec, scen_path, tpath


def _horizon(spec: CalibrationSpec, base: Scenario, targets: list[Target], file: str
             ) -> tuple[str, list[Problem]]:
    """The last simulated month: the spec's ``horizon`` or the targets' last month."""
    last_needed = max(parse_month(t.range[1]) if t.kind == "month" else
                      (parse_month(t.when) if t.metric else base.start_month) for t in targets)
    if any(t.quantity in ("cn_open_share_2025_mean", "open_weight_share_2025_11") for t in targets):
        last_needed = max(last_needed, parse_month("2025-12" if any(t.quantity == "cn_open_share_2025_mean"
                                                                    for t in targets) else "2025-11"))
    if any(t.quantity == "cn_open_share_2024_12" for t in targets):
        last_needed = max(last_needed, parse_month("2024-12"))
    horizon = spec.horizon or format_month(min(last_needed, base.end_month))
    h = parse_month(horizon)
    if not base.start_month <= h <= base.end_month:
        return horizon, [Problem(file, "horizon", f"{horizon} is outside the scenario's horizon "
                                 f"{format_month(base.start_month)}..{format_month(base.end_month)}")]
    if h < last_needed:
        return horizon, [Problem(file, "horizon", f"{horizon} ends before the targets' last month "
                                 f"{format_month(last_needed)}")]
    return horizon, []


def _check_parameters(spec: CalibrationSpec, raw: dict, base: Scenario, locators: dict[str, tuple],
                      file: str) -> tuple[list[Problem], dict[str, bool]]:
    """Each parameter: a known numeric path (not ``meta.*``), given once, its range ends valid."""
    integer: dict[str, bool] = {}
    problems: list[Problem] = []
    seen = set()
    for i, p in enumerate(spec.parameters):
        where = f"parameters[{i}]"
        if p.path in seen:
            problems.append(Problem(file, f"{where}.path", f"parameter {p.path!r} is given twice"))
        seen.add(p.path)
        if p.path not in locators or p.path.startswith("meta."):
            problems.append(Problem(file, f"{where}.path", f"no scenario parameter {p.path!r}"
                                    + nearest_paths(p.path, sorted(k for k in locators if not k.startswith("meta.")))))
            continue
        cur = current_value(base, locators[p.path])
        if isinstance(cur, str) or isinstance(cur, bool):
            problems.append(Problem(file, f"{where}.path", f"{p.path} is not a number ({cur!r}); only numeric "
                                    "parameters can be fitted"))
            continue
        integer[p.path] = is_integer_field(base, locators[p.path])
        if integer[p.path] and integer_range_problems(p.range, file, f"{where}.range"):
            problems += integer_range_problems(p.range, file, f"{where}.range")
            continue
        ends = list(whole_range(*p.range)) if integer[p.path] else [float(value) for value in p.range]
        problems += check_factor_values(raw, locators, p.path, ends, file, f"{where}.range")
    return problems, integer


def cut_to_horizon(raw: dict, base: Scenario, horizon: str) -> dict:
    """The raw scenario stopped at ``horizon``: fewer months, and without the policies that start
    after it (known later policies are inputs of the full run; the model is causal, so they
    change no month up to the horizon)."""
    h = parse_month(horizon)
    cut = dict(raw)
    cut["meta"] = {**raw.get("meta", {}), "months": h - base.start_month + 1}
    if isinstance(raw.get("policies"), list):
        cut["policies"] = [p for p in raw["policies"]
                           if not (isinstance(p, dict) and isinstance(p.get("start"), str) and _after(p["start"], h))]
    return cut


def _after(month: str, h: int) -> bool:
    try:
        return parse_month(month) > h
    except ValueError:
        return False


def load_spec(path: str | Path) -> Calibration:
    """Load and validate a calibration spec and its target file."""
    path = Path(path)
    file = str(path)
    spec, scen_path, tpath = _read(path, file)
    all_targets = load_targets(tpath)
    targets = [t for t in all_targets if t.use and t.weight > 0]
    if not targets:
        raise InputError([Problem(str(tpath), "targets", "no target has use = true and a weight > 0")])
    raw = load_raw(scen_path)
    base = parse_scenario(raw, str(scen_path))
    locators = valid_paths(base)
    horizon, problems = _horizon(spec, base, targets, file)
    problems += target_reference_problems(all_targets, base, str(tpath))
    param_problems, integer = _check_parameters(spec, raw, base, locators, file)
    problems += param_problems
    if problems:
        raise InputError(problems)
    cut = cut_to_horizon(raw, base, horizon)
    return Calibration(file=file, spec=spec, scenario_file=scen_path, targets_file=tpath, targets=targets,
                       all_targets=all_targets, raw=cut, base=base, locators=locators, integer=integer,
                       horizon=horizon, text=read_bytes_bounded(path, file).decode("utf-8"))
