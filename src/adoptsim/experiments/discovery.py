"""Scenario discovery over a sweep (``adoptsim discover``): which ranges of the sweep's
factors lead to an outcome the user names (docs/experiments.md). The method, PRIM, is
:mod:`adoptsim.analysis.prim`.

:func:`discover` returns a :class:`DiscoveryResult` (tables, summary, manifest, figure title);
writing the output folder and drawing ``discovery.png`` is :mod:`adoptsim.workflows.discovery`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..analysis.prim import ALPHA, MIN_MASS, box_table, choose_box, in_box, prim
from ..core import SCOPES
from ..errors import AdoptsimError
from ..io.manifest import build_manifest
from ..io.sweep_folder import SweepResults, load_sweep
from ..months import parse_month
from .endpoints import sweep_key


def sweep_outcomes(sw: SweepResults, metric: str, scope: str, scope_id: str, key: str,
                   date: str | None) -> pd.DataFrame:
    """Every stored run's value of one metric at ``date`` (``YYYY-MM``; default each run's final
    month): columns ``point, replicate``, the factors, ``value``. Read from ``endpoints.parquet``
    when the date was summarised, else from the run shards."""
    factors = [f["path"] for f in sw.manifest.get("factors", [])]
    ok = sw.runs[sw.runs["status"] == "ok"]
    ep = sw.endpoints
    sel = ep[(ep["metric"] == metric) & (ep["scope"] == scope) & (ep["scope_id"] == scope_id) & (ep["key"] == key)]
    if date is None or pd.Timestamp(date + "-01") in set(pd.to_datetime(sel["date"])):
        sel = sel.assign(date=pd.to_datetime(sel["date"]))
        if date is None:
            sel = sel[sel["date"] == sel.groupby(["point", "replicate"])["date"].transform("max")]
        else:
            sel = sel[sel["date"] == pd.Timestamp(date + "-01")]
        vals = sel[["point", "replicate", "value"]]
    else:
        vals = _shard_values(sw, ok, metric, scope, scope_id, key, date)
    out = ok[["point", "replicate", *factors]].merge(vals, on=["point", "replicate"], how="inner")
    return out.sort_values(["point", "replicate"], kind="stable").reset_index(drop=True)


def _shard_values(sw: SweepResults, ok: pd.DataFrame, metric: str, scope: str, scope_id: str, key: str,
                  date: str) -> pd.DataFrame:
    """Each stored run's value at a month the sweep did not summarise, read from its shard."""
    rows = []
    when = pd.Timestamp(date + "-01")
    for point, rep, rkey in ok[["point", "replicate", "run_key"]].itertuples(index=False):
        has_key = pc.field("key").is_null() if key == "" else pc.field("key") == key  # keyless: null
        t = pq.read_table(sw.path / "runs" / f"{rkey}.parquet", columns=["date", "value"],
                          filters=(pc.field("metric") == metric) & (pc.field("scope") == scope)
                          & (pc.field("scope_id") == scope_id) & has_key).to_pandas(date_as_object=False)
        v = t.loc[pd.to_datetime(t["date"]) == when, "value"]
        if len(v):
            rows.append({"point": point, "replicate": rep, "value": float(v.iloc[0])})
    if not rows:
        first = sw.manifest.get("start")
        raise AdoptsimError(f"--date: no month {date} in the runs of {sw.path} (they start {first})")
    return pd.DataFrame(rows)


@dataclass
class DiscoveryResult:
    """What :func:`discover` found. ``trajectory`` (``prim_trajectory``), ``box`` (``prim_box``)
    and ``cases`` are the tables to write; ``summary`` holds condition, cases, hits,
    chosen_step, chosen_because, coverage, density, mass and box (restricted factors: ``[low,
    high]`` or categories); ``manifest`` is the folder's ``manifest.json``; ``factors``,
    ``step``, ``why`` and ``title`` are what the discovery figure needs."""

    trajectory: pd.DataFrame
    box: pd.DataFrame
    cases: pd.DataFrame
    factors: list[str]
    step: int
    why: str
    title: str
    summary: dict
    manifest: dict


def _check_arguments(above, below, alpha, min_mass, min_density, scope, scope_id, date) -> str:
    """Check the thresholds, PRIM parameters, scope and date; return the scope id."""
    if (above is None) == (below is None):
        raise AdoptsimError("--above/--below: give exactly one threshold")
    if not 0 < alpha < 0.5:
        raise AdoptsimError(f"--alpha: expected a fraction in (0, 0.5), got {alpha}")
    if not 0 < min_mass <= 1:
        raise AdoptsimError(f"--min-mass: expected a fraction in (0, 1], got {min_mass}")
    if min_density is not None and not 0 < min_density <= 1:
        raise AdoptsimError(f"--min-density: expected a fraction in (0, 1], got {min_density}")
    if scope not in SCOPES:
        raise AdoptsimError(f"--level: expected world, region or nation, got {scope!r}")
    if date is not None:
        try:
            parse_month(date)
        except ValueError as exc:
            raise AdoptsimError(f"--date: {exc}") from None
    scope_id = "world" if scope == "world" else scope_id
    if scope_id is None:
        raise AdoptsimError(f"--scope: name the {scope} with --level {scope} --scope ID")
    return scope_id


