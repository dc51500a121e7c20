"""Calibration: fit a scenario's assumed parameters to observed targets (ABC rejection over an LHS).

``adoptsim calibrate SPEC --out DIR`` reads a **calibration spec**::

    description = "Baseline: behavioural weights and Qwen's growth against the usage targets"
    scenario = "../scenarios/baseline.toml"   # relative to this file
    targets = "targets.toml"                  # target file (format below), relative to this file
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
    path = "adoption.revision_rate"           # a factor path as in sweeps (adoptsim.sweep)
    range = [0.05, 0.40]                      # prior: uniform on the range

**Target file** (``calibration/targets.toml`` converts ``shared/data/targets.toml``)::

    [[targets]]
    id = "open_weight_token_share_late_2025"  # unique
    quantity = "open_weight_share_2025_11"    # a column of adoptsim.analysis.target_metrics
    kind = "share"                            # share (a number) | month ("YYYY-MM")
    value = 0.33                              # observed value
    range = [0.25, 0.40]                      # band a calibrated model should land in
    weight = 1.0                              # weight in the distance (default 1)
    use = true                                # false: recorded but not fitted (no model quantity)
    description = "..."; when = "2025-11"; source = "..."; quality = "primary"; note = "..."

Instead of ``quantity`` a target may name a value of the tidy table: ``metric``, ``scope``
(default ``world``), ``scope_id`` (default: the scope's ``world``), ``key`` (default ``""``) and
``when`` (``YYYY-MM``). Unused targets may carry ``values = {...}`` (a record of the source).

**Method.** Each of ``samples`` Latin-hypercube points (:class:`scipy.stats.qmc.LatinHypercube`,
seeded from ``seed``) is run ``replicates`` times through the sweep machinery (process pool or
Dask; ``--resume`` continues). Per point, each target's simulated value is the **median across
replicates** (as ``analysis.target_check``; a month target never reached counts as the month
after the horizon). Its normalised deviation is ``z = (sim − value) / (high − value)`` above the
observed value and ``(value − sim) / (value − low)`` below, so ``|z| ≤ 1`` exactly when the median
lies inside the band; the point's **distance** is ``sqrt(Σ w·z² / Σ w)``. ABC rejection accepts the
points whose targets all lie inside their bands (``accept = "bands"``) — or, when fewer than
``min_accepted`` do, or with ``accept = "closest"``, the closest ``fraction`` of points (at least
``min_accepted``). The accepted parameter values approximate the posterior under the uniform
prior; the **fitted value** of each parameter is its posterior median, reported with the 10–90%
posterior quantiles. With ``refine = true``, :func:`scipy.optimize.minimize` (Nelder–Mead, within
the ranges) then minimises the distance from the best accepted point, every evaluation using the
same replicate seeds (common random numbers, so the objective is a deterministic function of the
parameters), and the refined values replace the medians. Finally the calibrated scenario runs
``check_replicates`` times to report each target's simulated median and 10–90% band.

**Outputs** in DIR: ``fit.parquet`` (per parameter: ``parameter, value, q10, q50, q90, best,
prior_low, prior_high, base``), ``targets.parquet`` (per target: observed value and band and the
10/50/90% quantiles of the simulated value in the prior runs, the accepted runs and the
calibrated scenario's check runs, with ``inside``; month targets as decimal years, 2025-07 =
2025.5), ``samples.parquet`` (every LHS point: parameters, simulated medians ``sim:<id>``,
``distance``, ``accepted``), ``fit.json`` (all of it, months as ``YYYY-MM``), ``plots/calibration.png``
(simulated vs observed) and ``plots/posterior.png``, ``sweep/`` (the runs) and the calibrated
scenario (``--scenario-out``, default ``DIR/calibrated.toml``): a TOML file that ``extends`` the
base scenario and sets only the fitted values, each with a comment giving its interval.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import AdoptsimError, InputError, Problem
from .results import check_out_dir
from .months import YearMonth, format_month, parse_month
from .scenario import Scenario, indexed_problems, load_raw, parse_scenario, read_toml

QUANTITIES = ("open_weight_share_2025_11", "cn_open_share_2024_12", "cn_open_share_2025_mean",
              "cn_passes_us_open")  # columns of analysis.target_metrics
MONTH_QUANTITIES = {"cn_passes_us_open"}
TARGET_METRICS = ("adoption", "share_license", "share_vendor")  # what target_metrics reads


# ---- schemas -----------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Target(_Strict):
    id: str = Field(min_length=1)
    quantity: str | None = None
    metric: str | None = None
    scope: Literal["world", "region", "nation"] = "world"
    scope_id: str | None = None
    key: str = ""
    kind: Literal["share", "month"] = "share"
    value: float | str | None = None
    range: list[float] | list[str] | None = Field(default=None, min_length=2, max_length=2)
    values: dict[str, float] | None = None
    weight: Annotated[float, Field(ge=0)] = 1.0
    use: bool = True
    description: str = ""
    when: str = ""
    source: str = ""
    quality: str = ""
    note: str = ""


class TargetFile(_Strict):
    targets: list[Target] = Field(min_length=1)


class Parameter(_Strict):
    path: str = Field(min_length=1)
    range: list[float] = Field(min_length=2, max_length=2)

    @field_validator("range")
    @classmethod
    def _order(cls, v):
        if not (math.isfinite(v[0]) and math.isfinite(v[1]) and v[0] < v[1]):
            raise ValueError(f"expected [lo, hi] with finite lo < hi, got {list(v)}")
        return v


class Method(_Strict):
    samples: Annotated[int, Field(ge=2, le=1_000_000)] = 128
    accept: Literal["bands", "closest"] = "bands"
    fraction: Annotated[float, Field(gt=0, le=1)] = 0.1
    min_accepted: Annotated[int, Field(ge=1)] = 8
    refine: bool = False
    refine_iterations: Annotated[int, Field(ge=1, le=10_000)] = 40
    check_replicates: Annotated[int, Field(ge=1, le=10_000)] = 10


class CalibrationSpec(_Strict):
    description: str = ""
    scenario: str = Field(min_length=1)
    targets: str = Field(min_length=1)
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 2
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    horizon: YearMonth | None = None
    method: Method = Field(default_factory=Method)
    parameters: list[Parameter] = Field(min_length=1)


# ---- targets -----------------------------------------------------------------------------

def _month_number(text: str) -> float:
    """A month YYYY-MM as a decimal year (2025-07 -> 2025.5)."""
    m = parse_month(text)
    return m / 12.0


def _month_text(x: float) -> str:
    return format_month(int(round(x * 12.0)))


def load_targets(path: str | Path) -> list[Target]:
    """Load and check a target file (see the module docstring); one InputError for all problems."""
    path = Path(path)
    file = str(path)
    data = read_toml(path, file)
    try:
        tf = TargetFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(indexed_problems(exc, file, TargetFile)) from None
    problems = []
    seen = set()
    for i, t in enumerate(tf.targets):
        where = f"targets[{i}]"
        if t.id in seen:
            problems.append(Problem(file, f"{where}.id", f"target {t.id!r} is given twice"))
        seen.add(t.id)
        if not t.use:
            continue
        if (t.quantity is None) == (t.metric is None):
            problems.append(Problem(file, where, "give exactly one of 'quantity' (a target_metrics column) or "
                                    "'metric' (a value of the tidy table)"))
            continue
        if t.quantity is not None and t.quantity not in QUANTITIES:
            close = difflib.get_close_matches(t.quantity, QUANTITIES, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(QUANTITIES)}"
            problems.append(Problem(file, f"{where}.quantity", f"unknown quantity {t.quantity!r}{hint}"))
            continue
        if t.metric is not None:
            from .metrics import METRICS

            if t.metric not in METRICS:
                problems.append(Problem(file, f"{where}.metric", f"unknown metric {t.metric!r}; expected one of: "
                                        f"{', '.join(METRICS)}"))
            try:
                parse_month(t.when)
            except Exception:
                problems.append(Problem(file, f"{where}.when", f"a metric target needs 'when' = \"YYYY-MM\", "
                                        f"got {t.when!r}"))
        month = t.kind == "month" or t.quantity in MONTH_QUANTITIES
        if t.quantity in MONTH_QUANTITIES and t.kind != "month":
            problems.append(Problem(file, f"{where}.kind", f"quantity {t.quantity!r} is a month: use kind = \"month\""))
            continue
        if t.value is None or t.range is None:
            problems.append(Problem(file, where, "a used target needs 'value' and 'range' (set use = false to keep "
                                    "it only as a record)"))
            continue
        try:
            v, lo, hi = ((_month_number(t.value), _month_number(t.range[0]), _month_number(t.range[1])) if month
                         else (float(t.value), float(t.range[0]), float(t.range[1])))
        except Exception:
            want = '"YYYY-MM" months' if month else "numbers"
            problems.append(Problem(file, f"{where}.value", f"value and range must be {want}, got "
                                    f"{t.value!r} and {t.range!r}"))
            continue
        if not lo <= v <= hi or lo == hi:
            problems.append(Problem(file, f"{where}.range", f"expected low <= value <= high with low < high, got "
                                    f"value {t.value!r}, range {t.range!r}"))
    if problems:
        raise InputError(problems)
    return tf.targets


def _numbers(t: Target) -> tuple[float, float, float]:
    if t.kind == "month":
        return _month_number(t.value), _month_number(t.range[0]), _month_number(t.range[1])
    return float(t.value), float(t.range[0]), float(t.range[1])


def deviation(t: Target, sim: np.ndarray | float) -> np.ndarray:
    """Normalised deviation z of simulated values: |z| <= 1 exactly inside the band."""
    v, lo, hi = _numbers(t)
    sim = np.asarray(sim, dtype=float)
    up = (sim - v) / (hi - v) if hi > v else np.where(sim > v, np.inf, 0.0)
    down = (sim - v) / (v - lo) if v > lo else np.where(sim < v, -np.inf, 0.0)
    return np.where(sim >= v, up, down)


def distance(targets: list[Target], sims: dict[str, float]) -> float:
    """sqrt(Σ w z² / Σ w) over the used targets."""
    w = np.array([t.weight for t in targets])
    z = np.array([float(deviation(t, sims[t.id])) for t in targets])
    return float(np.sqrt(np.sum(w * z ** 2) / np.sum(w)))


def run_values(frame: pd.DataFrame, scenario: Scenario, targets: list[Target]) -> pd.DataFrame:
    """Each used target's simulated value per replicate of a tidy frame (columns: replicate and one
    per target id; months as decimal years, never reached = the month after the last)."""
    from .analysis import target_metrics

    reps = sorted(int(r) for r in pd.unique(frame["replicate"]))
    out = pd.DataFrame({"replicate": reps})
    if any(t.quantity for t in targets):
        tm = target_metrics(frame, scenario).set_index("replicate").reindex(reps)
    last = pd.Timestamp(pd.to_datetime(frame["date"]).max())
    never = (last.year * 12 + last.month) / 12.0  # decimal year of the month after the last one
    for t in targets:
        if t.quantity is not None:
            col = tm[t.quantity]
            if t.quantity in MONTH_QUANTITIES:
                vals = [never if pd.isna(x) else (x.year * 12 + x.month - 1) / 12.0 for x in col]
            else:
                vals = col.astype(float).tolist()
        else:
            scope_id = t.scope_id or ("world" if t.scope == "world" else "")
            sel = frame[(frame["metric"] == t.metric) & (frame["scope"] == t.scope)
                        & (frame["scope_id"].astype(str) == scope_id) & (frame["key"].astype(str) == t.key)
                        & (pd.to_datetime(frame["date"]) == pd.Timestamp(t.when + "-01"))]
            s = sel.groupby("replicate", observed=True)["value"].sum()
            vals = [float(s.get(r, np.nan)) for r in reps]
        out[t.id] = vals
    return out


# ---- specs -------------------------------------------------------------------------------

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


def load_spec(path: str | Path) -> Calibration:
    """Load and validate a calibration spec and its target file."""
    from .sweep import _nearest, apply_point, current_value, valid_paths

    path = Path(path)
    file = str(path)
    data = read_toml(path, file)
    try:
        spec = CalibrationSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(indexed_problems(exc, file, CalibrationSpec)) from None
    scen_path = path.parent / spec.scenario
    if not scen_path.exists():
        raise InputError([Problem(file, "scenario", f"file not found: {spec.scenario!r} (looked for {scen_path})")])
    tpath = path.parent / spec.targets
    if not tpath.exists():
        raise InputError([Problem(file, "targets", f"file not found: {spec.targets!r} (looked for {tpath})")])
    all_targets = load_targets(tpath)
    targets = [t for t in all_targets if t.use and t.weight > 0]
    if not targets:
        raise InputError([Problem(str(tpath), "targets", "no target has use = true and a weight > 0")])
    raw = load_raw(scen_path)
    base = parse_scenario(raw, str(scen_path))
    locators = valid_paths(base)
    problems = []
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
        problems.append(Problem(file, "horizon", f"{horizon} is outside the scenario's horizon "
                                f"{format_month(base.start_month)}..{format_month(base.end_month)}"))
    elif h < last_needed:
        problems.append(Problem(file, "horizon", f"{horizon} ends before the targets' last month "
                                f"{format_month(last_needed)}"))
    integer: dict[str, bool] = {}
    seen = set()
    for i, p in enumerate(spec.parameters):
        where = f"parameters[{i}]"
        if p.path in seen:
            problems.append(Problem(file, f"{where}.path", f"parameter {p.path!r} is given twice"))
        seen.add(p.path)
        if p.path not in locators or p.path.startswith("meta."):
            problems.append(Problem(file, f"{where}.path", f"no scenario parameter {p.path!r}"
                                    + _nearest(p.path, sorted(k for k in locators if not k.startswith("meta.")))))
            continue
        cur = current_value(base, locators[p.path])
        if isinstance(cur, str) or isinstance(cur, bool):
            problems.append(Problem(file, f"{where}.path", f"{p.path} is not a number ({cur!r}); only numeric "
                                    "parameters can be fitted"))
            continue
        integer[p.path] = isinstance(cur, int)
        for value in p.range:
            v = int(value) if integer[p.path] else float(value)
            try:
                parse_scenario(apply_point(raw, locators, {p.path: v}), file)
            except InputError as exc:
                own = [q for q in exc.problems if q.field == p.path or q.field.startswith(p.path + ".")]
                for q in own:
                    problems.append(Problem(file, f"{where}.range", f"{p.path} = {v!r}: {q.message}"))
                if own:
                    break
    if problems:
        raise InputError(problems)
    cut = dict(raw)
    cut["meta"] = {**raw.get("meta", {}), "months": h - base.start_month + 1}
    return Calibration(file=file, spec=spec, scenario_file=scen_path, targets_file=tpath, targets=targets,
                       all_targets=all_targets, raw=cut, base=base, locators=locators, integer=integer,
                       horizon=horizon, text=path.read_text(encoding="utf-8"))


def _metrics(cal: Calibration) -> list[str]:
    out = list(TARGET_METRICS) if any(t.quantity for t in cal.targets) else []
    for t in cal.targets:
        if t.metric and t.metric not in out:
            out.append(t.metric)
    return out


def lhs_points(cal: Calibration) -> list[dict[str, Any]]:
    """The Latin-hypercube prior sample (seeded from the spec seed)."""
    from scipy.stats import qmc

    d, n = len(cal.paths), cal.spec.method.samples
    rng = np.random.default_rng(np.random.SeedSequence(cal.spec.seed, spawn_key=(2**32 - 2,)))
    try:
        engine = qmc.LatinHypercube(d, rng=rng)
    except TypeError:  # scipy < 1.15
        engine = qmc.LatinHypercube(d, seed=rng)
    u = engine.random(n)
    points = []
    for row in u:
        pt = {}
        for x, p in zip(row, cal.spec.parameters):
            lo, hi = p.range
            pt[p.path] = int(min(math.floor(lo + x * (hi - lo + 1)), hi)) if cal.integer[p.path] else \
                float(lo + x * (hi - lo))
        points.append(pt)
    return points


def experiment(cal: Calibration, points: list[dict[str, Any]]):
    """A sweep :class:`~adoptsim.sweep.Experiment` running the points up to the horizon."""
    from .sweep import Design, Experiment, ExperimentSpec, Factor

    spec = ExperimentSpec(description=f"calibration: {cal.spec.description}", scenario=str(cal.scenario_file),
                          replicates=cal.spec.replicates, seed=cal.spec.seed, metrics=_metrics(cal),
                          design=Design(method="lhs", samples=len(points)),
                          factors=[Factor(path=p.path, range=list(p.range)) for p in cal.spec.parameters])
    return Experiment(file=cal.file, spec=spec, scenario_file=cal.scenario_file, raw=cal.raw,
                      base=parse_scenario(cal.raw, str(cal.scenario_file)), locators=cal.locators,
                      points=points, text=cal.text)


# ---- the fit -----------------------------------------------------------------------------

@dataclass
class CalibrationReport:
    out: Path
    scenario_path: Path
    fit: pd.DataFrame
    targets: pd.DataFrame
    samples: pd.DataFrame
    accepted: int
    rule: str
    distance: float
    elapsed: float
    failed: int
    figures: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"calibration: {len(self.samples)} samples, {self.accepted} accepted ({self.rule}); "
                 f"distance of the calibrated scenario {self.distance:.3g}; {self.elapsed:.1f} s -> {self.out}"]
        for r in self.fit.itertuples(index=False):
            lines.append(f"  {r.parameter} = {r.value:.4g}  (10-90%: {r.q10:.4g} .. {r.q90:.4g}; "
                         f"prior {r.prior_low:g} .. {r.prior_high:g}; was {r.base:g})")
        for r in self.targets.itertuples(index=False):
            fmt = _month_text if r.kind == "month" else (lambda x: f"{x:.4g}")
            lines.append(f"  {r.target}: simulated {fmt(r.calibrated_q50)} vs observed {fmt(r.observed)} "
                         f"[{fmt(r.low)}, {fmt(r.high)}] {'inside' if r.inside else 'OUTSIDE'}")
        lines.append(f"calibrated scenario: {self.scenario_path}")
        return "\n".join(lines)


def _per_point_values(cal: Calibration, exp, sweep_dir: Path) -> tuple[pd.DataFrame, int]:
    """Every successful run's target values: point, replicate and one column per target id."""
    runs = pd.read_parquet(sweep_dir / "runs.parquet")
    ok = runs[runs["status"] == "ok"]
    parts = []
    scen_cache: dict[int, Scenario] = {}
    for point, rep, key in ok[["point", "replicate", "run_key"]].itertuples(index=False):
        frame = pd.read_parquet(sweep_dir / "runs" / f"{key}.parquet")
        frame["replicate"] = int(rep)
        if point not in scen_cache:
            scen_cache[point] = exp.point_scenario(int(point))
        vals = run_values(frame, scen_cache[point], cal.targets)
        vals.insert(0, "point", int(point))
        parts.append(vals)
    failed = int((runs["status"] != "ok").sum())
    if not parts:
        raise AdoptsimError(f"{cal.file}: every calibration run failed (see {sweep_dir / 'runs.parquet'})")
    return pd.concat(parts, ignore_index=True), failed


