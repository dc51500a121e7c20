"""Global and local sensitivity analysis of an experiment: Sobol' indices and OAT tornados
(docs/experiments.md).

``adoptsim sensitivity EXPERIMENT --out DIR`` reads an experiment file
(:mod:`adoptsim.experiments.spec`) and, according to its ``[design] method``:

* ``sobol`` — variance-based (Sobol') indices. The design points are Saltelli's scheme made by
  :func:`SALib.sample.sobol.sample` with ``N = samples`` base points (a power of 2) and
  second-order terms, i.e. ``N·(2D + 2)`` points for D factors, drawn in the unit hypercube
  (seeded from the experiment seed) and mapped onto each factor's ``range`` (or ``values``)
  exactly as the sweep maps its own designs. The outcome of a design point is the **mean over
  replicates** of a metric at the experiment's final month (and at each of its ``dates``); as
  every point runs replicate r with the same seed (common random numbers), replicate noise
  mostly cancels from the differences the estimators use. :func:`SALib.analyze.sobol.analyze`
  gives, per factor and outcome, the first-order index ``S1`` (share of the outcome's variance
  explained by the factor alone) and the total index ``ST`` (including all its interactions),
  with bootstrap confidence half-widths ``S1_conf`` / ``ST_conf`` (95%, 100 resamples, seeded).
  A factor that cannot change the outcome gives exactly the same runs when it alone moves, so
  its ``ST`` is 0.
* ``oat`` — one factor at a time: the central point, then each factor alone at its low and its
  high value, the others central (:func:`adoptsim.experiments.designs.oat_points`). The tornado
  table gives the outcome (mean over replicates) at low, central and high and the swing
  ``|high − low|``.

Outputs in DIR: ``sensitivity.parquet`` (Sobol': ``factor, metric, scope, scope_id, key, date,
S1, S1_conf, ST, ST_conf``) or ``tornado.parquet`` (OAT), ``manifest.json`` and the sweep
folder ``sweep/`` that holds every run (so ``--resume`` continues an interrupted analysis and
skips stored runs). Outcomes that do not vary at all across the design (e.g. the share of a
vendor nobody adopts) have no defined indices and are left out.

This module draws no figure: :func:`run_sensitivity` returns the rows and title of the outcome
to draw (:attr:`SensitivityReport.selection`, :attr:`SensitivityReport.title`), and
:mod:`adoptsim.workflows.sensitivity` draws ``plots/sensitivity.png`` or ``plots/tornado.png``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import SCOPES
from ..errors import AdoptsimError
from ..io.atomic import check_out_dir
from ..io.manifest import build_manifest, write_manifest
from ..io.tables import read_parquet, write_table
from .designs import unit_points
from .loader import load_experiment
from .paths import is_integer_field
from .budget import Budget, check_runs
from .runner import SweepReport, run_sweep
from .spec import Experiment

SOBOL_COLUMNS = ["factor", "metric", "scope", "scope_id", "key", "date", "S1", "S1_conf", "ST", "ST_conf"]
TORNADO_COLUMNS = ["factor", "metric", "scope", "scope_id", "key", "date", "low", "central", "high",
                   "y_low", "y_central", "y_high", "swing"]


def _salib():
    try:
        from SALib.analyze import sobol as analyze
        from SALib.sample import sobol as sample
    except ImportError:
        raise AdoptsimError("sensitivity: method 'sobol' needs SALib, which is not installed; install it with "
                            "pip install 'adoptsim[sensitivity]' (or pip install SALib)") from None
    return sample, analyze


def _problem(exp: Experiment) -> dict:
    return {"num_vars": len(exp.factor_paths), "names": exp.factor_paths,
            "bounds": [[0.0, 1.0]] * len(exp.factor_paths)}


def saltelli_experiment(exp: Experiment) -> Experiment:
    """The experiment with its points replaced by Saltelli's N·(2D+2) points (N = samples)."""
    sample, _ = _salib()
    n = exp.spec.design.samples
    unit = sample.sample(_problem(exp), n, calc_second_order=True, scramble=True, seed=exp.spec.seed % 2**32)
    integer = {f.path: is_integer_field(exp.base, exp.locators[f.path]) for f in exp.spec.factors}
    return dataclasses.replace(exp, points=unit_points(unit, exp.spec.factors, integer))


# ---- analysis ----------------------------------------------------------------------------

def _outcomes(summary: pd.DataFrame, n_points: int, by: tuple[str, ...]) -> dict[tuple, np.ndarray]:
    """(metric, scope, scope_id, key, date) -> mean over replicates per design point (NaN where a
    point has no value, e.g. failed runs)."""
    sel = summary[summary["scope"].isin(by)]
    out = {}
    for ident, g in sel.groupby(["metric", "scope", "scope_id", "key", "date"], sort=True):
        y = np.full(n_points, np.nan)
        y[g["point"].to_numpy()] = g["mean"].to_numpy(dtype=float)
        out[ident] = y
    return out


