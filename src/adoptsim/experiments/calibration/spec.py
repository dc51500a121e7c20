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
    # kind = "smc": ABC-SMC (see .smc): algorithm = "mcmc" (or "pmc"), population = 200,
    # generations = 4, quantile = 0.5, final_epsilon = 0, min_acceptance = 0.02,
    # kernel_scale (default: pmc 2, mcmc 2.38^2 / number of parameters)
    priors = "priors.toml"                    # optional: a prior file (see .priors) ...
    [[parameters]]                            # ... and/or parameters given here
    path = "adoption.revision_rate"           # a factor path as in sweeps (adoptsim.experiments.paths)
    range = [0.05, 0.40]                      # prior: uniform on the range
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ...core.schema import Scenario, parse_scenario
from ...errors import InputError, Problem
from ...io.scenario_files import load_raw, read_bytes_bounded, read_toml
from ...months import YearMonth, format_month, parse_month
from ..paths import valid_paths
from ..spec import Strict, check_range, named_file, validated
from .priors import parameter_problems, read_priors
from .targets import TARGET_METRICS, Target, calibration_targets, load_target_file, target_reference_problems


class Parameter(Strict):
    path: str = Field(min_length=1)
    range: list[float] = Field(min_length=2, max_length=2)

    @field_validator("range")
    @classmethod
    def _order(cls, v):
        return check_range(v)


class Method(Strict):
    kind: Literal["rejection", "smc"] = "rejection"
    algorithm: Literal["mcmc", "pmc"] = "mcmc"  # smc: resample-move (Del Moral) or importance weights (Beaumont)
    # ABC-SMC (kind = "smc"; adoptsim.experiments.calibration.smc)
    population: Annotated[int, Field(ge=4, le=100_000)] = 200
    generations: Annotated[int, Field(ge=1, le=100)] = 4
    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.5
    final_epsilon: Annotated[float, Field(ge=0)] = 0.0
    min_acceptance: Annotated[float, Field(gt=0, le=1)] = 0.02
    kernel_scale: Annotated[float, Field(gt=0, le=10)] | None = None  # default: pmc 2, mcmc 2.38^2 / d
    # ABC rejection (kind = "rejection")
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
    priors: str | None = None
    method: Method = Field(default_factory=Method)
    parameters: list[Parameter] = Field(default_factory=list)


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
    parameters: list = field(default_factory=list)  # the fitted parameters: the priors, then [[parameters]]
    priors_file: Path | None = None

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.parameters]

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
    if spec.priors is None and not spec.parameters:
        raise InputError([Problem(file, "parameters", "give the parameters to fit: [[parameters]] (path, range) "
                                  "or priors = \"priors.toml\" (a prior file)")])
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
    tfile = load_target_file(tpath)
    all_targets = tfile.targets
    targets = [t for t in calibration_targets(tfile) if t.weight > 0]
    if not targets:
        raise InputError([Problem(str(tpath), "targets", "no target has use = true and a weight > 0"
                                  + (f" up to the calibration window's end {tfile.calibration_window}"
                                     if tfile.calibration_window else ""))])
    raw = load_raw(scen_path)
    base = parse_scenario(raw, str(scen_path))
    locators = valid_paths(base)
    horizon, problems = _horizon(spec, base, targets, file)
    problems += target_reference_problems(all_targets, base, str(tpath))
    seen: set[str] = set()
    parameters, priors_file, integer = [], None, {}
    if spec.priors is not None:
        pr = read_priors(named_file(path, file, "priors", spec.priors))
        priors_file = Path(pr.file)
        found, integer = parameter_problems(pr.spec.priors, raw, base, locators, pr.file, "priors", seen)
        problems += found
        parameters += pr.spec.priors
    found, more = parameter_problems(spec.parameters, raw, base, locators, file, "parameters", seen)
    problems += found
    integer.update(more)
    parameters += spec.parameters
    if problems:
        raise InputError(problems)
    cut = cut_to_horizon(raw, base, horizon)
    return Calibration(file=file, spec=spec, scenario_file=scen_path, targets_file=tpath, targets=targets,
                       all_targets=all_targets, raw=cut, base=base, locators=locators, integer=integer,
                       horizon=horizon, text=read_bytes_bounded(path, file).decode("utf-8"),
                       parameters=parameters, priors_file=priors_file)
