"""Comparison figure (``adoptsim compare``, ``adoptsim plot --against``): several results
against the first, curves with bands and differences, paired or unpaired (docs/experiments.md).
It draws the tables of :func:`adoptsim.analysis.compare.compare_results`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from .style import (date_axis, draw_note, is_share, label, note_height, points_axis, policy_lines, policy_marks,
                    save_figure, share_axis)

KEY_KINDS = {"share_origin": "nation", "influence": "nation", "share_host": "nation", "share_vendor": "vendor",
             "capability": "vendor", "derivatives": "vendor", "revenue": "vendor", "compute": "vendor",
             "efficiency": "vendor", "price": "product"}

RESULT_COLOURS = ("#444444", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                  "#17becf", "#bcbd22")


def wrapped(text: str, width: int = 70) -> str:
    """A title wrapped to fit above one of the two columns (long folder names included)."""
    return "\n".join(textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False))


def compare_figure(curves: pd.DataFrame, differences: pd.DataFrame, path: Path, metric: str, where: str,
                   policies: list[dict] | None = None, max_keys: int = 4, labels: dict | None = None) -> Path:
    """Several results against the first (reference): per key, the median and 10–90% band of
    each results (left) and of each one's difference from the reference (right; solid and
    labelled "paired" when replicates share seeds, dashed "unpaired" otherwise). Keys are those
    with the largest mean difference (at most ``max_keys``; the tables hold them all), shown by
    their display names (``labels``: a manifest's ``labels``, nation, vendor and product names)."""
    names = {"labels": labels or {}}
    kind = KEY_KINDS.get(metric, "")
    labels = list(dict.fromkeys(curves["results"]))
    col = {lab: RESULT_COLOURS[i % len(RESULT_COLOURS)] for i, lab in enumerate(labels)}
    keys = sorted(set(curves["key"]))
    if not differences.empty:
        size = differences.groupby("key")["mean"].apply(lambda s: s.abs().max())
        keys = sorted(keys, key=lambda k: (-float(size.get(k, 0.0)), k))
    shown = keys[:max_keys]
    lines = policy_lines(policies or [])
    note_h = note_height(lines)
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
        share_axis(ax_c, metric)
        if is_share(metric):
            ax_c.set_ylim(auto=True)
            points_axis(ax_d)
        name = metric + (f": {label(key, names, kind)}" if key else "")
        ax_c.set_title(wrapped(f"{name}: median and 10–90% across replicates"), fontsize=10)
        ax_d.set_title(wrapped(f"{name}: difference from {labels[0]}, 10–90%"), fontsize=10)
        ax_d.set_ylabel("difference" + (" (percentage points, pts)" if is_share(metric) else ""))
        for ax in (ax_c, ax_d):
            date_axis(ax)
            policy_marks(ax, policies or [], label=row == 0)
            ax.legend(frameon=False, fontsize=8, loc="best")
    if lines:
        draw_note(fig, gs[-1, :], lines)
    more = f" (showing {len(shown)} of {len(keys)} keys, largest differences first)" if len(keys) > len(shown) else ""
    fig.suptitle(f"{metric}, {where}: {len(labels)} results vs {labels[0]}{more}", fontsize=11)
    return save_figure(fig, path)


