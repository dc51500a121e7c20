"""Figures of a sweep (``adoptsim plot SWEEP``): a metric against one factor, a heat map over
two factors, and every run's curve with the median highlighted (docs/experiments.md).

They take a loaded sweep (:class:`adoptsim.io.sweep_folder.SweepResults`) and a key already
chosen (the workflow checks ``--metric``/``--scope``/``--key`` and picks the default key). Values
are each run's value at its final month (from the endpoints table) unless a date is given.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from ..analysis.bands import quantile_table
from ..io.sweep_folder import SweepResults
from .style import date_axis, is_share, percent_axis, policy_marks, save_figure, share_axis, slug

def sweep_values(endpoints: pd.DataFrame, metric: str, scope: str, scope_id: str, key: str,
                  date: str | None = None) -> pd.DataFrame:
    """One value per run (point, replicate): at ``date`` (YYYY-MM) or at the run's final month."""
    sel = endpoints[(endpoints["metric"] == metric) & (endpoints["scope"] == scope)
                    & (endpoints["scope_id"] == scope_id) & (endpoints["key"] == key)].copy()
    sel["date"] = pd.to_datetime(sel["date"])
    if date is None:
        last = sel.groupby(["point", "replicate"])["date"].transform("max")
        sel = sel[sel["date"] == last]
    else:
        sel = sel[sel["date"] == pd.Timestamp(date + "-01")]
    return sel[["point", "replicate", "date", "value"]].reset_index(drop=True)


def factor_groups(values: pd.Series, max_levels: int = 15, bins: int = 10) -> tuple[pd.Series, list, list[str]]:
    """Group codes for a factor: its distinct values when few, else quantile bins (midpoints)."""
    numeric = pd.api.types.is_numeric_dtype(values)
    levels = sorted(values.unique()) if numeric else sorted(map(str, values.unique()))
    if not numeric or len(levels) <= max_levels:
        vals = values if numeric else values.astype(str)
        pos = {v: i for i, v in enumerate(levels)}
        labels = [f"{v:g}" if numeric else str(v) for v in levels]
        return vals.map(pos), (levels if numeric else list(range(len(levels)))), labels
    cut = pd.qcut(values, q=bins, duplicates="drop")
    cats = cut.cat.categories
    mids = [float(iv.mid) for iv in cats]
    return pd.Series(cut.cat.codes, index=values.index), mids, [f"{m:.3g}" for m in mids]


def sweep_title(sw: SweepResults, metric: str, scope: str, scope_id: str, key: str, date: str | None) -> str:
    what = metric + (f" [{key}]" if key else "")
    where = "world" if scope == "world" else f"{scope} {scope_id}"
    when = date or "final month"
    n = int((sw.runs["status"] == "ok").sum())
    return f"{sw.manifest.get('experiment', '')}: {what}, {where}, {when} ({n} runs)"


def sweep_factor_figure(sw: SweepResults, path: Path, metric: str, factor: str, scope: str = "world",
                        scope_id: str = "world", key: str = "", date: str | None = None) -> Path:
    """A metric against one factor: median and 10–90% band across all runs at each factor level
    (pooled over replicates and the other factors); runs shown as dots."""
    vals = sweep_values(sw.endpoints, metric, scope, scope_id, key, date)
    pts = sw.runs.drop_duplicates("point").set_index("point")[factor]
    vals["x"] = vals["point"].map(pts)
    codes, xs, labels = factor_groups(vals["x"])
    vals["g"] = codes.values
    q = quantile_table(vals, ["g"], stats=False)
    numeric = pd.api.types.is_numeric_dtype(vals["x"])
    gx = [xs[i] for i in q["g"]]
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    run_x = vals["x"] if numeric else vals["g"]
    ax.scatter(run_x, vals["value"], s=14, color="#666666", alpha=0.5, linewidths=0, label="runs", zorder=3)
    ax.fill_between(gx, q["q10"], q["q90"], color="#3b4cc0", alpha=0.2, linewidth=0, label="10–90% of runs")
    ax.plot(gx, q["q50"], color="#3b4cc0", marker="o", linewidth=2, label="median")
    if not numeric:
        ax.set_xticks(list(range(len(labels))), labels)
    ax.set_xlabel(factor)
    ax.set_ylabel(metric)
    percent_axis(ax, metric)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(frameon=False, fontsize=9)
    ax.set_title(sweep_title(sw, metric, scope, scope_id, key, date), fontsize=10)
    return save_figure(fig, path)