def _check_sweep(sw: SweepResults, label: str, metric: str, scope: str, scope_id: str) -> list[str]:
    """The sweep must have kept the metric, have factors and hold the scope; return the factors."""
    kept = sw.manifest.get("metrics", [])
    if metric not in kept:
        raise AdoptsimError(f"--metric: the sweep kept only {', '.join(kept)}; got {metric!r}")
    factors = [f["path"] for f in sw.manifest.get("factors", [])]
    if not factors:
        raise AdoptsimError(f"{label}: the sweep has no factors to discover ranges of")
    ep = sw.endpoints
    if not (ep["scope"] == scope).any() or not ((ep["scope"] == scope) & (ep["scope_id"] == scope_id)).any():
        known = sorted(map(str, ep.loc[ep["scope"] == scope, "scope_id"].unique()))
        raise AdoptsimError(f"--scope: no {scope} {scope_id!r} in {label}; known: {', '.join(known)}")
    return factors


#: Metrics that are shares, 0..1 (docs/outputs.md): a threshold outside is a mistake (85 for 0.85).
SHARE_METRICS = ("adoption", "share_vendor", "share_license", "share_origin", "critical_dependency", "hhi")
#: Discovery needs at least this many runs, and this share of them, on each side of the condition.
MIN_CASES, MIN_SHARE = 10, 0.05


def check_enough_cases(cases: pd.DataFrame, metric: str, op: str, thr: float) -> None:
    """Refuse a discovery that would rest on too few runs: a threshold outside a share's 0..1, or
    fewer than :data:`MIN_CASES` (or :data:`MIN_SHARE` of the runs) meeting, or not meeting, the
    condition. The message gives the numbers and where the values lie."""
    flag = "--above" if op == ">" else "--below"
    if metric in SHARE_METRICS and not 0 <= thr <= 1:
        hint = f"; did you mean {thr / 100:g}?" if 1 < thr <= 100 else ""
        raise AdoptsimError(f"{flag} {thr:g}: {metric} is a share between 0 and 1{hint}")
    n, hits = len(cases), int(cases["outcome"].sum())
    need = max(MIN_CASES, math.ceil(MIN_SHARE * n))
    if min(hits, n - hits) < need:
        v = cases["value"].to_numpy(dtype=float)
        lo, q10, q50, q90, hi = np.nanquantile(v, [0, 0.1, 0.5, 0.9, 1])
        raise AdoptsimError(f"{flag} {thr:g}: {hits} of {n} runs meet the condition and {n - hits} do not; "
                            f"discovery needs at least {need} on each side. The values range {lo:.3g}..{hi:.3g} "
                            f"(10%/50%/90%: {q10:.3g}/{q50:.3g}/{q90:.3g}): choose a threshold inside")


def discover(sweep: SweepResults | str | Path, metric: str, scope: str = "world", scope_id: str | None = None,
             key: str | None = None, date: str | None = None, above: float | None = None,
             below: float | None = None, alpha: float = ALPHA, min_mass: float = MIN_MASS,
             min_density: float | None = None) -> DiscoveryResult:
    """PRIM over a sweep's runs (a :class:`~adoptsim.io.sweep_folder.SweepResults` or a sweep
    folder to load): the outcome is ``value > above`` or ``value < below`` of ``metric`` (its
    ``key``, chosen as :func:`~adoptsim.experiments.endpoints.sweep_key` when None) in the scope
    at ``date`` (default each run's final month). Writes nothing."""
    scope_id = _check_arguments(above, below, alpha, min_mass, min_density, scope, scope_id, date)
    label = str(sweep.path) if isinstance(sweep, SweepResults) else str(sweep)
    sw = sweep if isinstance(sweep, SweepResults) else load_sweep(sweep)
    factors = _check_sweep(sw, label, metric, scope, scope_id)
    key = sweep_key(sw.endpoints, metric, scope, scope_id, key)
    cases = sweep_outcomes(sw, metric, scope, scope_id, key, date)
    if cases.empty:
        raise AdoptsimError(f"{label}: no stored run has {metric!r} for {scope} {scope_id!r}")
    op, thr = (">", above) if above is not None else ("<", below)
    cases["outcome"] = (cases["value"] > thr) if above is not None else (cases["value"] < thr)
    check_enough_cases(cases, metric, op, thr)
    traj = prim(cases[factors], cases["outcome"].to_numpy(), alpha, min_mass)
    step, why = choose_box(traj, min_density)
    box = box_table(traj, step, cases[factors])
    cases["in_box"] = in_box(cases[factors], box)
    what = metric + (f"[{key}]" if key else "")
    where = "world" if scope == "world" else f"{scope} {scope_id}"
    condition = f"{what} in {where} at {date or 'the final month'} {op} {thr:g}"
    chosen = traj.loc[traj["step"] == step].iloc[0]
    summary = {"condition": condition, "cases": int(len(cases)), "hits": int(cases["outcome"].sum()),
               "chosen_step": step, "chosen_because": why, "coverage": float(chosen["coverage"]),
               "density": float(chosen["density"]), "mass": float(chosen["mass"]),
               "box": {r.factor: ([r.low, r.high] if not r.categories else r.categories.split("|"))
                       for r in box.itertuples(index=False) if r.restricted}}
    manifest = build_manifest("discovery", sweep=label, experiment=sw.manifest.get("experiment"),
                              metric=metric, scope=scope, scope_id=scope_id, key=key, date=date,
                              above=above, below=below, alpha=alpha, min_mass=min_mass, min_density=min_density,
                              method="PRIM peeling (Friedman & Fisher 1999), no pasting", **summary)
    return DiscoveryResult(trajectory=traj, box=box, cases=cases, factors=factors, step=step, why=why,
                           title=f"{sw.manifest.get('experiment', '')}: {condition}", summary=summary,
                           manifest=manifest)