def _evaluate(cal: Calibration, point: dict[str, Any], replicates: int, full: bool = False) -> pd.DataFrame:
    """Run one parameter point in-process (replicate r seeded as in the sweep: common random numbers)."""
    from .model import simulate
    from .sweep import apply_point

    raw = apply_point(cal.raw, cal.locators, point) if point else cal.raw
    sc = parse_scenario(raw, cal.file)
    frame = simulate(sc, seed=cal.spec.seed, replicates=replicates, metrics=tuple(_metrics(cal)))
    return run_values(frame, sc, cal.targets)


def _quantiles(x) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return (float("nan"),) * 3
    q = np.quantile(x, [0.1, 0.5, 0.9])
    return float(q[0]), float(q[1]), float(q[2])


def _round(x: float, integer: bool) -> float | int:
    if integer:
        return int(round(x))
    return float(f"{x:.4g}")


def run_calibration(spec: str | Path | Calibration, out: str | Path, workers: int | None = None,
                    scheduler: str | None = None, resume: bool = False, scenario_out: str | Path | None = None,
                    fmt: str = "parquet", progress: bool | None = None, plot: bool = True) -> CalibrationReport:
    """Run a calibration into ``out`` (see the module docstring)."""
    from . import results
    from .sweep import current_value, run_sweep

    t0 = time.perf_counter()
    cal = spec if isinstance(spec, Calibration) else load_spec(spec)
    out = Path(out)
    check_out_dir(out, resume, "pass --resume to continue the calibration stored there")
    scenario_path = Path(scenario_out) if scenario_out is not None else out / "calibrated.toml"
    if not scenario_path.parent.exists() and scenario_path.parent != out:
        raise AdoptsimError(f"{scenario_path}: --scenario-out: folder {scenario_path.parent} does not exist")
    points = lhs_points(cal)
    exp = experiment(cal, points)
    out.mkdir(parents=True, exist_ok=True)
    run_sweep(exp, out / "sweep", workers=workers, scheduler=scheduler, resume=resume, progress=progress)
    values, failed = _per_point_values(cal, exp, out / "sweep")

    # ABC rejection on the replicate medians
    ids = [t.id for t in cal.targets]
    med = values.groupby("point")[ids].median()
    samples = pd.DataFrame({"point": med.index.astype(np.int64)})
    for p in cal.paths:
        samples[p] = [float(points[i][p]) for i in med.index]
    z = np.column_stack([deviation(t, med[t.id].to_numpy()) for t in cal.targets])
    w = np.array([t.weight for t in cal.targets])
    with np.errstate(invalid="ignore"):
        dist = np.sqrt(np.nansum(w * z ** 2, axis=1) / w.sum())
    dist[~np.isfinite(z).all(axis=1)] = np.inf
    for t in cal.targets:
        samples[f"sim:{t.id}"] = med[t.id].to_numpy()
    samples["distance"] = dist
    inside = (np.abs(z) <= 1).all(axis=1)
    m = cal.spec.method
    if m.accept == "bands" and inside.sum() >= m.min_accepted:
        accepted = inside
        rule = "every target's replicate median inside its band"
    else:
        k = max(m.min_accepted, int(math.ceil(m.fraction * len(dist))))
        k = min(k, len(dist))
        order = np.argsort(dist, kind="stable")
        accepted = np.zeros(len(dist), dtype=bool)
        accepted[order[:k]] = True
        rule = (f"the closest {k} of {len(dist)} samples by distance"
                + (f" (only {int(inside.sum())} had every target inside its band)" if m.accept == "bands" else ""))
    samples["accepted"] = accepted
    acc = samples[accepted]
    best = samples.loc[samples["distance"].idxmin()]

    fitted = {p: float(np.median(acc[p])) for p in cal.paths}
    refined = None
    if m.refine:
        from scipy.optimize import minimize

        lo = np.array([p.range[0] for p in cal.spec.parameters])
        hi = np.array([p.range[1] for p in cal.spec.parameters])
        scale = hi - lo

        def objective(u: np.ndarray) -> float:
            x = np.clip(lo + u * scale, lo, hi)
            pt = {p: (int(round(v)) if cal.integer[p] else float(v)) for p, v in zip(cal.paths, x)}
            vals = _evaluate(cal, pt, cal.spec.replicates)
            return distance(cal.targets, {t.id: float(vals[t.id].median()) for t in cal.targets})

        x0 = (np.array([best[p] for p in cal.paths]) - lo) / scale
        res = minimize(objective, x0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(lo),
                       options={"maxfev": m.refine_iterations, "xatol": 1e-3, "fatol": 1e-3,
                                "initial_simplex": _simplex(x0)})
        refined = {p: float(v) for p, v in zip(cal.paths, np.clip(lo + res.x * scale, lo, hi))}
        fitted = dict(refined)
        refine_info = {"distance": float(res.fun), "evaluations": int(res.nfev), "message": str(res.message)}
    fitted = {p: _round(v, cal.integer[p]) for p, v in fitted.items()}

    # the calibrated scenario, then a check run of it
    text = calibrated_toml(cal, fitted, acc, rule, scenario_path, len(samples), refined is not None)
    results.atomic_write_text(scenario_path, text)
    from .scenario import load_scenario

    calibrated = load_scenario(scenario_path)  # the file must load, and hold the fitted values
    for p, v in fitted.items():
        got = current_value(calibrated, cal.locators[p])
        if not np.isclose(float(got), float(v)):
            raise AdoptsimError(f"{scenario_path}: {p}: written {v!r} but the scenario resolves to {got!r}")
    check = _evaluate(cal, fitted, m.check_replicates)
    check_dist = distance(cal.targets, {t.id: float(check[t.id].median()) for t in cal.targets})

    fit_rows = []
    for p in cal.spec.parameters:
        q10, q50, q90 = _quantiles(acc[p.path])
        fit_rows.append({"parameter": p.path, "value": float(fitted[p.path]), "q10": q10, "q50": q50, "q90": q90,
                         "best": float(best[p.path]), "prior_low": float(p.range[0]),
                         "prior_high": float(p.range[1]),
                         "base": float(current_value(cal.base, cal.locators[p.path]))})
    fit = pd.DataFrame(fit_rows)
    acc_vals = values[values["point"].isin(acc["point"])]
    trows = []
    for t in cal.targets:
        v, lo, hi = _numbers(t)
        pq = _quantiles(values[t.id])
        aq = _quantiles(acc_vals[t.id])
        cq = _quantiles(check[t.id])
        trows.append({"target": t.id, "quantity": t.quantity or f"{t.metric}:{t.scope}:{t.scope_id or ''}:{t.key}"
                      f"@{t.when}", "kind": "month" if t.kind == "month" else "share",
                      "observed": v, "low": lo, "high": hi, "weight": t.weight,
                      "prior_q10": pq[0], "prior_q50": pq[1], "prior_q90": pq[2],
                      "accepted_q10": aq[0], "accepted_q50": aq[1], "accepted_q90": aq[2],
                      "calibrated_q10": cq[0], "calibrated_q50": cq[1], "calibrated_q90": cq[2],
                      "z": float(deviation(t, cq[1])), "inside": bool(abs(float(deviation(t, cq[1]))) <= 1)})
    tdf = pd.DataFrame(trows)
    results.write_table(fit, out / "fit", fmt)
    results.write_table(tdf, out / "targets", fmt)
    results.write_table(samples, out / "samples", fmt)

    def month_or(x, kind):
        return _month_text(x) if kind == "month" and np.isfinite(x) else (None if not np.isfinite(x) else x)

    info = {
        "kind": "calibration", "spec": cal.file, "scenario_file": str(cal.scenario_file),
        "targets_file": str(cal.targets_file), "calibrated_scenario": str(scenario_path),
        "method": "ABC rejection over a Latin hypercube" + (" refined by Nelder-Mead" if refined else ""),
        "samples": len(samples), "replicates": cal.spec.replicates, "seed": cal.spec.seed, "horizon": cal.horizon,
        "accepted": int(accepted.sum()), "acceptance_rule": rule, "runs_failed": failed,
        "distance": {"calibrated": check_dist, "best_sample": float(best["distance"]),
                     "accepted_median": float(np.median(acc["distance"]))},
        "refine": refine_info if refined else None,
        "parameters": [{k: (v if not isinstance(v, float) or np.isfinite(v) else None) for k, v in r.items()}
                       for r in fit_rows],
        "targets": [{**{k: month_or(r[k], r["kind"]) if k in ("observed", "low", "high") or k.endswith(
            ("_q10", "_q50", "_q90")) else r[k] for k in r}} for r in trows],
        "unused_targets": [{"id": t.id, "note": t.note} for t in cal.all_targets if not t.use],
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "versions": results.versions(),
    }
    info["elapsed_seconds"] = round(time.perf_counter() - t0, 3)
    results.atomic_write_text(out / "fit.json", json.dumps(info, indent=2, default=str) + "\n")
    figures = []
    if plot:
        from .plotting import calibration_figure, posterior_figure

        figures.append(calibration_figure(tdf, out / "plots" / "calibration.png",
                                          f"{Path(cal.file).stem}: simulated vs observed ({len(samples)} samples, "
                                          f"{int(accepted.sum())} accepted, {m.check_replicates} check replicates)"))
        figures.append(posterior_figure(samples, fit, out / "plots" / "posterior.png",
                                        f"{Path(cal.file).stem}: prior and ABC posterior ({rule})"))
    return CalibrationReport(out=out, scenario_path=scenario_path, fit=fit, targets=tdf, samples=samples,
                             accepted=int(accepted.sum()), rule=rule, distance=check_dist,
                             elapsed=time.perf_counter() - t0, failed=failed, figures=figures)