def sweep_heatmap_figure(sw: SweepResults, path: Path, metric: str, fx: str, fy: str, scope: str = "world",
                         scope_id: str = "world", key: str = "", date: str | None = None) -> Path:
    """Median of a metric over two factors (cells: their levels, or quantile bins for
    continuous designs; pooled over replicates and any other factors)."""
    vals = sweep_values(sw.endpoints, metric, scope, scope_id, key, date)
    pts = sw.runs.drop_duplicates("point").set_index("point")
    cx, _, lx = factor_groups(vals["point"].map(pts[fx]), bins=8)
    cy, _, ly = factor_groups(vals["point"].map(pts[fy]), bins=8)
    vals["cx"], vals["cy"] = cx.values, cy.values
    grid = vals.groupby(["cy", "cx"])["value"].median().unstack("cx").reindex(
        index=range(len(ly)), columns=range(len(lx)))
    fig, ax = plt.subplots(figsize=(7.5, 5.6), layout="constrained")
    shares = is_share(metric)
    values = grid.to_numpy(dtype=float)
    lo, hi = (float(np.nanmin(values)), float(np.nanmax(values))) if np.isfinite(values).any() else (0.0, 1.0)
    if hi <= lo:  # one value everywhere: a neutral range around it
        lo, hi = lo - 0.5 * abs(lo or 1.0), hi + 0.5 * abs(hi or 1.0)
    im = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis", vmin=lo, vmax=hi)  # the data's range
    ax.set_xticks(range(len(lx)), lx, rotation=45 if len(lx) > 6 else 0)
    ax.set_yticks(range(len(ly)), ly)
    ax.set_xlabel(fx)
    ax.set_ylabel(fy)
    if grid.size <= 100:
        for (i, j), v in pd.DataFrame(grid.to_numpy()).stack().items():
            if not np.isfinite(v):  # no run in this cell (a sampled design): left blank
                continue
            ax.text(j, i, f"{v:.0%}" if shares else f"{v:.3g}", ha="center", va="center", fontsize=8,
                    color="white" if v < lo + 0.5 * (hi - lo) else "black")
    cb = fig.colorbar(im, ax=ax)
    cb.set_label(f"median {metric}" + (f" [{key}]" if key else ""))
    if shares:
        cb.formatter = PercentFormatter(1.0, decimals=0)
        cb.update_ticks()
    blank = "\nblank cells: no run there" if not np.isfinite(values).all() else ""
    ax.set_title(sweep_title(sw, metric, scope, scope_id, key, date) + blank, fontsize=10)
    return save_figure(fig, path)


def run_curve(sw: SweepResults, run_key: str, metric: str, scope: str, scope_id: str, key: str) -> pd.DataFrame:
    """One stored run's curve of a metric (``date, value``, by date)."""
    t = sw.shard(run_key)
    t = t[(t["metric"] == metric) & (t["scope"] == scope) & (t["scope_id"] == scope_id) & (t["key"] == key)]
    return t[["date", "value"]].sort_values("date")


def sweep_curves_figure(sw: SweepResults, path: Path, metric: str, scope: str = "world", scope_id: str = "world",
                        key: str = "", max_runs: int = 2000) -> Path:
    """Every run's curve (thin, coloured by the first factor) with the median across runs
    highlighted; shards are read one at a time."""
    ok = sw.runs[sw.runs["status"] == "ok"].head(max_runs)
    factors = [f["path"] for f in sw.manifest.get("factors", [])]
    first = factors[0] if factors else None
    numeric = first is not None and pd.api.types.is_numeric_dtype(ok[first])
    cmap = plt.get_cmap("viridis")
    if numeric:
        lo, hi = float(ok[first].min()), float(ok[first].max())
        norm = matplotlib.colors.Normalize(lo, hi if hi > lo else lo + 1)
    fig, ax = plt.subplots(figsize=(8.5, 5), layout="constrained")
    series = []
    dates = None
    for row in ok.to_dict("records"):
        t = run_curve(sw, row["run_key"], metric, scope, scope_id, key)
        c = cmap(norm(row[first])) if numeric else "#777777"
        ax.plot(t["date"], t["value"], color=c, alpha=0.25, linewidth=0.6)
        if dates is None or len(t) == len(dates):
            dates = t["date"].to_numpy() if dates is None else dates
            series.append(t["value"].to_numpy())
    if series:
        med = np.median(np.vstack(series), axis=0)
        ax.plot(dates, med, color="#d62728", linewidth=2.6, label=f"median of {len(series)} runs")
        ax.legend(frameon=False, fontsize=9, loc="best")
    if numeric:
        cb = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax)
        cb.set_label(first)
    share_axis(ax, metric)
    date_axis(ax)
    policy_marks(ax, sw.manifest.get("policies", []), label=False)
    n = len(ok)
    ax.set_title(f"{sw.manifest.get('experiment', '')}: {metric}" + (f" [{key}]" if key else "")
                 + f", {'world' if scope == 'world' else scope + ' ' + scope_id}: all {n} runs"
                 + (f" (first {max_runs})" if n >= max_runs else ""), fontsize=10)
    return save_figure(fig, path)


def draw_sweep_plots(sw: SweepResults, folder: Path, metric: str, by: str = "world",
                     outcomes: list[tuple[str, str]] | None = None, date: str | None = None) -> list[Path]:
    """The standard figures of a sweep into ``folder`` (its ``plots`` folder): for each
    ``(scope_id, key)`` of ``outcomes`` (default ``[("world", "")]``) at scope level ``by``, the
    metric (at each run's final month, or at ``date``, one of the experiment's ``dates``) against
    each factor, a heat map over the first two factors, and all runs' curves."""
    if metric not in sw.manifest.get("metrics", []):
        raise ValueError(f"the sweep kept no metric {metric!r}")
    factors = [f["path"] for f in sw.manifest.get("factors", [])]
    folder = Path(folder)
    paths = []
    for sid, k in outcomes or [("world", "")]:
        tag = slug(f"{metric}" + (f"_{k}" if k else "") + ("" if by == "world" else f"_{sid}"))
        when = f"_{date}" if date else ""
        for f in factors:
            paths.append(sweep_factor_figure(sw, folder / f"{tag}{when}_vs_{f}.png", metric, f, by, sid, k, date))
        if len(factors) >= 2:
            paths.append(sweep_heatmap_figure(sw, folder / f"{tag}{when}_{factors[0]}_x_{factors[1]}.png", metric,
                                              factors[0], factors[1], by, sid, k, date))
        paths.append(sweep_curves_figure(sw, folder / f"{tag}_runs.png", metric, by, sid, k))
    return paths
