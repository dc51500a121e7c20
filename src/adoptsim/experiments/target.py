"""Target-seeking (``adoptsim target``): the smallest value of one factor that makes a metric
reach a threshold by a date (docs/experiments.md).

A target experiment is an experiment file with one ``[[factors]]`` entry that has a ``range``
and a ``[target]`` table (its ``[design]`` table, if any, is not used)::

    scenario = "scenarios/open_push.toml"
    replicates = 8
    seed = 2027
    [[factors]]
    path = "policies.us_open_push_2026.subsidy"
    range = [0.0, 0.9]
    [target]
    metric = "share_license"      # any metric
    scope = "world"               # world | region | nation (default world)
    scope_id = "Latin America"    # region or nation id (not for world)
    key = "open"                  # the metric's key, if it has keys
    date = "2028-12"              # YYYY-MM: the month the threshold must be reached by
    threshold = 0.5
    direction = "above"           # above: mean >= threshold; below: mean <= threshold
    tolerance = 0.01              # stop when the bracket is this narrow (default range/100)
    max_iterations = 20           # bisection steps at most (after the two ends)

:func:`load_target` checks the file, :func:`find_target` runs the bisection into a work folder.
Writing the output folder (``target.json``, ``evaluations.<fmt>``, ``manifest.json``) and
drawing ``target.png`` is :mod:`adoptsim.workflows.target`; :func:`target_result`,
:func:`evaluations_table`, :func:`target_manifest` and :attr:`TargetProblem.title` give it
what to write.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator

from ..core import SCOPES
from ..core.checks import pydantic_message
from ..core.metrics import METRICS
from ..core.schema import Scenario, parse_scenario
from ..errors import AdoptsimError, InputError, Problem, did_you_mean
from ..io.manifest import build_manifest
from ..io.scenario_files import load_raw, read_bytes_bounded, read_toml
from ..io.tables import read_parquet
from ..months import YearMonth, format_month, parse_month
from .paths import (check_factor_values, current_value, integer_range_problems, is_integer_field,
                    metric_reference_problems, nearest_paths, valid_paths, whole_range)
from .runner import run_sweep
from .spec import Experiment, ExperimentSpec, Strict, named_file, validated


class TargetSpec(Strict):
    """The ``[target]`` table of a target experiment."""

    metric: str
    scope: Literal[SCOPES] = "world"
    scope_id: str | None = None
    key: str = ""
    date: YearMonth
    threshold: float
    direction: Literal["above", "below"] = "above"
    tolerance: Annotated[float, Field(gt=0)] | None = None
    max_iterations: Annotated[int, Field(ge=1, le=200)] = 20

    @field_validator("threshold")
    @classmethod
    def _finite(cls, v):
        if not np.isfinite(v):
            raise ValueError(f"expected a finite number, got {v}")
        return v


@dataclass
class TargetProblem:
    experiment: Experiment  # metrics = [metric], dates = [date], no points
    target: TargetSpec
    factor: str
    low: float
    high: float
    integer: bool

    @property
    def title(self) -> str:
        """The title of the target figure: experiment, metric [key], where, date."""
        t = self.target
        where = "world" if t.scope == "world" else f"{t.scope} {t.scope_id}"
        return f"{self.experiment.name}: {t.metric}{f'[{t.key}]' if t.key else ''}, {where}, {t.date}"


def _read_target_table(data: dict, file: str) -> tuple[TargetSpec | None, list[Problem]]:
    """Pop and validate the ``[target]`` table of the file's data."""
    raw_target = data.pop("target", None)
    if raw_target is None:
        return None, [Problem(file, "target", "missing [target] table (metric, date, threshold, ...)")]
    if not isinstance(raw_target, dict):
        return None, [Problem(file, "target", "expected a table [target]")]
    try:
        return TargetSpec.model_validate(raw_target), []
    except ValidationError as exc:
        return None, [Problem(file, "target." + ".".join(str(p) for p in err["loc"]),
                              pydantic_message(err, list(TargetSpec.model_fields))) for err in exc.errors()]


