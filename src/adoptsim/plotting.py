"""Figures drawn with matplotlib (Agg backend; no screen needed).

Every figure shows the median across replicates with a shaded 10–90% band, dated axes, policy
starts marked, and one fixed colour per origin, licence and vendor across all figures.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from .analysis import band  # noqa: E402

FIXED_COLOURS = {
    # licences and totals
    "open": "#e6850e", "closed": "#3b4cc0", "": "#444444", "any model": "#444444",
    # origins
    "US": "#1f77b4", "CN": "#d62728", "EU": "#2ca02c", "FR": "#2ca02c", "DE": "#98df8a",
    "UK": "#9467bd", "GB": "#9467bd", "IN": "#ff7f0e", "JP": "#8c564b", "KR": "#e377c2",
    "AE": "#bcbd22", "CA": "#17becf", "IL": "#7f7f7f",
    # vendors of the bundled scenarios: US closed blues, US open purples, EU green, CN reds/browns
    "openai": "#08306b", "google": "#4292c6", "anthropic": "#9ecae1", "llama": "#6a51a3",
    "gpt_oss": "#bcbddc", "mistral": "#31a354", "deepseek": "#a50f15", "qwen": "#fb6a4a",
    "kimi": "#fdae6b", "glm": "#8c2d04", "minimax": "#e7298a", "hunyuan": "#fcbba1",
    "india_llm": "#ff7f0e",
}
PALETTE = plt.get_cmap("tab20").colors
SHARE_METRICS = {"adoption", "share_vendor", "share_license", "share_origin", "critical_dependency", "hhi"}
UNITS = {"price": "USD per million output tokens", "revenue": "USD per month", "capability": "capability index",
         "derivatives": "derivative models", "compute": "usable compute (relative)",
         "efficiency": "efficiency (relative)", "influence": "nations with a majority"}


def colour(key: str) -> str:
    """A stable colour for an origin, licence or vendor id (same in every figure and run)."""
    if key in FIXED_COLOURS:
        return FIXED_COLOURS[key]
    h = int(hashlib.sha256(key.encode()).hexdigest(), 16)
    return PALETTE[h % len(PALETTE)]


def _dates(ax) -> None:
    loc = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.grid(True, alpha=0.3, linewidth=0.6)


def _policy_groups(policies: list[dict]) -> list[tuple[int, str, list[str]]]:
    """Policies grouped by start month and numbered in time order: (number, month, names)."""
    months: dict[str, list[str]] = {}
    for p in sorted(policies, key=lambda p: (p["start"], p["name"])):
        months.setdefault(p["start"], []).append(p["name"])
    return [(i, m, names) for i, (m, names) in enumerate(months.items(), start=1)]


def _policy_marks(ax, policies: list[dict], label: bool) -> None:
    """Dotted vertical lines at policy starts; with ``label``, each start month gets its number
    above the axes (staggered on up to three rows where months are close), named in the
    figure's footnote (:func:`_policy_note`)."""
    last_x: list[float] = []
    for num, month, _ in _policy_groups(policies):
        x = pd.Timestamp(month + "-01")
        ax.axvline(x, color="#777777", linestyle=":", linewidth=0.9, zorder=0)
        if not label:
            continue
        xn = mdates.date2num(x)
        level = next((k for k, prev in enumerate(last_x) if xn - prev > 75), None)
        if level is None:
            level = len(last_x) if len(last_x) < 3 else int(np.argmin(last_x))
            if level == len(last_x):
                last_x.append(xn)
        last_x[level] = xn
        ax.annotate(str(num), (x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 2 + 9 * level),
                    textcoords="offset points", ha="center", va="bottom", fontsize=7, color="#444444")
    if label and last_x and ax.get_title():  # lift the title above the numbers
        ax.set_title(ax.get_title(), pad=6 + 9 * len(last_x), fontsize=ax.title.get_fontsize())


def _policy_lines(policies: list[dict], width: int = 185) -> list[str]:
    items = [f"{num}\u00a0{month}: {', '.join(names)}" for num, month, names in _policy_groups(policies)]
    if not items:
        return []
    return textwrap.wrap("Policy starts: " + "; ".join(items), width=width, subsequent_indent="  ",
                         break_on_hyphens=False)


def _note_figure(ncols: int, width: float, height: float, policies: list[dict]):
    """A figure with ``ncols`` plot axes and, below them, a footnote row naming the policies."""
    lines = _policy_lines(policies)
    note_h = 0.16 * len(lines) + 0.08 if lines else 0.0
    fig = plt.figure(figsize=(width, height + note_h), layout="constrained")
    gs = fig.add_gridspec(2 if lines else 1, ncols, height_ratios=[height, note_h] if lines else None)
    axes = [fig.add_subplot(gs[0, i]) for i in range(ncols)]
    if lines:
        note = fig.add_subplot(gs[1, :])
        note.axis("off")
        note.text(0.0, 1.0, "\n".join(lines), transform=note.transAxes, va="top", ha="left",
                  fontsize=7.5, color="#444444")
    return fig, axes


def _draw_bands(ax, b: pd.DataFrame, labels: dict[str, str] | None = None, order: list[str] | None = None) -> None:
    keys = order or sorted(b["key"].unique())
    for key in keys:
        k = b[b["key"] == key]
        if k.empty:
            continue
        c = colour(key)
        ax.fill_between(k["date"], k["q10"], k["q90"], color=c, alpha=0.18, linewidth=0)
        ax.plot(k["date"], k["q50"], color=c, linewidth=1.8,
                label=(labels or {}).get(key, key or "value"))


def _share_axis(ax, metric: str) -> None:
    if metric in SHARE_METRICS - {"hhi"}:
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_ylabel("share of all developers")
    else:
        ax.set_ylabel(UNITS.get(metric, metric))


