"""Loading an experiment file: schema, base scenario, factor paths and values, design
(docs/experiments.md). Every problem is collected and raised as one InputError."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import tomli_w

from ..core.metrics import METRICS
from ..core.schema import Scenario, parse_scenario
from ..errors import InputError, Problem, did_you_mean
from ..io.scenario_files import load_raw, read_bytes_bounded, read_toml
from ..months import format_month, parse_month
from .budget import Budget, check_runs
from .designs import SWEEP_SPAWN, grid_points, list_points, map_unit, oat_points, unit_design, unit_points
from .paths import check_factor_values, integer_range_problems, is_integer_field, nearest_paths, valid_paths
from .spec import Experiment, ExperimentSpec, named_file, validated


def read_spec(path: Path, file: str) -> tuple[ExperimentSpec, Path]:
    """The validated experiment schema and the path of its base scenario (which must exist)."""
    spec = validated(read_toml(path, file), ExperimentSpec, file)
    return spec, named_file(path, file, "scenario", spec.scenario)


def check_outputs(spec: ExperimentSpec, base: Scenario, file: str) -> list[Problem]:
    """The kept metrics must exist and the summary dates lie inside the scenario's horizon."""
    problems = []
    for i, m in enumerate(spec.metrics):
        if m not in METRICS:
            problems.append(Problem(file, f"metrics[{i}]", f"unknown metric {m!r}{did_you_mean(m, METRICS, 0.5)}"))
    first, last = base.start_month, base.end_month
    for i, d in enumerate(spec.dates):
        if not first <= parse_month(d) <= last:
            problems.append(Problem(file, f"dates[{i}]", f"{d} is outside the scenario's horizon "
                                                        f"{format_month(first)}..{format_month(last)}"))
    return problems


def check_factors(spec: ExperimentSpec, raw: dict, base: Scenario, locators: dict[str, tuple],
                  file: str) -> tuple[list[Problem], dict[str, bool]]:
    """Each factor: a known path, given once, with values or a range fit for the design, every
    value valid for its field. Returns the problems and which factors are whole numbers."""
    method = spec.design.method
    problems: list[Problem] = []
    seen = set()
    integer: dict[str, bool] = {}
    for i, f in enumerate(spec.factors):
        where = f"factors[{i}]"
        if f.path in seen:
            problems.append(Problem(file, f"{where}.path", f"factor {f.path!r} is given twice"))
        seen.add(f.path)
        if f.path not in locators:
            why = "meta.seed: seeds come from the experiment's 'seed'" if f.path == "meta.seed" else ""
            problems.append(Problem(file, f"{where}.path", f"no scenario field {f.path!r}"
                                    + (f" ({why})" if why else "") + nearest_paths(f.path, sorted(locators))))
            continue
        if (f.values is None) == (f.range is None):
            problems.append(Problem(file, where, "give exactly one of 'values' or 'range'"))
            continue
        if f.range is not None and method in ("grid", "list"):
            problems.append(Problem(file, f"{where}.range", f"design method {method!r} needs 'values'; "
                                    "'range' is for 'lhs' and 'sobol'"))
            continue
        integer[f.path] = is_integer_field(base, locators[f.path])
        if integer[f.path] and f.range is not None and integer_range_problems(f.range, file, f"{where}.range"):
            problems += integer_range_problems(f.range, file, f"{where}.range")
            continue
        trial = list(f.values) if f.values is not None else map_unit(np.array([0.0, 1.0 - 1e-12]), f,
                                                                      integer[f.path])
        label = f"{where}.values" if f.values is not None else f"{where}.range"
        problems += check_factor_values(raw, locators, f.path, trial, file, label)
    return problems, integer