def _check_factor(spec: ExperimentSpec, raw: dict, base: Scenario, locators: dict, file: str
                  ) -> tuple[list[Problem], bool]:
    """The one factor: a known numeric path whose range ends give valid scenarios."""
    f = spec.factors[0]
    if f.path not in locators:
        return [Problem(file, "factors[0].path", f"no scenario field {f.path!r}"
                        + nearest_paths(f.path, sorted(locators)))], False
    problems = []
    cur = current_value(base, locators[f.path])
    if isinstance(cur, bool) or isinstance(cur, str):
        problems.append(Problem(file, "factors[0].path", f"{f.path} is not numeric"))
    integer = is_integer_field(base, locators[f.path])
    if integer and integer_range_problems(f.range, file, "factors[0].range"):
        return problems + integer_range_problems(f.range, file, "factors[0].range"), integer
    ends = list(whole_range(*f.range)) if integer else [float(v) for v in f.range]
    return problems + check_factor_values(raw, locators, f.path, ends, file, "factors[0].range"), integer


def _check_target(target: TargetSpec, base: Scenario, file: str) -> list[Problem]:
    """The target's metric, date (inside the horizon) and scope id."""
    problems = []
    if target.metric not in METRICS:
        problems.append(Problem(file, "target.metric", f"unknown metric {target.metric!r}"
                                + did_you_mean(target.metric, METRICS, 0.5)))
    month = parse_month(target.date)
    if not base.start_month <= month <= base.end_month:
        problems.append(Problem(file, "target.date", f"{target.date} is outside the scenario's horizon "
                                f"{format_month(base.start_month)}..{format_month(base.end_month)}"))
    known = {"world": ["world"], "region": sorted({n.region for n in base.nations}),
             "nation": sorted(n.id for n in base.nations)}[target.scope]
    if target.scope == "world":
        if target.scope_id not in (None, "world"):
            problems.append(Problem(file, "target.scope_id", "not used with scope = 'world'"))
    elif target.scope_id is None:
        problems.append(Problem(file, "target.scope_id", f"name the {target.scope} (one of: {', '.join(known)})"))
    elif target.scope_id not in known:
        problems.append(Problem(file, "target.scope_id", f"no {target.scope} {target.scope_id!r}; "
                                f"known: {', '.join(known)}"))
    if target.metric in METRICS:
        problems += metric_reference_problems(base, target.metric, target.scope, target.key, file, "target")
    return problems


def load_target(path: str | Path) -> TargetProblem:
    """Load a target experiment file: the experiment part is checked as for sweeps (scenario,
    seed, replicates, the factor's path and range), plus the ``[target]`` table; one
    InputError lists every problem."""
    path = Path(path)
    file = str(path)
    data = dict(read_toml(path, file))
    target, problems = _read_target_table(data, file)
    spec = validated(data, ExperimentSpec, file, problems)
    if len(spec.factors) != 1 or spec.factors[0].range is None:
        problems.append(Problem(file, "factors", "a target experiment needs exactly one [[factors]] entry, "
                                f"with a range = [lo, hi] (got {len(spec.factors)} factor(s))"))
    scen_path = named_file(path, file, "scenario", spec.scenario, problems)
    raw = load_raw(scen_path)
    base = parse_scenario(raw, str(scen_path))
    locators = valid_paths(base)
    integer = False
    if not problems:
        factor_problems, integer = _check_factor(spec, raw, base, locators, file)
        problems += factor_problems
    if target is not None:
        problems += _check_target(target, base, file)
    if problems:
        raise InputError(problems)
    f = spec.factors[0]
    lo, hi = whole_range(*f.range) if integer else tuple(map(float, f.range))
    spec = spec.model_copy(update={"metrics": [target.metric], "dates": [target.date]})
    exp = Experiment(file=file, spec=spec, scenario_file=scen_path, raw=raw, base=base, locators=locators,
                     points=[], text=read_bytes_bounded(path, file).decode("utf-8"))
    return TargetProblem(exp, target, f.path, lo, hi, integer)