def adoption_figure(frame: pd.DataFrame, manifest: dict, path: Path, scope: str = "world",
                    scope_id: str = "world") -> Path:
    """Open vs closed and by origin: median with a 10–90% band across replicates."""
    n_rep = int(frame["replicate"].nunique())
    fig, axes = _note_figure(2, 12, 5.6, manifest.get("policies", []))
    axes[1].sharey(axes[0])
    lic = band(frame, scope, scope_id, "share_license")
    total = band(frame, scope, scope_id, "adoption")
    total["key"] = "any model"
    _draw_bands(axes[0], pd.concat([total, lic]), labels={"open": "open weights", "closed": "closed (API)",
                                                          "any model": "any model (adoption)"},
                order=["any model", "open", "closed"])
    axes[0].set_title("Open-weight vs closed models")
    org = band(frame, scope, scope_id, "share_origin")
    last = org[org["date"] == org["date"].max()].sort_values("q50", ascending=False)
    _draw_bands(axes[1], org, order=list(last["key"]))
    axes[1].set_title("By origin of the model")
    for ax in axes:
        _share_axis(ax, "adoption")
        _dates(ax)
        _policy_marks(ax, manifest.get("policies", []), label=True)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4, frameon=False, fontsize=9)
    axes[1].set_ylabel("")
    where = "world" if scope == "world" else f"{scope} {scope_id}"
    fig.suptitle(f"{manifest.get('scenario', '')}: AI model adoption, {where}\n"
                 f"median of {n_rep} replicate{'s' if n_rep != 1 else ''}, shaded band 10–90%; "
                 "dotted lines: policy starts (numbered, named below)", fontsize=11)
    return _save(fig, path)


def metric_figure(frame: pd.DataFrame, manifest: dict, path: Path, metric: str, by: str = "world",
                  scope_ids: list[str] | None = None, max_panels: int = 12) -> Path:
    """One metric, one panel per scope (small multiples for regions or nations)."""
    sel = frame[(frame["scope"] == by) & (frame["metric"] == metric)]
    ids = [str(s) for s in pd.unique(sel["scope_id"])]
    if scope_ids:
        ids = [s for s in scope_ids if s in ids]
    ids = ids[:max_panels]
    n = max(len(ids), 1)
    cols = min(n, 3 if n > 4 else n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows + 0.8), squeeze=False,
                             sharex=True, sharey=metric in SHARE_METRICS, constrained_layout=True)
    handles = {}
    for ax, sid in zip(axes.flat, ids):
        b = band(frame, by, sid, metric)
        _draw_bands(ax, b)
        ax.set_title(sid, fontsize=10)
        _share_axis(ax, metric)
        _dates(ax)
        _policy_marks(ax, manifest.get("policies", []), label=False)
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    for ax in list(axes.flat)[len(ids):]:
        ax.set_visible(False)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="outside lower center",
                   ncol=min(len(handles), 6), frameon=False, fontsize=9)
    n_rep = int(frame["replicate"].nunique())
    fig.suptitle(f"{manifest.get('scenario', '')}: {metric} by {by}\n"
                 f"median of {n_rep} replicate{'s' if n_rep != 1 else ''}, shaded band 10–90%", fontsize=11)
    return _save(fig, path)


# ---- analyst figures: regions, vendors, heat map, dependency, comparison ------------------

REPORT_NATIONS = ("US", "CN", "EU", "IN", "JP", "UK")


def _median(frame: pd.DataFrame, scope: str, metric: str) -> pd.DataFrame:
    """Median across replicates per date, scope id and key of one metric at one scope level."""
    sel = frame[(frame["scope"] == scope) & (frame["metric"] == metric)]
    out = sel.groupby(["date", "scope_id", "key"], observed=True)["value"].median().reset_index()
    out["scope_id"] = out["scope_id"].astype(str)
    out["key"] = out["key"].astype(str)
    return out


def _subtitle(frame: pd.DataFrame) -> str:
    n = int(frame["replicate"].nunique())
    return f"median of {n} replicate{'s' if n != 1 else ''}"


def regions_figure(frame: pd.DataFrame, manifest: dict, path: Path, metric: str = "share_origin") -> Path:
    """Small multiples: one panel per region, one line (with 10–90% band) per origin."""
    return metric_figure(frame, manifest, path, metric, by="region")


def vendors_figure(frame: pd.DataFrame, manifest: dict, path: Path, scope: str = "world",
                   scope_id: str = "world") -> Path:
    """Stacked shares of all developers by vendor (median across replicates), non-adopters on top."""
    med = _median(frame, scope, "share_vendor")
    med = med[med["scope_id"] == scope_id].pivot(index="date", columns="key", values="value").fillna(0.0)
    order = list(med.iloc[-1].sort_values(ascending=False).index)
    fig, ax = plt.subplots(figsize=(10, 5.6), layout="constrained")
    ax.stackplot(med.index, [med[k] for k in order], labels=order, colors=[colour(k) for k in order],
                 alpha=0.9, linewidth=0.3, edgecolor="white")
    ax.fill_between(med.index, med[order].sum(axis=1), 1.0, color="#dddddd", label="no model yet", linewidth=0)
    _share_axis(ax, "share_vendor")
    _dates(ax)
    ax.set_xlim(med.index.min(), med.index.max())
    _policy_marks(ax, manifest.get("policies", []), label=False)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9, title="vendor",
              reverse=True)
    where = "world" if scope == "world" else f"{scope} {scope_id}"
    ax.set_title(f"{manifest.get('scenario', '')}: share of developers by vendor, {where}\n"
                 f"{_subtitle(frame)} (stacked; dotted lines: policy starts)", fontsize=11)
    return _save(fig, path)