def _simplex(x0: np.ndarray, step: float = 0.1) -> np.ndarray:
    """A Nelder-Mead start simplex of 10% of each range, stepping inwards at the bounds."""
    pts = [x0]
    for j in range(len(x0)):
        x = x0.copy()
        x[j] = x[j] + step if x[j] + step <= 1 else x[j] - step
        pts.append(x)
    return np.array(pts)


# ---- the calibrated scenario file --------------------------------------------------------

def _toml_value(v) -> str:
    import tomli_w

    return tomli_w.dumps({"x": v}).strip()[4:]


def calibrated_toml(cal: Calibration, fitted: dict[str, Any], acc: pd.DataFrame, rule: str, path: Path,
                    n_samples: int, refined: bool) -> str:
    """A scenario file that extends the base scenario and sets the fitted values (with comments)."""
    from .sweep import current_value

    rel = os.path.relpath(cal.scenario_file.resolve(), Path(path).resolve().parent).replace(os.sep, "/")
    lines = [
        f"# {cal.base.meta.name}, calibrated: written by `adoptsim calibrate {cal.file}`.",
        f"# Method: ABC rejection over a Latin hypercube of {n_samples} parameter samples x "
        f"{cal.spec.replicates} replicate(s) (seed {cal.spec.seed})",
        f"# accepting {len(acc)} samples: {rule}.",
        "# Fitted values: " + ("refined by Nelder-Mead on the distance (common random numbers); "
                               if refined else "the posterior median; ")
        + "the comment gives the 10-90% posterior interval, the prior range and the base value.",
        f"# Fitted to the targets of {os.path.relpath(cal.targets_file.resolve(), Path(path).resolve().parent)}:",
    ]
    for t in cal.targets:
        lines.append(f"#   {t.id} ({t.quantity or t.metric}): {t.value} in [{t.range[0]}, {t.range[1]}]")
    lines += ["# Everything else comes from the base scenario.", f"extends = {_toml_value(rel)}", "",
              "[meta]", f"name = {_toml_value(cal.base.meta.name + '_calibrated')}",
              "description = " + _toml_value(f"{cal.base.meta.name} with {', '.join(cal.paths)} fitted to "
                                             f"{len(cal.targets)} targets by adoptsim calibrate.")]
    groups: dict[tuple, list[str]] = {}
    for p in cal.paths:
        loc = cal.locators[p]
        q10, _, q90 = _quantiles(acc[p])
        v = fitted[p]
        comment = (f"  # fitted: 10-90% {q10:.4g} .. {q90:.4g}; prior {_fmt(cal, p, 0)} .. {_fmt(cal, p, 1)}; "
                   f"base {current_value(cal.base, loc)}")
        if loc[0] in ("nations", "vendors", "policies"):
            head = (loc[0], loc[1])
            body = (f"{loc[2]} = {{{loc[3]} = {_toml_value(v)}}}" if len(loc) == 4 else f"{loc[2]} = {_toml_value(v)}")
        elif loc[0] == "sectors":
            head, body = ("sectors", loc[1]), f"{loc[2]} = {_toml_value(v)}"
        else:
            head, body = (loc[0],), f"{loc[1]} = {_toml_value(v)}"
        groups.setdefault(head, []).append(body + comment)
    for head, bodies in groups.items():
        lines.append("")
        if head[0] in ("nations", "vendors", "policies"):
            lines.append(f"[[{head[0]}]]")
            lines.append(("name" if head[0] == "policies" else "id") + f" = {_toml_value(head[1])}")
        elif head[0] == "sectors":
            lines.append(f"[sectors.{head[1]}]")
        else:
            lines.append(f"[{head[0]}]")
        lines += bodies
    return "\n".join(lines) + "\n"


def _fmt(cal: Calibration, path: str, i: int) -> str:
    p = next(p for p in cal.spec.parameters if p.path == path)
    return f"{p.range[i]:g}"