# ---- the bisection -----------------------------------------------------------------------

def _reached(mean: float, t: TargetSpec) -> bool:
    return mean >= t.threshold if t.direction == "above" else mean <= t.threshold


class _Evaluator:
    """Evaluates candidate factor values (one sweep per call into ``work/NN``), keeping every
    evaluation by value and in order."""

    def __init__(self, problem: TargetProblem, work: Path, workers, scheduler, progress):
        self.problem, self.work, self.workers, self.scheduler, self.progress = (
            problem, work, workers, scheduler, progress)
        self.evals: dict[float, dict] = {}
        self.order: list[float] = []

    def __call__(self, values: list) -> None:
        p, t = self.problem, self.problem.target
        exp, work = p.experiment, self.work
        values = [v for v in values if v not in self.evals]
        if not values:
            return
        k = len(list(work.iterdir())) if work.exists() else 0
        work.mkdir(parents=True, exist_ok=True)
        sub = dataclasses.replace(exp, points=[{p.factor: v} for v in values])
        rep = run_sweep(sub, work / f"{k:02d}", workers=self.workers, scheduler=self.scheduler, progress=False,
                        command=f"adoptsim target {exp.file}")
        if rep.failed:
            raise AdoptsimError(f"{exp.file}: {rep.failed} run(s) failed while evaluating {p.factor} = "
                                f"{values}: {'; '.join(rep.errors[:3])}")
        sel = self._select(read_parquet(work / f"{k:02d}" / "endpoints.parquet"))
        for i, v in enumerate(values):
            reps = sel[sel["point"] == i].sort_values("replicate")["value"].to_numpy(dtype=float)
            mean = float(reps.mean()) if len(reps) else float("nan")
            if not np.isfinite(mean):
                raise AdoptsimError(f"{exp.file}: target: the simulated {t.metric} ({t.scope} "
                                    f"{t.scope_id or 'world'}, key {t.key!r}, {t.date}) is not a number at "
                                    f"{p.factor} = {v}")
            self.evals[v] = {"value": v, "mean": mean, "reached": _reached(mean, t), "values": reps.tolist()}
            self.order.append(v)
        if self.progress:
            self.progress(len(self.order))

    def _select(self, ep: pd.DataFrame) -> pd.DataFrame:
        """The target's rows of a sweep's endpoints (its key must exist)."""
        t, file = self.problem.target, self.problem.experiment.file
        sid = "world" if t.scope == "world" else t.scope_id
        sel = ep[(ep["metric"] == t.metric) & (ep["scope"] == t.scope) & (ep["scope_id"] == sid)
                 & (pd.to_datetime(ep["date"]) == pd.Timestamp(t.date + "-01"))]
        if not (sel["key"] == t.key).any():
            keys = sorted(set(sel["key"]))
            raise AdoptsimError(f"{file}: target.key: no key {t.key!r} for {t.metric!r}; known: "
                                f"{', '.join(repr(x) for x in keys)}")
        return sel[sel["key"] == t.key]