def heatmap_figure(frame: pd.DataFrame, manifest: dict, path: Path, date: str | None = None) -> Path:
    """Who builds on whose models: nation x origin share of the nation's adopting developers at
    ``date`` (``YYYY-MM``; default the last month), median across replicates."""
    med = _median(frame, "nation", "share_origin")
    dates = sorted(med["date"].unique())
    when = pd.Timestamp(date + "-01") if date else pd.Timestamp(dates[-1])
    if when not in set(pd.to_datetime(dates)):
        raise ValueError(f"no month {when:%Y-%m} in the results ({pd.Timestamp(dates[0]):%Y-%m}.."
                         f"{pd.Timestamp(dates[-1]):%Y-%m})")
    m = med[med["date"] == when].pivot(index="scope_id", columns="key", values="value").fillna(0.0)
    m = m.div(m.sum(axis=1).where(m.sum(axis=1) > 0, 1.0), axis=0)  # share of adopters
    origins = list(m.mean().sort_values(ascending=False).index)
    m = m[origins].sort_values(origins[0], ascending=False)
    fig, ax = plt.subplots(figsize=(3.2 + 1.0 * len(origins), 1.6 + 0.22 * len(m)), layout="constrained")
    im = ax.imshow(m.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(origins)), [f"{o}" for o in origins])
    ax.set_yticks(range(len(m)), list(m.index), fontsize=8)
    for i in range(len(m)):
        for j in range(len(origins)):
            v = m.iat[i, j]
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=7,
                    color="black" if v > 0.6 else "white")
    ax.set_xlabel("origin of the model")
    ax.set_ylabel("nation or bloc")
    fig.colorbar(im, ax=ax, format=PercentFormatter(1.0, decimals=0), label="share of the nation's adopters",
                 fraction=0.12, shrink=0.6)
    ax.set_title(f"{manifest.get('scenario', '')}: who builds on whose models, {when:%Y-%m}\n{_subtitle(frame)}",
                 fontsize=10)
    return _save(fig, path)


def dependency_figure(frame: pd.DataFrame, manifest: dict, path: Path,
                      nations: tuple[str, ...] = REPORT_NATIONS) -> Path:
    """Critical dependency over time: share of government and health developers on a foreign
    origin's models, world and selected nations, median with 10–90% band."""
    known = set(map(str, frame.loc[frame["scope"] == "nation", "scope_id"].unique()))
    ids = [n for n in nations if n in known]
    fig, ax = plt.subplots(figsize=(10, 5.4), layout="constrained")
    parts = []
    for sid, scope in [("world", "world")] + [(n, "nation") for n in ids]:
        b = band(frame, scope, sid, "critical_dependency")
        b["key"] = sid
        parts.append(b)
    _draw_bands(ax, pd.concat(parts), labels={"world": "world"}, order=["world"] + ids)
    for line in ax.get_lines():
        if line.get_label() == "world":
            line.set(color="black", linewidth=2.6)
    _share_axis(ax, "critical_dependency")
    ax.set_ylabel("critical developers on foreign models")
    _dates(ax)
    _policy_marks(ax, manifest.get("policies", []), label=False)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9, title="scope")
    ax.set_title(f"{manifest.get('scenario', '')}: critical dependency (government and health developers "
                 f"using a foreign origin's models)\n{_subtitle(frame)}, shaded band 10–90%; "
                 "dotted lines: policy starts", fontsize=10)
    return _save(fig, path)


def comparison_figure(base: pd.DataFrame, base_manifest: dict, alt: pd.DataFrame, alt_manifest: dict,
                      path: Path, metric: str = "share_origin", scope: str = "world",
                      scope_id: str = "world") -> Path:
    """Baseline vs scenario: the metric's median per key in both runs (baseline dashed), and the
    difference scenario − baseline, paired by replicate (common random numbers), with its
    10–90% band across replicates."""
    a = band(base, scope, scope_id, metric)
    b = band(alt, scope, scope_id, metric)
    sel = lambda f: f[(f["scope"] == scope) & (f["scope_id"] == scope_id) & (f["metric"] == metric)]  # noqa: E731
    pa = sel(base).set_index(["replicate", "date", "key"])["value"]
    pb = sel(alt).set_index(["replicate", "date", "key"])["value"]
    diff = (pb - pa.reindex(pb.index, fill_value=0.0)).dropna().reset_index()
    diff["key"] = diff["key"].astype(str)
    d = diff.groupby(["key", "date"])["value"].quantile([0.1, 0.5, 0.9]).unstack(-1)
    d.columns = ["q10", "q50", "q90"]
    d = d.reset_index()
    keys = sorted(set(a["key"]) | set(b["key"]))
    extra = [p for p in alt_manifest.get("policies", [])
             if p not in base_manifest.get("policies", [])]
    fig, axes = _note_figure(2, 13, 5.6, extra)
    for key in keys:
        c = colour(key)
        ka, kb = a[a["key"] == key], b[b["key"] == key]
        if not ka.empty:
            axes[0].plot(ka["date"], ka["q50"], color=c, linestyle="--", linewidth=1.4)
        if not kb.empty:
            axes[0].plot(kb["date"], kb["q50"], color=c, linewidth=2.0, label=key or metric)
    _draw_bands(axes[1], d, order=keys)
    axes[1].axhline(0, color="#333333", linewidth=0.8)
    _share_axis(axes[0], metric)
    axes[1].set_ylabel("scenario − baseline" + (" (share points)" if metric in SHARE_METRICS else ""))
    if metric in SHARE_METRICS:
        axes[1].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    na, nb = base_manifest.get("scenario", "A"), alt_manifest.get("scenario", "B")
    axes[0].set_title(f"{metric}: {nb} (solid) vs {na} (dashed)", fontsize=10)
    axes[1].set_title(f"difference {nb} − {na}, paired by replicate; band 10–90%", fontsize=10)
    for ax in axes:
        _dates(ax)
        _policy_marks(ax, extra, label=True)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=6, frameon=False, fontsize=9)
    where = "world" if scope == "world" else f"{scope} {scope_id}"
    fig.suptitle(f"{nb} vs {na}, {where}: {_subtitle(alt)}; dotted lines: policies only in {nb}", fontsize=11)
    return _save(fig, path)


FIGURES = ("adoption", "regions", "vendors", "heatmap", "dependency")