def sobol_table(summary: pd.DataFrame, exp: Experiment, by: tuple[str, ...] = ("world",)) -> pd.DataFrame:
    """Sobol' indices for every outcome of a finished Saltelli sweep (see the module docstring)."""
    _, analyze = _salib()
    problem = _problem(exp)
    rows = []
    for (metric, scope, scope_id, key, date), y in _outcomes(summary, len(exp.points), by).items():
        if not np.isfinite(y).all():
            raise AdoptsimError(f"{exp.file}: some runs failed, so {metric} [{key}] {scope} {scope_id} has no value "
                                "at some design points; Sobol' indices need every point (see sweep/runs.parquet)")
        if np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
            continue  # constant outcome: indices undefined
        res = analyze.analyze(problem, y, calc_second_order=True, num_resamples=100, conf_level=0.95,
                              seed=exp.spec.seed % 2**32)
        for j, name in enumerate(problem["names"]):
            rows.append({"factor": name, "metric": metric, "scope": scope, "scope_id": scope_id, "key": key,
                         "date": date, "S1": float(res["S1"][j]), "S1_conf": float(res["S1_conf"][j]),
                         "ST": float(res["ST"][j]), "ST_conf": float(res["ST_conf"][j])})
    return _frame(rows, SOBOL_COLUMNS)


def tornado_table(summary: pd.DataFrame, exp: Experiment, by: tuple[str, ...] = ("world",)) -> pd.DataFrame:
    """Low/central/high outcome of each factor in an OAT sweep, sorted by swing within outcomes."""
    rows = []
    for (metric, scope, scope_id, key, date), y in _outcomes(summary, len(exp.points), by).items():
        for k, name in enumerate(exp.factor_paths):
            lo, hi = exp.points[2 * k + 1][name], exp.points[2 * k + 2][name]
            y_lo, y_c, y_hi = y[2 * k + 1], y[0], y[2 * k + 2]
            rows.append({"factor": name, "metric": metric, "scope": scope, "scope_id": scope_id, "key": key,
                         "date": date, "low": lo, "central": exp.points[0][name], "high": hi,
                         "y_low": float(y_lo), "y_central": float(y_c), "y_high": float(y_hi),
                         "swing": float(abs(y_hi - y_lo))})
    df = _frame(rows, TORNADO_COLUMNS)
    if df.empty:
        return df
    for col in ("low", "central", "high"):  # numbers as numbers; text only when a factor is categorical
        numeric = df[col].map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all()
        df[col] = df[col].astype(float) if numeric else df[col].astype(str)
    df = df.sort_values(["metric", "scope", "scope_id", "key", "date", "swing", "factor"],
                        ascending=[True, True, True, True, True, False, True], kind="stable")
    return df.reset_index(drop=True)


def _frame(rows: list[dict], cols: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=cols)
    if not df.empty:
        df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ms]")
    return df


def figure_selection(table: pd.DataFrame, exp: Experiment, metric: str | None, key: str | None) -> pd.DataFrame:
    """The rows of the one outcome a figure draws: ``metric`` (default the experiment's first
    metric with results), the world scope (or the first scope), ``key`` (default ``open``, ``""``
    or the key with the largest summed ``ST``/``swing``) and the final date."""
    metrics = [m for m in exp.spec.metrics if m in set(table["metric"])]
    if metric is None:
        metric = metrics[0] if metrics else str(table["metric"].iloc[0])
    sel = table[table["metric"] == metric]
    if sel.empty:
        raise AdoptsimError(f"--metric: no sensitivity results for {metric!r}; "
                            f"known: {', '.join(sorted(set(table['metric'])))}")
    scope = "world" if (sel["scope"] == "world").any() else str(sel["scope"].iloc[0])
    sel = sel[sel["scope"] == scope]
    sel = sel[sel["scope_id"] == sel["scope_id"].iloc[0]]
    keys = sorted(set(sel["key"]))
    if key is None:
        score = "ST" if "ST" in sel else "swing"
        key = "open" if "open" in keys else ("" if "" in keys else
                                             str(sel.groupby("key")[score].sum().idxmax()))
    elif key not in keys:
        raise AdoptsimError(f"--key: no key {key!r} for {metric!r}; known: {', '.join(keys)}")
    sel = sel[(sel["key"] == key) & (sel["date"] == sel["date"].max())]
    return sel.reset_index(drop=True)