def find_target(problem: TargetProblem, work: Path, workers: int | None = None, scheduler: str | None = None,
                progress: Callable[[int], None] | None = None) -> dict:
    """Bisection for the smallest factor value whose mean outcome (over replicates, common
    random numbers: replicate r of every candidate uses the same seed) reaches the threshold.

    The two ends of the range are evaluated first (one sweep, run in parallel); if the bottom
    already reaches the threshold the status is ``reached_at_low`` (``value`` = bottom), else if
    the top does not reach it ``not_reached`` (``value`` None). Otherwise the bracket
    [low, high] (low: not reached, high: reached) is halved until ``high − low`` is at most the
    tolerance (integer factors: 1) or ``max_iterations`` bisections are made; ``value`` is
    ``high``. Each candidate's runs go through :func:`adoptsim.experiments.runner.run_sweep`
    into ``work/NN``. A non-monotone set of evaluations (a lower value reached, a higher not)
    is reported in ``warnings``. Returns ``status, value, low, high, message, iterations,
    tolerance, warnings, evaluations`` (each: ``value, mean, reached, values``)."""
    t = problem.target
    evaluate = _Evaluator(problem, Path(work), workers, scheduler, progress)
    evals = evaluate.evals
    lo, hi = problem.low, problem.high
    evaluate([lo, hi])
    tol = (1 if problem.integer else (t.tolerance if t.tolerance is not None else (hi - lo) / 100))
    iterations = 0
    if evals[lo]["reached"]:
        status, value, hi = "reached_at_low", lo, lo
        message = (f"the threshold is already reached at the bottom of the range: mean {evals[lo]['mean']:.4g} at "
                   f"{problem.factor} = {lo:g}")
    elif not evals[hi]["reached"]:
        status, value = "not_reached", None
        message = (f"the threshold is not reached at the top of the range: mean {evals[hi]['mean']:.4g} at "
                   f"{problem.factor} = {hi:g} ({'<' if t.direction == 'above' else '>'} {t.threshold:g})")
    else:
        while hi - lo > tol and iterations < t.max_iterations:
            mid = (lo + hi) // 2 if problem.integer else (lo + hi) / 2
            if mid in (lo, hi):
                break
            evaluate([mid])
            iterations += 1
            if evals[mid]["reached"]:
                hi = mid
            else:
                lo = mid
        status, value = "found", hi
        message = (f"smallest {problem.factor} reaching the threshold: {hi:g} (bracket {lo:g}..{hi:g}, "
                   f"mean {evals[hi]['mean']:.4g} at {hi:g}, {evals[lo]['mean']:.4g} at {lo:g})")
    return {"status": status, "value": value, "low": lo, "high": hi, "message": message,
            "iterations": iterations, "tolerance": tol, "warnings": _monotony_warnings(evals),
            "evaluations": [evals[v] for v in evaluate.order]}


def _monotony_warnings(evals: dict[float, dict]) -> list[str]:
    xs = sorted(evals)
    hit = [evals[x]["reached"] for x in xs]
    if any(a and not b for a, b in zip(hit, hit[1:])):
        return ["evaluations are not monotone in the factor (a lower value reaches the threshold "
                "and a higher one does not): the bisection assumed monotonicity"]
    return []


# ---- what the output folder holds ----------------------------------------------------------

def target_result(problem: TargetProblem, res: dict) -> dict:
    """The content of ``target.json`` for a :func:`find_target` result."""
    t, exp = problem.target, problem.experiment
    return {"value": res["value"], "low": res["low"], "high": res["high"], "status": res["status"],
            "message": res["message"], "factor": problem.factor, "range": [problem.low, problem.high],
            "target": t.model_dump(), "replicates": exp.spec.replicates, "seed": exp.spec.seed,
            "iterations": res["iterations"], "tolerance": res["tolerance"], "warnings": res["warnings"],
            "evaluations": res["evaluations"]}


def evaluations_table(res: dict) -> pd.DataFrame:
    """``evaluations.<fmt>``: factor_value, replicate, value, mean, reached, order."""
    return pd.DataFrame([{"factor_value": e["value"], "replicate": r, "value": v, "mean": e["mean"],
                          "reached": e["reached"], "order": i}
                         for i, e in enumerate(res["evaluations"]) for r, v in enumerate(e["values"])])


def target_manifest(problem: TargetProblem, res: dict) -> dict:
    """The ``manifest.json`` of a target folder."""
    exp = problem.experiment
    return build_manifest("target", experiment=exp.name, experiment_file=exp.file,
                          scenario_file=str(exp.scenario_file), scenario_hash=exp.base.digest(),
                          seed=exp.spec.seed, replicates=exp.spec.replicates, factor=problem.factor,
                          status=res["status"], value=res["value"])