def draw_figure(name: str, frame: pd.DataFrame, manifest: dict, folder: Path, fmt: str = "png",
                date: str | None = None) -> Path:
    """Draw one of the standard figures (:data:`FIGURES`) into ``folder`` as ``<name>.<fmt>``."""
    path = Path(folder) / f"{name}.{fmt}"
    if name == "adoption":
        return adoption_figure(frame, manifest, path)
    if name == "regions":
        return regions_figure(frame, manifest, path)
    if name == "vendors":
        return vendors_figure(frame, manifest, path)
    if name == "heatmap":
        return heatmap_figure(frame, manifest, path.with_name(f"heatmap_{date}.{fmt}") if date else path, date)
    if name == "dependency":
        return dependency_figure(frame, manifest, path)
    raise ValueError(f"unknown figure {name!r}; expected one of: {', '.join(FIGURES)}")


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def draw_run_plots(frame: pd.DataFrame, manifest: dict, folder: Path) -> list[Path]:
    """The standard figures of a run, into ``folder``."""
    return [draw_figure(name, frame, manifest, Path(folder)) for name in FIGURES]


# ---- sweeps ------------------------------------------------------------------------------
# Figures of a sweep folder (adoptsim.sweep): a metric against one factor, a heat map over two
# factors, and every run's curve with the median highlighted. Values are each run's value at
# its final month (from endpoints.parquet) unless a date is given.

def _sweep_key(endpoints: pd.DataFrame, metric: str, scope: str, scope_id: str, key: str | None) -> str:
    from .errors import AdoptsimError

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


def _sweep_values(endpoints: pd.DataFrame, metric: str, scope: str, scope_id: str, key: str,
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


def _factor_groups(values: pd.Series, max_levels: int = 15, bins: int = 10) -> tuple[pd.Series, list, list[str]]:
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


def _sweep_title(sw, metric: str, scope: str, scope_id: str, key: str, date: str | None) -> str:
    what = metric + (f" [{key}]" if key else "")
    where = "world" if scope == "world" else f"{scope} {scope_id}"
    when = date or "final month"
    n = int((sw.runs["status"] == "ok").sum())
    return f"{sw.manifest.get('experiment', '')}: {what}, {where}, {when} ({n} runs)"


def _share_y(ax, metric: str, axis: str = "y") -> None:
    if metric in SHARE_METRICS - {"hhi"}:
        (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))


def sweep_factor_figure(sw, path: Path, metric: str, factor: str, scope: str = "world", scope_id: str = "world",
                        key: str | None = None, date: str | None = None) -> Path:
    """A metric against one factor: median and 10–90% band across all runs at each factor level
    (pooled over replicates and the other factors); runs shown as dots."""
    key = _sweep_key(sw.endpoints, metric, scope, scope_id, key)
    vals = _sweep_values(sw.endpoints, metric, scope, scope_id, key, date)
    pts = sw.runs.drop_duplicates("point").set_index("point")[factor]
    vals["x"] = vals["point"].map(pts)
    codes, xs, labels = _factor_groups(vals["x"])
    vals["g"] = codes.values
    g = vals.groupby("g")["value"]
    q = g.quantile([0.1, 0.5, 0.9]).unstack(-1).sort_index()
    numeric = pd.api.types.is_numeric_dtype(vals["x"])
    gx = [xs[i] for i in q.index]
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    run_x = vals["x"] if numeric else vals["g"]
    ax.scatter(run_x, vals["value"], s=14, color="#666666", alpha=0.5, linewidths=0, label="runs", zorder=3)
    ax.fill_between(gx, q[0.1], q[0.9], color="#3b4cc0", alpha=0.2, linewidth=0, label="10–90% of runs")
    ax.plot(gx, q[0.5], color="#3b4cc0", marker="o", linewidth=2, label="median")
    if not numeric:
        ax.set_xticks(list(range(len(labels))), labels)
    ax.set_xlabel(factor)
    ax.set_ylabel(metric)
    _share_y(ax, metric)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(frameon=False, fontsize=9)
    ax.set_title(_sweep_title(sw, metric, scope, scope_id, key, date), fontsize=10)
    return _save(fig, path)


def sweep_heatmap_figure(sw, path: Path, metric: str, fx: str, fy: str, scope: str = "world",
                         scope_id: str = "world", key: str | None = None, date: str | None = None) -> Path:
    """Median of a metric over two factors (cells: their levels, or quantile bins for
    continuous designs; pooled over replicates and any other factors)."""
    key = _sweep_key(sw.endpoints, metric, scope, scope_id, key)
    vals = _sweep_values(sw.endpoints, metric, scope, scope_id, key, date)
    pts = sw.runs.drop_duplicates("point").set_index("point")
    cx, _, lx = _factor_groups(vals["point"].map(pts[fx]), bins=8)
    cy, _, ly = _factor_groups(vals["point"].map(pts[fy]), bins=8)
    vals["cx"], vals["cy"] = cx.values, cy.values
    grid = vals.groupby(["cy", "cx"])["value"].median().unstack("cx").reindex(
        index=range(len(ly)), columns=range(len(lx)))
    fig, ax = plt.subplots(figsize=(7.5, 5.6), layout="constrained")
    shares = metric in SHARE_METRICS - {"hhi"}
    im = ax.imshow(grid.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis",
                   vmin=0 if shares else None, vmax=1 if shares else None)
    ax.set_xticks(range(len(lx)), lx, rotation=45 if len(lx) > 6 else 0)
    ax.set_yticks(range(len(ly)), ly)
    ax.set_xlabel(fx)
    ax.set_ylabel(fy)
    if grid.size <= 100:
        for (i, j), v in pd.DataFrame(grid.to_numpy()).stack().items():
            ax.text(j, i, f"{v:.0%}" if shares else f"{v:.3g}", ha="center", va="center", fontsize=8,
                    color="white" if (v < 0.5 if shares else False) else "black")
    cb = fig.colorbar(im, ax=ax)
    cb.set_label(f"median {metric}" + (f" [{key}]" if key else ""))
    if shares:
        cb.formatter = PercentFormatter(1.0, decimals=0)
        cb.update_ticks()
    ax.set_title(_sweep_title(sw, metric, scope, scope_id, key, date), fontsize=10)
    return _save(fig, path)