def check_design(spec: ExperimentSpec, file: str) -> list[Problem]:
    """The design method's own rules: samples where needed, list lengths, OAT's three values."""
    method, problems = spec.design.method, []
    if method in ("grid", "list"):
        if spec.design.samples is not None:
            problems.append(Problem(file, "design.samples", f"'samples' is for 'lhs' and 'sobol', not {method!r}"))
        if method == "list" and spec.factors:
            lengths = {len(f.values or []) for f in spec.factors}
            if len(lengths) > 1:
                problems.append(Problem(file, "factors", "design 'list' zips the factors' values: they need "
                                        f"equal lengths, got {[len(f.values or []) for f in spec.factors]}"))
    elif method == "oat":
        if spec.design.samples is not None:
            problems.append(Problem(file, "design.samples", "'samples' is for 'lhs' and 'sobol', not 'oat'"))
        if not spec.factors:
            problems.append(Problem(file, "factors", "design 'oat' needs at least one [[factors]]"))
        for i, f in enumerate(spec.factors):
            if f.values is not None and len(f.values) != 3:
                problems.append(Problem(file, f"factors[{i}].values", "design 'oat' needs exactly 3 values "
                                        f"[low, central, high] (or a 'range'), got {len(f.values)}"))
    else:
        n = spec.design.samples
        if n is None:
            problems.append(Problem(file, "design.samples", f"design {method!r} needs 'samples' (number of points)"))
        elif method == "sobol" and n & (n - 1):
            lo = 1 << (n.bit_length() - 1)
            problems.append(Problem(file, "design.samples", f"Sobol' points are balanced only for powers of 2: "
                                    f"use {lo} or {lo * 2}, not {n}"))
        if not spec.factors:
            problems.append(Problem(file, "factors", f"design {method!r} needs at least one [[factors]]"))
    return problems


def design_size(spec: ExperimentSpec) -> int:
    """How many points the design has, computed from the spec before any point is generated."""
    fs, method = spec.factors, spec.design.method
    if not fs:
        return 1
    if method == "grid":
        return int(np.prod([len(f.values or []) for f in fs], dtype=object))
    if method == "list":
        return len(fs[0].values or [])
    if method == "oat":
        return 1 + 2 * len(fs)
    return int(spec.design.samples or 0)


def design_points(spec: ExperimentSpec, base: Scenario, locators: dict[str, tuple],
                  integer: dict[str, bool]) -> list[dict]:
    """The design points of a checked experiment, in design order."""
    fs, method = spec.factors, spec.design.method
    if not fs:
        return [{}]
    if method == "grid":
        return grid_points(fs)
    if method == "list":
        return list_points(fs)
    if method == "oat":
        return oat_points(fs, base, locators, integer)
    u = unit_design(method, len(fs), spec.design.samples, spec.seed, SWEEP_SPAWN)
    return unit_points(u, fs, integer)


def load_experiment(path: str | Path, budget: Budget | None = None) -> Experiment:
    """Load and validate an experiment file; raise one InputError listing every problem, or an
    AdoptsimError when its runs exceed ``budget.max_runs`` (checked before the design is built)."""
    path = Path(path)
    file = str(path)
    spec, scen_path = read_spec(path, file)
    raw = load_raw(scen_path)
    base = parse_scenario(raw, str(scen_path))
    locators = valid_paths(base)
    problems = check_outputs(spec, base, file)
    factor_problems, integer = check_factors(spec, raw, base, locators, file)
    problems += factor_problems + check_design(spec, file)
    if problems:
        raise InputError(problems)
    check_runs(f"{file}: {design_size(spec)} point(s) x {spec.replicates} replicate(s)",
               design_size(spec) * spec.replicates, budget)
    return Experiment(file=file, spec=spec, scenario_file=scen_path, raw=raw, base=base, locators=locators,
                      points=design_points(spec, base, locators, integer),
                      text=read_bytes_bounded(path, file).decode("utf-8"))


#: The name of the base scenario's resolved copy in a sweep folder (next to ``experiment.toml``).
RESOLVED_SCENARIO = "scenario.resolved.toml"


def portable_text(exp: Experiment) -> str:
    """The experiment as stored in its sweep folder: the file as given, with ``scenario`` pointing
    at the resolved copy beside it (:data:`RESOLVED_SCENARIO`), so that the folder re-runs on
    its own (``adoptsim rerun``) without absolute or ``../`` references."""
    raw = tomllib.loads(exp.text)
    raw["scenario"] = RESOLVED_SCENARIO
    head = (f"# {Path(exp.file).name} as given (its scenario {exp.spec.scenario!r} resolved into "
            f"{RESOLVED_SCENARIO} beside this file)\n")
    return head + tomli_w.dumps(raw)