def outcome_label(sel: pd.DataFrame) -> str:
    """``metric [key], where, YYYY-MM`` of a figure selection."""
    r = sel.iloc[0]
    what = r["metric"] + (f" [{r['key']}]" if r["key"] else "")
    where = "world" if r["scope"] == "world" else f"{r['scope']} {r['scope_id']}"
    return f"{what}, {where}, {pd.Timestamp(r['date']).strftime('%Y-%m')}"


# ---- the command -------------------------------------------------------------------------

@dataclass
class SensitivityReport:
    """What :func:`run_sensitivity` did. ``selection`` and ``title`` are the rows and title of the
    figure to draw (None when the table is empty or no figure was asked for); ``samples`` and
    ``replicates`` are the design's for the Sobol' figure's note; workflows add the drawn
    ``figures``."""

    out: Path
    method: str
    table: pd.DataFrame
    sweep: SweepReport
    selection: pd.DataFrame | None = None
    title: str | None = None
    samples: int | None = None
    replicates: int | None = None
    figures: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.sweep.exit_code

    @property
    def figure_path(self) -> Path:
        """Where the figure goes: ``plots/sensitivity.png`` (Sobol') or ``plots/tornado.png``."""
        return self.out / "plots" / ("sensitivity.png" if self.method == "sobol" else "tornado.png")


def prepare(experiment: str | Path | Experiment, by: str | tuple[str, ...],
            budget: Budget | None = None) -> tuple[Experiment, tuple[str, ...]]:
    """The experiment to sweep (Saltelli points for ``sobol``) and the scope levels; checks both,
    and the number of runs against ``budget`` before the Saltelli points are generated."""
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment, budget)
    method = exp.spec.design.method
    by = (by,) if isinstance(by, str) else tuple(by)
    for b in by:
        if b not in SCOPES:
            raise AdoptsimError(f"--level: expected one of {', '.join(SCOPES)}, got {b!r}")
    if method not in ("sobol", "oat"):
        raise AdoptsimError(f"{exp.file}: design.method: sensitivity needs method 'sobol' (Sobol' indices) or "
                            f"'oat' (tornado), got {method!r}")
    if method == "sobol":
        if len(exp.factor_paths) < 2:
            raise AdoptsimError(f"{exp.file}: factors: Sobol' indices need at least 2 factors")
        n = exp.spec.design.samples * (2 * len(exp.factor_paths) + 2)
        check_runs(f"{exp.file}: Saltelli design of {n} point(s) x {exp.spec.replicates} replicate(s)",
                   n * exp.spec.replicates, budget)
        exp = saltelli_experiment(exp)
    return exp, by


def run_sensitivity(experiment: str | Path | Experiment, out: str | Path, workers: int | None = None,
                    scheduler: str | None = None, resume: bool = False, by: str | tuple[str, ...] = "world",
                    fmt: str = "parquet", progress: bool | None = None, plot: bool = True,
                    metric: str | None = None, key: str | None = None,
                    budget: Budget | None = None) -> SensitivityReport:
    """Run the sensitivity analysis of an experiment into ``out`` (see the module docstring).

    ``by`` names the scope levels analysed (``world``, ``region``, ``nation`` or a tuple of
    them); ``metric``/``key`` choose the outcome of the figure (default: the first of the
    experiment's metrics at world level, its ``open`` key or largest key); ``plot=False`` skips
    choosing it. Writes the table, ``manifest.json`` and ``sweep/``; draws nothing."""
    exp, by = prepare(experiment, by, budget)
    method = exp.spec.design.method
    out = Path(out)
    check_out_dir(out, resume, "pass --resume to continue the analysis stored there")
    out.mkdir(parents=True, exist_ok=True)
    rep = run_sweep(exp, out / "sweep", workers=workers, scheduler=scheduler, resume=resume, progress=progress,
                    budget=budget)
    summary = read_parquet(out / "sweep" / "summary.parquet")
    table = sobol_table(summary, exp, by) if method == "sobol" else tornado_table(summary, exp, by)
    name = "sensitivity" if method == "sobol" else "tornado"
    write_table(table, out / name, fmt)
    report = SensitivityReport(out=out, method=method, table=table, sweep=rep,
                               samples=exp.spec.design.samples, replicates=exp.spec.replicates)
    if plot and not table.empty:
        report.selection = figure_selection(table, exp, metric, key)
        report.title = f"{exp.name}: {outcome_label(report.selection)}"
    write_manifest(out, build_manifest(
        "sensitivity", method=method, experiment=exp.name, experiment_file=exp.file,
        scenario_file=str(exp.scenario_file), factors=exp.factor_paths, samples=exp.spec.design.samples,
        points=len(exp.points), replicates=exp.spec.replicates, seed=exp.spec.seed, by=list(by),
        outcome="mean over replicates of each metric at the final month and each of the experiment's dates",
        runs_ok=rep.ok, runs_failed=rep.failed, table=f"{name}.{fmt}"))
    return report