def sweep_curves_figure(sw, path: Path, metric: str, scope: str = "world", scope_id: str = "world",
                        key: str | None = None, max_runs: int = 2000) -> Path:
    """Every run's curve (thin, coloured by the first factor) with the median across runs
    highlighted; shards are read one at a time."""
    import numpy as np
    import pyarrow.parquet as pq

    key = _sweep_key(sw.endpoints, metric, scope, scope_id, key)
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
        t = pq.read_table(sw.path / "runs" / f"{row['run_key']}.parquet", columns=["date", "value"],
                          filters=[("metric", "=", metric), ("scope", "=", scope), ("scope_id", "=", scope_id),
                                   ("key", "=", key)]).to_pandas().sort_values("date")
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
    _share_axis(ax, metric)
    _dates(ax)
    _policy_marks(ax, sw.manifest.get("policies", []), label=False)
    n = len(ok)
    ax.set_title(f"{sw.manifest.get('experiment', '')}: {metric}" + (f" [{key}]" if key else "")
                 + f", {'world' if scope == 'world' else scope + ' ' + scope_id}: all {n} runs"
                 + (f" (first {max_runs})" if n >= max_runs else ""), fontsize=10)
    return _save(fig, path)


def draw_sweep_plots(folder, metric: str | None = None, by: str = "world", scope: list[str] | None = None,
                     key: str | None = None, date: str | None = None) -> list[Path]:
    """The standard figures of a sweep folder into ``folder/plots``: the metric (at each run's
    final month, or at ``date``, one of the experiment's ``dates``) against each factor, a heat
    map over the first two factors, and all runs' curves."""
    from .errors import AdoptsimError
    from .sweep import load_sweep

    sw = load_sweep(folder)
    metrics = sw.manifest.get("metrics", [])
    metric = metric or (metrics[0] if metrics else "adoption")
    if metric not in metrics:
        raise AdoptsimError(f"--metric: the sweep kept only {', '.join(metrics)}; got {metric!r}")
    if date is not None and date not in sw.manifest.get("dates", []):
        raise AdoptsimError(f"--date: the sweep summarised only the final month and "
                            f"{', '.join(sw.manifest.get('dates', [])) or 'no other date'}; got {date!r}")
    if by == "world":
        ids = ["world"]
    else:
        known = sorted(map(str, sw.endpoints.loc[sw.endpoints["scope"] == by, "scope_id"].unique()))
        if not scope:
            raise AdoptsimError(f"--scope: name the {by}(s) to draw with --by {by}; known: {', '.join(known)}")
        for s in scope:
            if s not in known:
                raise AdoptsimError(f"--scope: no {by} {s!r} in {folder}; known: {', '.join(known)}")
        ids = list(scope)
    factors = [f["path"] for f in sw.manifest.get("factors", [])]
    out = Path(folder) / "plots"
    paths = []
    for sid in ids:
        k = _sweep_key(sw.endpoints, metric, by, sid, key)
        tag = f"{metric}" + (f"_{k}" if k else "") + ("" if by == "world" else f"_{sid}")
        when = f"_{date}" if date else ""
        for f in factors:
            paths.append(sweep_factor_figure(sw, out / f"{tag}{when}_vs_{f}.png", metric, f, by, sid, k, date))
        if len(factors) >= 2:
            paths.append(sweep_heatmap_figure(sw, out / f"{tag}{when}_{factors[0]}_x_{factors[1]}.png", metric,
                                              factors[0], factors[1], by, sid, k, date))
        paths.append(sweep_curves_figure(sw, out / f"{tag}_runs.png", metric, by, sid, k))
    return paths


# ---- analysis figures (adoptsim compare / discover / target) ----------------------------

RESULT_COLOURS = ("#444444", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                  "#17becf", "#bcbd22")


def compare_figure(curves: pd.DataFrame, differences: pd.DataFrame, path: Path, metric: str, where: str,
                   policies: list[dict] | None = None, max_keys: int = 4) -> Path:
    """Several results against the first (reference): per key, the median and 10–90% band of
    each results (left) and of each one's difference from the reference (right; solid and
    labelled "paired" when replicates share seeds, dashed "unpaired" otherwise). Keys are those
    with the largest mean difference (at most ``max_keys``; the tables hold them all)."""
    labels = list(dict.fromkeys(curves["results"]))
    col = {lab: RESULT_COLOURS[i % len(RESULT_COLOURS)] for i, lab in enumerate(labels)}
    keys = sorted(set(curves["key"]))
    if not differences.empty:
        size = differences.groupby("key")["mean"].apply(lambda s: s.abs().max())
        keys = sorted(keys, key=lambda k: (-float(size.get(k, 0.0)), k))
    shown = keys[:max_keys]
    lines = _policy_lines(policies or [])
    note_h = 0.16 * len(lines) + 0.08 if lines else 0.0
    fig = plt.figure(figsize=(12.5, 0.5 + 3.1 * len(shown) + note_h), layout="constrained")
    gs = fig.add_gridspec(len(shown) + (1 if lines else 0), 2,
                          height_ratios=[3.1] * len(shown) + ([note_h] if lines else []))
    for row, key in enumerate(shown):
        ax_c, ax_d = fig.add_subplot(gs[row, 0]), fig.add_subplot(gs[row, 1])
        for lab in labels:
            k = curves[(curves["results"] == lab) & (curves["key"] == key)]
            ax_c.fill_between(k["date"], k["q10"], k["q90"], color=col[lab], alpha=0.15, linewidth=0)
            ax_c.plot(k["date"], k["q50"], color=col[lab], linewidth=1.8,
                      label=lab + (" (reference)" if lab == labels[0] else ""))
        for lab in labels[1:]:
            d = differences[(differences["results"] == lab) & (differences["key"] == key)]
            if d.empty:
                continue
            paired = bool(d["paired"].iloc[0])
            ax_d.fill_between(d["date"], d["q10"], d["q90"], color=col[lab], alpha=0.2 if paired else 0.1,
                              linewidth=0, hatch=None if paired else "///")
            ax_d.plot(d["date"], d["q50"], color=col[lab], linewidth=1.8, linestyle="-" if paired else "--",
                      label=f"{lab} − {labels[0]} ({'paired' if paired else 'unpaired'})")
        ax_d.axhline(0, color="#333333", linewidth=0.8)
        _share_axis(ax_c, metric)
        if metric in SHARE_METRICS - {"hhi"}:
            ax_c.set_ylim(auto=True)
            ax_d.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        name = metric + (f" [{key}]" if key else "")
        ax_c.set_title(f"{name}: median and 10–90% across replicates", fontsize=10)
        ax_d.set_title(f"{name}: difference from {labels[0]}, 10–90%", fontsize=10)
        ax_d.set_ylabel("difference" + (" (share points)" if metric in SHARE_METRICS else ""))
        for ax in (ax_c, ax_d):
            _dates(ax)
            _policy_marks(ax, policies or [], label=row == 0)
            ax.legend(frameon=False, fontsize=8, loc="best")
    if lines:
        note = fig.add_subplot(gs[-1, :])
        note.axis("off")
        note.text(0.0, 1.0, "\n".join(lines), transform=note.transAxes, va="top", ha="left", fontsize=7.5,
                  color="#444444")
    more = f" (showing {len(shown)} of {len(keys)} keys, largest differences first)" if len(keys) > len(shown) else ""
    fig.suptitle(f"{metric}, {where}: {len(labels)} results vs {labels[0]}{more}", fontsize=11)
    return _save(fig, path)


