"""Figures drawn with matplotlib (Agg backend; no screen needed).

Every figure shows the median across replicates with a shaded 10–90% band, dated axes, policy
starts marked, and one fixed colour per origin, licence and vendor across all figures.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
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


def _policy_marks(ax, policies: list[dict], label: bool) -> None:
    """Dotted vertical lines at policy starts, numbered at the top (see :func:`_policy_note`)."""
    numbers: dict[str, list[str]] = {}
    for i, p in enumerate(sorted(policies, key=lambda p: p["start"]), start=1):
        numbers.setdefault(p["start"], []).append(str(i))
    for start, nums in numbers.items():
        x = pd.Timestamp(start + "-01")
        ax.axvline(x, color="#777777", linestyle=":", linewidth=0.9, zorder=0)
        if label:
            ax.annotate(",".join(nums), (x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7, color="#555555")


def _policy_note(fig, policies: list[dict]) -> None:
    """A footnote that names the numbered policy markers."""
    if not policies:
        return
    items = [f"{i} {p['name']} ({p['start']})" for i, p in
             enumerate(sorted(policies, key=lambda p: p["start"]), start=1)]
    lines, line = [], "Policies: "
    for it in items:
        if len(line) + len(it) > 150:
            lines.append(line.rstrip("; "))
            line = ""
        line += it + "; "
    lines.append(line.rstrip("; "))
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=7.5, color="#444444", ha="left", va="bottom")


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
    n_pol = len(manifest.get("policies", []))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4 + 0.15 * (n_pol // 6)), sharey=True, layout="constrained")
    fig.get_layout_engine().set(rect=(0, 0.04 + 0.02 * (n_pol // 6), 1, 0.96 - 0.02 * (n_pol // 6)))
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
    _policy_note(fig, manifest.get("policies", []))
    where = "world" if scope == "world" else f"{scope} {scope_id}"
    fig.suptitle(f"{manifest.get('scenario', '')}: AI model adoption, {where}\n"
                 f"median of {n_rep} replicate{'s' if n_rep != 1 else ''}, shaded band 10–90%; "
                 "dotted lines: policy starts (numbered below)", fontsize=11)
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


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def draw_run_plots(frame: pd.DataFrame, manifest: dict, folder: Path) -> list[Path]:
    """The standard figures of a run, into ``folder``."""
    return [adoption_figure(frame, manifest, Path(folder) / "adoption.png")]
