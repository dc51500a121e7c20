"""The look shared by every figure: fixed colours per origin, licence and vendor, units, dated
axes, policy markers with a footnote naming them, median-and-band lines, saving."""

from __future__ import annotations

import hashlib
import re
import textwrap
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt  # the Agg backend is chosen in adoptsim/viz/__init__.py
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

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


def label(key: str, manifest: dict | None, kind: str) -> str:
    """The display name of an id: ``manifest["labels"][kind][key]`` (nation, vendor, product or
    policy names recorded by the run), else the id itself."""
    names = ((manifest or {}).get("labels") or {}).get(kind) or {}
    return str(names.get(key, key))


def slug(text: str) -> str:
    """A file-name-safe form of a label: letters, digits, ``-`` and ``_`` only (no spaces)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def points_axis(ax) -> None:
    """Differences of shares on the y axis, in percentage points (``+2.5 pts``, never "%")."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * 100:+.1f} pts" if v else "0"))


def side_legend(fig_or_ax, handles, labels, title: str | None = None, max_rows: int = 16) -> None:
    """A legend beside the plot (never cut off at the bottom): one column up to ``max_rows``
    entries, more columns beyond."""
    ncol = max(1, -(-len(labels) // max_rows))
    kwargs = dict(frameon=False, fontsize=8.5, title=title, ncol=ncol)
    if hasattr(fig_or_ax, "add_subplot"):  # a figure with constrained layout
        fig_or_ax.legend(handles, labels, loc="outside right center", **kwargs)
    else:
        fig_or_ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), **kwargs)


def is_share(metric: str) -> bool:
    """Whether a metric is a share in [0, 1] drawn in percent (every share metric but hhi)."""
    return metric in SHARE_METRICS - {"hhi"}


def date_axis(ax) -> None:
    """Concise dated ticks on the x axis and a light grid."""
    loc = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.grid(True, alpha=0.3, linewidth=0.6)


def policy_groups(policies: list[dict]) -> list[tuple[int, str, list[str]]]:
    """Policies grouped by start month and numbered in time order: (number, month, names)."""
    months: dict[str, list[str]] = {}
    for p in sorted(policies, key=lambda p: (p["start"], p["name"])):
        months.setdefault(p["start"], []).append(p["name"])
    return [(i, m, names) for i, (m, names) in enumerate(months.items(), start=1)]


def policy_marks(ax, policies: list[dict], label: bool) -> None:
    """Dotted vertical lines at policy starts; with ``label``, each start month gets its number
    above the axes (staggered on up to three rows where months are close), named in the
    figure's footnote (:func:`policy_lines`)."""
    last_x: list[float] = []
    for num, month, _ in policy_groups(policies):
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


def policy_lines(policies: list[dict], width: int = 185) -> list[str]:
    """The footnote naming the numbered policy starts (by their display names, ``label`` in the
    manifest, else their ids), wrapped into lines."""
    shown = {p["name"]: p.get("label") or p["name"] for p in policies}
    items = [f"{num}\u00a0{month}: {', '.join(shown.get(n, n) for n in names)}"
             for num, month, names in policy_groups(policies)]
    if not items:
        return []
    return textwrap.wrap("Policy starts: " + "; ".join(items), width=width, subsequent_indent="  ",
                         break_on_hyphens=False)


def note_height(lines: list[str]) -> float:
    """Height in inches of a footnote of ``lines``."""
    return 0.16 * len(lines) + 0.08 if lines else 0.0


def draw_note(fig, cell, lines: list[str]) -> None:
    """Write the footnote ``lines`` into a grid cell of ``fig``."""
    note = fig.add_subplot(cell)
    note.axis("off")
    note.text(0.0, 1.0, "\n".join(lines), transform=note.transAxes, va="top", ha="left",
              fontsize=7.5, color="#444444")


def note_figure(ncols: int, width: float, height: float, policies: list[dict]):
    """A figure with ``ncols`` plot axes and, below them, a footnote row naming the policies."""
    lines = policy_lines(policies)
    note_h = note_height(lines)
    fig = plt.figure(figsize=(width, height + note_h), layout="constrained")
    gs = fig.add_gridspec(2 if lines else 1, ncols, height_ratios=[height, note_h] if lines else None)
    axes = [fig.add_subplot(gs[0, i]) for i in range(ncols)]
    if lines:
        draw_note(fig, gs[1, :], lines)
    return fig, axes


def draw_bands(ax, b: pd.DataFrame, labels: dict[str, str] | None = None, order: list[str] | None = None) -> None:
    """Per key of a band table (date, key, q10, q50, q90): the median line and a shaded 10–90% band.
    Keys are drawn in ``order`` (default: by their last median, largest first, so legends list
    them as the lines stack up)."""
    if order is None:
        last = b[b["date"] == b["date"].max()].sort_values(["q50", "key"], ascending=[False, True])
        order = list(dict.fromkeys(list(last["key"]) + sorted(b["key"].unique())))
    keys = order
    for key in keys:
        k = b[b["key"] == key]
        if k.empty:
            continue
        c = colour(key)
        ax.fill_between(k["date"], k["q10"], k["q90"], color=c, alpha=0.18, linewidth=0)
        ax.plot(k["date"], k["q50"], color=c, linewidth=1.8,
                label=(labels or {}).get(key, key or "value"))


def share_axis(ax, metric: str) -> None:
    """A y axis for ``metric``: 0–100% for shares, else labelled with the metric's unit."""
    if is_share(metric):
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_ylabel("share of all developers")
    else:
        ax.set_ylabel(UNITS.get(metric, metric))


def percent_axis(ax, metric: str, axis: str = "y") -> None:
    """Percent ticks on ``axis`` when ``metric`` is a share (no limits, no label)."""
    if is_share(metric):
        (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))


def replicates_note(frame: pd.DataFrame) -> str:
    """``median of N replicate(s)`` for a tidy table."""
    n = int(frame["replicate"].nunique())
    return f"median of {n} replicate{'s' if n != 1 else ''}"


def save_figure(fig, path: Path) -> Path:
    """Save ``fig`` to ``path`` (folders created, 150 dpi) and close it; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