# ---- sensitivity (adoptsim.sensitivity) ----------------------------------------------------

def sensitivity_figure(rows: pd.DataFrame, path: Path, title: str, n: int | None = None,
                       replicates: int | None = None) -> Path:
    """Sobol' indices of one outcome: first-order (S1) and total (ST) index per factor as bars
    with their 95% bootstrap confidence intervals; factors sorted by ST."""
    import numpy as np

    rows = rows.sort_values("ST", ascending=True, kind="stable")
    y = np.arange(len(rows))
    h = 0.38
    fig, ax = plt.subplots(figsize=(8.0, 1.2 + 0.55 * len(rows)), layout="constrained")
    ax.barh(y + h / 2, rows["ST"], height=h, color="#3b4cc0", label="total (ST)",
            xerr=rows["ST_conf"], error_kw={"ecolor": "#222222", "capsize": 3, "linewidth": 1})
    ax.barh(y - h / 2, rows["S1"], height=h, color="#e6850e", label="first order (S1)",
            xerr=rows["S1_conf"], error_kw={"ecolor": "#222222", "capsize": 3, "linewidth": 1})
    ax.set_yticks(y, rows["factor"])
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_xlabel("Sobol' index (share of the outcome's variance), bars: 95% CI")
    ax.set_xlim(min(-0.05, float((rows[["S1", "ST"]].to_numpy() - rows[["S1_conf", "ST_conf"]].to_numpy()).min())
                    - 0.02),
                max(1.05, float((rows[["S1", "ST"]].to_numpy() + rows[["S1_conf", "ST_conf"]].to_numpy()).max())
                    + 0.02))
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    sub = []
    if n:
        sub.append(f"Saltelli N = {n}")
    if replicates:
        sub.append(f"outcome = mean of {replicates} replicate(s)")
    ax.set_title(title + (f"\n{', '.join(sub)}" if sub else ""), fontsize=10)
    return _save(fig, path)


def tornado_figure(rows: pd.DataFrame, path: Path, title: str) -> Path:
    """One-at-a-time tornado of one outcome: per factor a bar from the outcome at the factor's low
    value to the outcome at its high value (the others central); largest swing on top."""
    import numpy as np

    rows = rows.sort_values("swing", ascending=True, kind="stable")
    y = np.arange(len(rows))
    centre = float(rows["y_central"].iloc[0])
    fig, ax = plt.subplots(figsize=(8.5, 1.3 + 0.5 * len(rows)), layout="constrained")
    for yi, r in zip(y, rows.itertuples(index=False)):
        bars = [(r.y_low - centre, "#9ecae1", "#3b4cc0"), (r.y_high - centre, "#fdae6b", "#e6850e")]
        for width, face, edge in sorted(bars, key=lambda t: -abs(t[0])):  # the shorter drawn on top
            ax.barh(yi, width, left=centre, height=0.6, color=face, edgecolor=edge)
        if r.swing == 0 and r.y_low == centre:
            ax.annotate(f"no effect ({r.low} .. {r.high})", (centre, yi), xytext=(4, 0), textcoords="offset points",
                        ha="left", va="center", fontsize=7.5, color="#666666")
            continue
        for val, lab in ((r.y_low, r.low), (r.y_high, r.high)):
            ax.annotate(lab, (val, yi), xytext=(3 if val >= centre else -3, 0), textcoords="offset points",
                        ha="left" if val >= centre else "right", va="center", fontsize=7.5, color="#333333")
    ax.axvline(centre, color="#333333", linewidth=1)
    ax.set_yticks(y, rows["factor"])
    metric = str(rows["metric"].iloc[0])
    _share_y(ax, metric, axis="x")
    ax.use_sticky_edges = False
    ax.margins(x=0.2)
    ax.set_xlabel("outcome (mean over replicates); blue: factor at low value, orange: at high value")
    ax.set_title(f"{title}\ncentral = {centre:.4g}; labels: factor values", fontsize=10)
    return _save(fig, path)


