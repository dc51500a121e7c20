"""A finished sweep's tables: ``runs`` (one row per point and replicate), ``endpoints`` (every
run's values at the summary dates) and ``summary`` (per point, metric, scope, scope_id, key and
date: n, mean, q10, q50, q90 across replicates). Sorted deterministically, so they are
bit-identical whatever the executor and number of workers (docs/outputs.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


from ..analysis.bands import quantile_table
from ..errors import AdoptsimError
from ..io.tables import read_parquet
from .spec import Experiment

GROUP = ["point", "metric", "scope", "scope_id", "key", "date"]
ENDPOINT_COLUMNS = ["point", "replicate", "date", "scope", "scope_id", "metric", "key", "value"]


def factor_columns(exp: Experiment) -> dict[str, list]:
    """Design-point factor values, one list per factor (numeric if every value is)."""
    cols = {}
    for path in exp.factor_paths:
        vals = [p[path] for p in exp.points]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            cols[path] = [float(v) for v in vals]
        else:
            cols[path] = [str(v) for v in vals]
    return cols


def runs_table(exp: Experiment, runs: list, index: dict[str, dict], shards: Path) -> pd.DataFrame:
    """One row per planned run (:class:`~adoptsim.experiments.runner.RunSpec`): key, point,
    replicate, factor values, seed, status, error, duration and CPU time. A run is ``ok`` when
    its shard exists; ``index`` holds the run index records."""
    factors = factor_columns(exp)
    rows = []
    for r in runs:
        shard = shards / f"{r.key}.parquet"
        rec = index.get(r.key, {})
        if shard.exists():
            status, error = "ok", ""
            ok = rec.get("status") == "ok"  # else the index line was lost in a kill
            duration, cpu = (rec.get("duration"), rec.get("cpu")) if ok else (None, None)
        else:
            status = "failed"
            error = rec.get("error") or r.error or "not run (interrupted)"
            duration, cpu = rec.get("duration"), rec.get("cpu")
        rows.append({"run_key": r.key, "point": r.point, "replicate": r.replicate,
                     **{p: factors[p][r.point] for p in factors}, "seed": exp.spec.seed, "status": status,
                     "error": error, "duration": float("nan") if duration is None else float(duration),
                     "cpu": float("nan") if cpu is None else float(cpu)})
    df = pd.DataFrame(rows, columns=["run_key", "point", "replicate", *factors, "seed", "status", "error",
                                     "duration", "cpu"])
    df["point"] = df["point"].astype(np.int64)
    df["replicate"] = df["replicate"].astype(np.int64)
    df["seed"] = df["seed"].astype(np.int64)
    return df.sort_values(["point", "replicate"], kind="stable").reset_index(drop=True)


def summary_dates(exp: Experiment) -> list[pd.Timestamp]:
    """The experiment's summary dates (besides each run's final month) as timestamps."""
    return [pd.Timestamp(d + "-01") for d in exp.spec.dates]


def collect_endpoints(exp: Experiment, runs_frame: pd.DataFrame, shards: Path) -> pd.DataFrame:
    """Every stored run's values at its final month and the experiment's dates, read shard by
    shard (one run's time series in memory at a time)."""
    wanted = summary_dates(exp)
    parts = []
    for point, rep, key in runs_frame.loc[runs_frame["status"] == "ok", ["point", "replicate", "run_key"]] \
            .itertuples(index=False):
        t = read_parquet(shards / f"{key}.parquet")
        dates = pd.to_datetime(t["date"])
        pick = dates.isin(wanted) | (dates == dates.max())
        sub = t.loc[pick, ["date", "scope", "scope_id", "metric", "key", "value"]].copy()
        sub.insert(0, "replicate", np.int64(rep))
        sub.insert(0, "point", np.int64(point))
        parts.append(sub)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ENDPOINT_COLUMNS})
    df = pd.concat(parts, ignore_index=True)
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ms]")
    for col in ("scope", "scope_id", "metric", "key"):
        df[col] = df[col].astype(str)
    df = df.sort_values(["point", "metric", "scope", "scope_id", "key", "date", "replicate"], kind="stable")
    return df[ENDPOINT_COLUMNS].reset_index(drop=True)


def summarise_endpoints(endpoints: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
    """Per design point, metric, scope, scope_id, key and date: n, mean, q10, q50, q90 across
    replicates (:func:`adoptsim.analysis.bands.quantile_table`), with the point's factor values."""
    factors = factor_columns(exp)
    cols = ["point", *factors, "metric", "scope", "scope_id", "key", "date", "n", "mean", "q10", "q50", "q90"]
    if endpoints.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    out = quantile_table(endpoints, GROUP)
    for path, vals in factors.items():
        out[path] = [vals[p] for p in out["point"]]
    out = out.sort_values(GROUP, kind="stable")
    return out[cols].reset_index(drop=True)


def sweep_key(endpoints: pd.DataFrame, metric: str, scope: str, scope_id: str, key: str | None) -> str:
    """The key of ``metric`` to analyse in a sweep's endpoints: ``key`` if given (it must exist),
    else ``""`` for a metric without keys, ``open`` if present, else the key with the largest
    mean value."""
    sel = endpoints[(endpoints["metric"] == metric) & (endpoints["scope"] == scope)
                    & (endpoints["scope_id"] == scope_id)]
    if sel.empty:
        raise AdoptsimError(f"--metric/--scope: the sweep has no {metric!r} for {scope} {scope_id!r}")
    keys = sorted(map(str, sel["key"].unique()))
    if key is not None:
        if key not in keys:
            raise AdoptsimError(f"--key: no key {key!r} for {metric!r}; known: {', '.join(keys)}")
        return key
    if keys == [""]:
        return ""
    if "open" in keys:
        return "open"
    return str(sel.groupby("key")["value"].mean().sort_values(ascending=False, kind="stable").index[0])
