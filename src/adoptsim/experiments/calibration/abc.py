"""The calibration fit: ABC rejection over a Latin hypercube, optional Nelder-Mead refinement,
and a check run of the calibrated scenario (docs/experiments.md).

**Method.** Each of ``samples`` Latin-hypercube points
(:func:`adoptsim.experiments.designs.unit_design`, seeded from ``seed``) is run ``replicates``
times through the sweep machinery (process pool or Dask; ``--resume`` continues). Per point,
each target's simulated value is the **median across replicates** (as
``analysis.targets.target_check``; a month target never reached counts as the month after the
horizon) and the point's **distance** is :func:`~.targets.distance`. ABC rejection accepts the
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
``distance``, ``accepted``), ``fit.json`` (all of it, months as ``YYYY-MM``), ``sweep/`` (the
runs) and the calibrated scenario (``--scenario-out``, default ``DIR/calibrated.toml``).

This module draws no figure: :class:`CalibrationReport` carries the tables and the titles of
``plots/calibration.png`` and ``plots/posterior.png``, which :mod:`adoptsim.workflows.calibration`
draws.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...analysis.bands import quantiles
from ...core.model import simulate
from ...core.schema import Scenario, parse_scenario
from ...errors import AdoptsimError
from ...io.atomic import atomic_write_text, check_out_dir
from ...io.manifest import build_manifest
from ...io.scenario_files import load_scenario
from ...io.tables import read_parquet, write_table
from ..budget import Budget, check_runs
from ..designs import CALIBRATION_SPAWN, unit_design, unit_points
from ..paths import apply_point, current_value
from ..runner import run_sweep
from ..spec import Design, Experiment, ExperimentSpec, Factor
from .scenario_file import BASE_COPY, base_reference, calibrated_toml
from .spec import Calibration, load_spec
from .targets import deviation, distance, month_text, require_values, run_values, target_numbers


def _factors(cal: Calibration) -> list[Factor]:
    return [Factor(path=p.path, range=list(p.range)) for p in cal.parameters]


def lhs_points(cal: Calibration) -> list[dict[str, Any]]:
    """The Latin-hypercube prior sample (seeded from the spec seed)."""
    u = unit_design("lhs", len(cal.paths), cal.spec.method.samples, cal.spec.seed, CALIBRATION_SPAWN)
    return unit_points(u, _factors(cal), cal.integer)


def calibration_experiment(cal: Calibration, points: list[dict[str, Any]]) -> Experiment:
    """A sweep :class:`~adoptsim.experiments.spec.Experiment` running the points up to the horizon."""
    spec = ExperimentSpec(description=f"calibration: {cal.spec.description}", scenario=str(cal.scenario_file),
                          replicates=cal.spec.replicates, seed=cal.spec.seed, metrics=cal.metrics,
                          design=Design(method="lhs", samples=len(points)), factors=_factors(cal))
    return Experiment(file=cal.file, spec=spec, scenario_file=cal.scenario_file, raw=cal.raw,
                      base=parse_scenario(cal.raw, str(cal.scenario_file)), locators=cal.locators,
                      points=points, text=cal.text)


@dataclass
class CalibrationReport:
    """What :func:`run_calibration` did; ``calibration_title`` and ``posterior_title`` are the
    titles of the two figures (workflows draw them and add them to ``figures``)."""

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
    calibration_title: str = ""
    posterior_title: str = ""
    figures: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"calibration: {len(self.samples)} samples, {self.accepted} accepted ({self.rule}); "
                 f"distance of the calibrated scenario {self.distance:.3g}; {self.elapsed:.1f} s -> {self.out}"]
        for r in self.fit.itertuples(index=False):
            lines.append(f"  {r.parameter} = {r.value:.4g}  (10-90%: {r.q10:.4g} .. {r.q90:.4g}; "
                         f"prior {r.prior_low:g} .. {r.prior_high:g}; was {r.base:g})")
        for r in self.targets.itertuples(index=False):
            fmt = month_text if r.kind == "month" else (lambda x: f"{x:.4g}")
            lines.append(f"  {r.target}: simulated {fmt(r.calibrated_q50)} vs observed {fmt(r.observed)} "
                         f"[{fmt(r.low)}, {fmt(r.high)}] {'inside' if r.inside else 'OUTSIDE'}")
        lines.append(f"calibrated scenario: {self.scenario_path}")
        return "\n".join(lines)


# ---- runs and their target values ------------------------------------------------------------

def per_point_values(cal: Calibration, exp: Experiment, sweep_dir: Path) -> tuple[pd.DataFrame, int]:
    """Every successful run's target values (point, replicate and one column per target id) and
    the number of failed runs."""
    runs = read_parquet(sweep_dir / "runs.parquet")
    ok = runs[runs["status"] == "ok"]
    parts = []
    scen_cache: dict[int, Scenario] = {}
    for point, rep, key in ok[["point", "replicate", "run_key"]].itertuples(index=False):
        frame = read_parquet(sweep_dir / "runs" / f"{key}.parquet")
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


def evaluate(cal: Calibration, point: dict[str, Any], replicates: int) -> pd.DataFrame:
    """Run one parameter point in-process (replicate r seeded as in the sweep: common random numbers)."""
    raw = apply_point(cal.raw, cal.locators, point) if point else cal.raw
    sc = parse_scenario(raw, cal.file)
    frame = simulate(sc, seed=cal.spec.seed, replicates=replicates, metrics=tuple(cal.metrics))
    return run_values(frame, sc, cal.targets)


# ---- ABC rejection and refinement --------------------------------------------------------

def abc_samples(cal: Calibration, points: list[dict[str, Any]], values: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """One row per sampled point: parameters, replicate medians ``sim:<id>``, ``distance`` and
    ``accepted``; and the acceptance rule applied."""
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
    return samples, rule


def _simplex(x0: np.ndarray, step: float = 0.1) -> np.ndarray:
    """A Nelder-Mead start simplex of 10% of each range, stepping inwards at the bounds."""
    pts = [x0]
    for j in range(len(x0)):
        x = x0.copy()
        x[j] = x[j] + step if x[j] + step <= 1 else x[j] - step
        pts.append(x)
    return np.array(pts)


def refine(cal: Calibration, best: pd.Series) -> tuple[dict[str, float], dict]:
    """Nelder-Mead on the distance from the best sample, within the ranges (common random
    numbers); returns the refined values and ``distance, evaluations, message``."""
    from scipy.optimize import minimize

    lo = np.array([p.range[0] for p in cal.parameters])
    hi = np.array([p.range[1] for p in cal.parameters])
    scale = hi - lo

    def objective(u: np.ndarray) -> float:
        x = np.clip(lo + u * scale, lo, hi)
        pt = {p: (int(round(v)) if cal.integer[p] else float(v)) for p, v in zip(cal.paths, x)}
        vals = evaluate(cal, pt, cal.spec.replicates)
        return distance(cal.targets, {t.id: float(vals[t.id].median()) for t in cal.targets})

    x0 = (np.array([best[p] for p in cal.paths]) - lo) / scale
    res = minimize(objective, x0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(lo),
                   options={"maxfev": cal.spec.method.refine_iterations, "xatol": 1e-3, "fatol": 1e-3,
                            "initial_simplex": _simplex(x0)})
    refined = {p: float(v) for p, v in zip(cal.paths, np.clip(lo + res.x * scale, lo, hi))}
    return refined, {"distance": float(res.fun), "evaluations": int(res.nfev), "message": str(res.message)}


def _round(x: float, integer: bool) -> float | int:
    if integer:
        return int(round(x))
    return float(f"{x:.4g}")


# ---- the calibrated scenario and the tables ------------------------------------------------

def write_calibrated(cal: Calibration, fitted: dict[str, Any], text: str, scenario_path: Path) -> None:
    """Write the calibrated scenario (and, when it extends :data:`BASE_COPY`, the resolved base
    beside it) and check that it loads and resolves to the fitted values."""
    if base_reference(cal, scenario_path) == BASE_COPY:
        atomic_write_text(scenario_path.parent / BASE_COPY, cal.base.to_toml())
    atomic_write_text(scenario_path, text)
    calibrated = load_scenario(scenario_path)
    for p, v in fitted.items():
        got = current_value(calibrated, cal.locators[p])
        if not np.isclose(float(got), float(v)):
            raise AdoptsimError(f"{scenario_path}: {p}: written {v!r} but the scenario resolves to {got!r}")


def fit_table(cal: Calibration, fitted: dict[str, Any], acc: pd.DataFrame, best: pd.Series) -> pd.DataFrame:
    """Per parameter: fitted value, posterior q10/q50/q90, best sample, prior range, base value."""
    rows = []
    for p in cal.parameters:
        q10, q50, q90 = quantiles(acc[p.path])
        rows.append({"parameter": p.path, "value": float(fitted[p.path]), "q10": q10, "q50": q50, "q90": q90,
                     "best": float(best[p.path]), "prior_low": float(p.range[0]), "prior_high": float(p.range[1]),
                     "base": float(current_value(cal.base, cal.locators[p.path]))})
    return pd.DataFrame(rows)


def targets_table(cal: Calibration, values: pd.DataFrame, acc: pd.DataFrame, check: pd.DataFrame) -> pd.DataFrame:
    """Per target: observed value and band, quantiles in the prior, accepted and check runs, z, inside."""
    acc_vals = values[values["point"].isin(acc["point"])]
    rows = []
    for t in cal.targets:
        v, lo, hi = target_numbers(t)
        pq, aq, cq = quantiles(values[t.id]), quantiles(acc_vals[t.id]), quantiles(check[t.id])
        z = float(deviation(t, cq[1]))
        rows.append({"target": t.id, "quantity": t.quantity or f"{t.metric}:{t.scope}:{t.scope_id or ''}:{t.key}"
                     f"@{t.when}", "kind": "month" if t.kind == "month" else "share",
                     "observed": v, "low": lo, "high": hi, "weight": t.weight,
                     "prior_q10": pq[0], "prior_q50": pq[1], "prior_q90": pq[2],
                     "accepted_q10": aq[0], "accepted_q50": aq[1], "accepted_q90": aq[2],
                     "calibrated_q10": cq[0], "calibrated_q50": cq[1], "calibrated_q90": cq[2],
                     "z": z, "inside": bool(abs(z) <= 1)})
    return pd.DataFrame(rows)


def _month_or(x, kind):
    return month_text(x) if kind == "month" and np.isfinite(x) else (None if not np.isfinite(x) else x)


def fit_info(cal: Calibration, fit: pd.DataFrame, tdf: pd.DataFrame, samples: pd.DataFrame, rule: str,
             scenario_path: Path, failed: int, check_dist: float, refine_info: dict | None) -> dict:
    """The content of ``fit.json`` (months as ``YYYY-MM``, missing numbers as null)."""
    acc = samples[samples["accepted"]]
    return build_manifest(
        "calibration", spec=cal.file, scenario_file=str(cal.scenario_file), targets_file=str(cal.targets_file),
        calibrated_scenario=str(scenario_path),
        method="ABC rejection over a Latin hypercube" + (" refined by Nelder-Mead" if refine_info else ""),
        samples=len(samples), replicates=cal.spec.replicates, seed=cal.spec.seed, horizon=cal.horizon,
        accepted=int(samples["accepted"].sum()), acceptance_rule=rule, runs_failed=failed,
        distance={"calibrated": check_dist, "best_sample": float(samples.loc[samples["distance"].idxmin(), "distance"]),
                  "accepted_median": float(np.median(acc["distance"]))},
        refine=refine_info or None,
        parameters=[{k: (v if not isinstance(v, float) or np.isfinite(v) else None) for k, v in r.items()}
                    for r in fit.to_dict("records")],
        targets=[{k: _month_or(r[k], r["kind"]) if k in ("observed", "low", "high") or k.endswith(
            ("_q10", "_q50", "_q90")) else r[k] for k in r} for r in tdf.to_dict("records")],
        unused_targets=[{"id": t.id, "note": t.note} for t in cal.all_targets if not t.use])


# ---- the command -------------------------------------------------------------------------

def _scenario_path(out: Path, scenario_out: str | Path | None) -> Path:
    path = Path(scenario_out) if scenario_out is not None else out / "calibrated.toml"
    if not path.parent.exists() and path.parent != out:
        raise AdoptsimError(f"{path}: --scenario-out: folder {path.parent} does not exist")
    return path


def run_calibration(spec: str | Path | Calibration, out: str | Path, workers: int | None = None,
                    scheduler: str | None = None, resume: bool = False, scenario_out: str | Path | None = None,
                    fmt: str = "parquet", progress: bool | None = None,
                    budget: Budget | None = None, posterior_out: str | Path | None = None) -> CalibrationReport:
    """Run a calibration into ``out`` (see the module docstring); draws no figure. A spec with
    ``[method] kind = "smc"`` runs ABC-SMC instead (:func:`.smc_run.run_smc`)."""
    t0 = time.perf_counter()
    cal = spec if isinstance(spec, Calibration) else load_spec(spec)
    out = Path(out)
    if posterior_out is not None and cal.spec.method.kind != "smc":
        raise AdoptsimError(f"--posterior-out: {cal.file} is an ABC rejection calibration (it writes no posterior "
                            "ensemble); use [method] kind = \"smc\"")
    if cal.spec.method.kind == "smc":
        from .smc_run import run_smc

        return run_smc(cal, out, workers=workers, scheduler=scheduler, resume=resume, posterior_out=posterior_out,
                       progress=progress, budget=budget)
    check_out_dir(out, resume, "pass --resume to continue the calibration stored there")
    scenario_path = _scenario_path(out, scenario_out)
    runs = cal.spec.method.samples * cal.spec.replicates
    check_runs(f"{cal.file}: {cal.spec.method.samples} sample(s) x {cal.spec.replicates} replicate(s)", runs, budget)
    points = lhs_points(cal)
    exp = calibration_experiment(cal, points)
    out.mkdir(parents=True, exist_ok=True)
    run_sweep(exp, out / "sweep", workers=workers, scheduler=scheduler, resume=resume, progress=progress,
              budget=budget)
    values, failed = per_point_values(cal, exp, out / "sweep")
    require_values(cal.targets, values, str(cal.targets_file), "the calibration runs")
    samples, rule = abc_samples(cal, points, values)
    acc = samples[samples["accepted"]]
    best = samples.loc[samples["distance"].idxmin()]
    fitted, refine_info = {p: float(np.median(acc[p])) for p in cal.paths}, None
    if cal.spec.method.refine:
        fitted, refine_info = refine(cal, best)
    fitted = {p: _round(v, cal.integer[p]) for p, v in fitted.items()}
    text = calibrated_toml(cal, fitted, acc, rule, scenario_path, len(samples), refine_info is not None)
    write_calibrated(cal, fitted, text, scenario_path)
    check = evaluate(cal, fitted, cal.spec.method.check_replicates)
    require_values(cal.targets, check, str(cal.targets_file), "the check runs of the calibrated scenario")
    check_dist = distance(cal.targets, {t.id: float(check[t.id].median()) for t in cal.targets})
    fit, tdf = fit_table(cal, fitted, acc, best), targets_table(cal, values, acc, check)
    write_table(fit, out / "fit", fmt)
    write_table(tdf, out / "targets", fmt)
    write_table(samples, out / "samples", fmt)
    info = fit_info(cal, fit, tdf, samples, rule, scenario_path, failed, check_dist, refine_info)
    info["elapsed_seconds"] = round(time.perf_counter() - t0, 3)
    atomic_write_text(out / "fit.json", json.dumps(info, indent=2, default=str) + "\n")
    name, n_acc = Path(cal.file).stem, len(acc)
    return CalibrationReport(
        out=out, scenario_path=scenario_path, fit=fit, targets=tdf, samples=samples, accepted=n_acc, rule=rule,
        distance=check_dist, elapsed=time.perf_counter() - t0, failed=failed,
        calibration_title=(f"{name}: simulated vs observed ({len(samples)} samples, {n_acc} accepted, "
                           f"{cal.spec.method.check_replicates} check replicates)"),
        posterior_title=f"{name}: prior and ABC posterior ({rule})")