def discovery_figure(trajectory: pd.DataFrame, box: pd.DataFrame, cases: pd.DataFrame, factors: list[str],
                     step: int, path: Path, title: str, why: str = "") -> Path:
    """Scenario discovery (PRIM): the peeling trajectory as coverage against density (colour:
    mass) with the chosen box marked; the chosen box's bounds on each factor's full range; and
    the cases over the two most restricted factors (outcome 1 red) with the box drawn."""
    import numpy as np
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2), layout="constrained",
                             gridspec_kw={"width_ratios": [1.1, 1.0, 1.1]})
    ax = axes[0]
    ax.plot(trajectory["coverage"], trajectory["density"], color="#999999", linewidth=1, zorder=1)
    sc = ax.scatter(trajectory["coverage"], trajectory["density"], c=trajectory["mass"], cmap="viridis", s=22,
                    zorder=2, vmin=0, vmax=1)
    ch = trajectory.loc[trajectory["step"] == step].iloc[0]
    ax.scatter([ch["coverage"]], [ch["density"]], marker="*", s=260, color="#d62728", edgecolor="black",
               linewidths=0.6, zorder=3, label=f"chosen: step {step}")
    ax.annotate(f"step {step}\ncoverage {ch['coverage']:.0%}\ndensity {ch['density']:.0%}\nmass {ch['mass']:.0%}",
                (ch["coverage"], ch["density"]), xytext=(12, -12), textcoords="offset points", fontsize=8,
                va="top", bbox={"boxstyle": "round", "fc": "white", "ec": "#999999", "alpha": 0.9})
    cb = fig.colorbar(sc, ax=ax)
    cb.set_label("mass (share of runs in the box)")
    ax.set_xlabel("coverage (share of hits inside the box)")
    ax.set_ylabel("density (share of runs in the box that hit)")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    ax.set_title(f"peeling trajectory ({len(trajectory) - 1} peels); {why}", fontsize=9)

    ax = axes[1]
    for i, r in enumerate(box.itertuples(index=False)):
        y = len(box) - 1 - i
        if r.categories:
            ax.barh(y, 1.0, color="#dddddd", height=0.5)
            ax.text(0.5, y, r.categories.replace("|", ", "), ha="center", va="center", fontsize=8)
            continue
        span = (r.full_high - r.full_low) or 1.0
        a, b = (r.low - r.full_low) / span, (r.high - r.full_low) / span
        ax.barh(y, 1.0, color="#dddddd", height=0.5)
        ax.barh(y, max(b - a, 0.01), left=a, color="#d62728" if r.restricted else "#f4a582", height=0.5)
        ax.text(1.02, y, f"{r.low:.3g} – {r.high:.3g}" + ("" if r.restricted else "\n(not restricted)"), va="center",
                fontsize=8)
        ax.text(-0.02, y - 0.36, f"{r.full_low:.3g}", ha="left", va="top", fontsize=7, color="#777777")
        ax.text(1.0, y - 0.36, f"{r.full_high:.3g}", ha="right", va="top", fontsize=7, color="#777777")
    ax.set_yticks(range(len(box)), list(box["factor"])[::-1], fontsize=8)
    ax.set_xlim(-0.02, 1.35)
    ax.set_ylim(-0.8, len(box) - 0.4)
    ax.set_xticks([])
    ax.set_title(f"chosen box (step {step}) on each factor's full range", fontsize=9)
    for s in ("top", "right", "bottom"):
        ax.spines[s].set_visible(False)

    ax = axes[2]
    num = box[box["categories"] == ""].copy()
    num["tightness"] = 1 - (num["high"] - num["low"]) / (num["full_high"] - num["full_low"]).replace(0, np.nan)
    num = num.sort_values(["restricted", "tightness"], ascending=False, kind="stable")
    hit = cases["outcome"].to_numpy(dtype=bool)
    if len(num) >= 2:
        fx, fy = num["factor"].iloc[0], num["factor"].iloc[1]
        x, y = cases[fx].to_numpy(dtype=float), cases[fy].to_numpy(dtype=float)
        rng = np.random.default_rng(0)  # jitter only, for runs that share a design point
        jx = (rng.random(len(x)) - 0.5) * 0.01 * (np.ptp(x) or 1)
        jy = (rng.random(len(y)) - 0.5) * 0.01 * (np.ptp(y) or 1)
        ax.scatter(x[~hit] + jx[~hit], y[~hit] + jy[~hit], s=9, color="#999999", alpha=0.5, linewidths=0,
                   label="condition not met")
        ax.scatter(x[hit] + jx[hit], y[hit] + jy[hit], s=9, color="#d62728", alpha=0.6, linewidths=0,
                   label="condition met")
        bx, by = box.set_index("factor").loc[fx], box.set_index("factor").loc[fy]
        ax.add_patch(Rectangle((bx["low"], by["low"]), bx["high"] - bx["low"], by["high"] - by["low"], fill=False,
                               edgecolor="black", linewidth=1.6, label="chosen box"))
        ax.set_xlabel(fx)
        ax.set_ylabel(fy)
        ax.set_title("runs on the two most restricted factors (jittered slightly)", fontsize=9)
    elif len(num) == 1:
        fx = num["factor"].iloc[0]
        x = cases[fx].to_numpy(dtype=float)
        ax.scatter(x[~hit], cases["value"][~hit], s=9, color="#999999", alpha=0.5, label="condition not met")
        ax.scatter(x[hit], cases["value"][hit], s=9, color="#d62728", alpha=0.6, label="condition met")
        b = box.set_index("factor").loc[fx]
        ax.axvspan(b["low"], b["high"], color="#d62728", alpha=0.08, label="chosen box")
        ax.set_xlabel(fx)
        ax.set_ylabel("value")
        ax.set_title("runs against the numeric factor", fontsize=9)
    else:
        ax.axis("off")
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(frameon=False, fontsize=8, loc="best")
    fig.suptitle(f"{title}: {int(hit.sum())} of {len(hit)} runs meet the condition", fontsize=11)
    return _save(fig, path)


# ---- calibration (adoptsim.calibration) ----------------------------------------------------

def calibration_figure(targets: pd.DataFrame, path: Path, title: str) -> Path:
    """Simulated vs observed, one panel per target: the target's band (shaded), the observed value
    (black diamond) and the simulated median with its 10–90% range across all prior runs (grey),
    the accepted runs (blue) and the calibrated scenario's check runs (orange)."""
    n = len(targets)
    fig, axes = plt.subplots(n, 1, figsize=(8.5, 0.6 + 1.45 * n), layout="constrained", squeeze=False)
    rows = [("prior", "prior (all samples)", "#999999"), ("accepted", "accepted (ABC posterior)", "#3b4cc0"),
            ("calibrated", "calibrated scenario", "#e6850e")]
    for ax, r in zip(axes[:, 0], targets.itertuples(index=False)):
        month = r.kind == "month"
        ax.axvspan(r.low, r.high, color="#2ca02c", alpha=0.15, linewidth=0, label="target band")
        for i, (name, label, col) in enumerate(rows):
            lo, med, hi = (getattr(r, f"{name}_q{q}") for q in ("10", "50", "90"))
            y = len(rows) - i
            ax.plot([lo, hi], [y, y], color=col, linewidth=2.2, solid_capstyle="butt")
            ax.plot([med], [y], "o", color=col, markersize=6, label=label)
        ax.plot([r.observed], [len(rows) / 2 + 0.5], "D", color="black", markersize=7, label="observed")
        ax.set_yticks([])
        ax.set_ylim(0.3, len(rows) + 0.7)
        if month:
            lo_x = min(r.low, r.prior_q10, r.calibrated_q10) - 0.25
            hi_x = max(r.high, r.prior_q90, r.calibrated_q90) + 0.25
            ax.set_xlim(lo_x, hi_x)
            ticks = [t / 4 for t in range(int(lo_x * 4), int(hi_x * 4) + 2)]
            ax.set_xticks(ticks, [f"{int(round(t * 12)) // 12}-{int(round(t * 12)) % 12 + 1:02d}" for t in ticks],
                          fontsize=8)
        else:
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        inside = "inside" if r.inside else "OUTSIDE"
        ax.set_title(f"{r.target}  ({r.quantity}; calibrated median {inside} the band)", fontsize=9, loc="left")
        ax.grid(True, axis="x", alpha=0.3, linewidth=0.6)
    axes[0, 0].legend(frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title + "\nmarkers: medians; lines: 10–90% across runs", fontsize=10)
    return _save(fig, path)


def posterior_figure(samples: pd.DataFrame, fit: pd.DataFrame, path: Path, title: str) -> Path:
    """Per fitted parameter: histogram of the prior sample (grey) and of the accepted samples
    (blue), the fitted value (orange line) and the base scenario's value (dashed)."""
    import numpy as np

    n = len(fit)
    ncols = min(3, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 0.5, 2.7 * nrows + 0.6), layout="constrained",
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, r in zip(axes.flat, fit.itertuples(index=False)):
        bins = np.linspace(r.prior_low, r.prior_high, 21)
        ax.hist(samples[r.parameter], bins=bins, color="#777777", histtype="step", linewidth=1.2,
                label="prior sample")
        ax.hist(samples.loc[samples["accepted"], r.parameter], bins=bins, color="#3b4cc0", alpha=0.85,
                label="accepted")
        ax.axvline(r.value, color="#e6850e", linewidth=2, label="fitted")
        ax.axvspan(r.q10, r.q90, color="#e6850e", alpha=0.15, linewidth=0, label="10–90%", zorder=0)
        ax.axvline(r.base, color="#333333", linestyle="--", linewidth=1, label="base scenario")
        ax.set_title(r.parameter, fontsize=9)
        ax.set_ylabel("samples", fontsize=8)
    axes.flat[0].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.15), ncols=3)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def target_figure(result: dict, path: Path, title: str) -> Path:
    """Target-seeking: each evaluated factor value's outcome per replicate (dots) and mean
    (line, numbered in evaluation order), the threshold, and the final bracket and value."""
    fig, ax = plt.subplots(figsize=(8.5, 5.2), layout="constrained")
    ev = sorted(result["evaluations"], key=lambda e: e["value"])
    order = {e["value"]: i + 1 for i, e in enumerate(result["evaluations"])}
    for e in ev:
        ax.scatter([e["value"]] * len(e["values"]), e["values"], s=10, color="#999999", alpha=0.6, linewidths=0,
                   zorder=2)
    xs, ms = [e["value"] for e in ev], [e["mean"] for e in ev]
    ax.plot(xs, ms, color="#1f77b4", marker="o", linewidth=1.6, zorder=3, label="mean over replicates")
    for x, m in zip(xs, ms):
        ax.annotate(str(order[x]), (x, m), xytext=(4, 5), textcoords="offset points", fontsize=7, color="#1f77b4")
    t = result["target"]
    ax.axhline(t["threshold"], color="#d62728", linestyle="--", linewidth=1.2,
               label=f"threshold {t['threshold']:g} ({t['direction']})")
    if result["status"] == "found":
        ax.axvspan(result["low"], result["high"], color="#2ca02c", alpha=0.15, linewidth=0, label="final bracket")
        ax.axvline(result["value"], color="#2ca02c", linewidth=1.6, label=f"value {result['value']:.4g}")
    elif result["status"] == "reached_at_low":
        ax.axvline(result["value"], color="#2ca02c", linewidth=1.6, label="reached at the bottom of the range")
    ax.set_xlabel(result["factor"])
    ax.set_ylabel(t["metric"] + (f" [{t['key']}]" if t.get("key") else "") + f" in {t['date']}")
    if t["metric"] in SHARE_METRICS - {"hhi"}:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(frameon=False, fontsize=8, loc="best")
    status = {"found": "", "not_reached": " - NOT REACHED in the range",
              "reached_at_low": " - already reached at the bottom"}[result["status"]]
    ax.set_title(f"{title}{status}\n{len(ev)} values x {result['replicates']} replicates "
                 "(same seeds for every value); numbers: evaluation order", fontsize=9)
    return _save(fig, path)
