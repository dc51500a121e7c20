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
                   policies: list[dict] | None = None, max_keys: int = 4, final: pd.DataFrame | None = None,
                   units: dict | None = None, labels: dict | None = None) -> Path:
    """Several results against the first (reference): per key, the median and 10–90% band of
    each results (left), of each one's difference from the reference (middle; solid and
    labelled "paired" when runs share seeds, dashed "unpaired" otherwise) and, given ``final``
    (:func:`adoptsim.analysis.compare.member_effects` with ``results``), the distribution of the
    effect at the last date across plausible worlds (right: one mark per member, or per
    replicate without an ensemble, with the share on each side of 0). Keys are those with the
    largest mean difference (at most ``max_keys``; the tables hold them all), shown by their
    display names (``labels``: a manifest's ``labels``, nation, vendor and product names)."""
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
    dist = final is not None and not final.empty
    ncol = 3 if dist else 2
    fig = plt.figure(figsize=(12.5 + (4.0 if dist else 0.0), 0.5 + 3.1 * len(shown) + note_h), layout="constrained")
    gs = fig.add_gridspec(len(shown) + (1 if lines else 0), ncol,
                          height_ratios=[3.1] * len(shown) + ([note_h] if lines else []),
                          width_ratios=[1.0, 1.0, 0.62] if dist else None)
    for row, key in enumerate(shown):
        ax_c, ax_d = fig.add_subplot(gs[row, 0]), fig.add_subplot(gs[row, 1])
        if dist:
            effect_distribution(fig.add_subplot(gs[row, 2]), final[final["key"] == key], labels[1:], col, metric,
                                units or {}, labels[0], label(key, names, kind) if key else "")
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
        over = "plausible worlds (members × replicates)" if dist and "member" in (units or {}).values() else "replicates"
        ax_c.set_title(wrapped(f"{name}: median and 10–90% across {over}"), fontsize=10)
        ax_d.set_title(wrapped(f"{name}: difference from {labels[0]}, 10–90%"), fontsize=10)
        ax_d.set_ylabel("difference" + (" (percentage points, pts)" if is_share(metric) else ""))
        for ax in (ax_c, ax_d):
            date_axis(ax)
            policy_marks(ax, policies or [], label=row == 0)
            ax.legend(frameon=False, fontsize=8, loc="best")
    if lines:
        draw_note(fig, gs[-1, :], lines)
    more = f" (showing {len(shown)} of {len(keys)} keys, largest differences first)" if len(keys) > len(shown) else ""
    if dist and units:
        more += "\n" + "; ".join(f"{lab}: {worlds_text(final[final['results'] == lab], units.get(lab))}"
                                 for lab in labels[1:] if lab in units)
    fig.suptitle(f"{metric}, {where}: {len(labels)} results vs {labels[0]}{more}", fontsize=11)
    return save_figure(fig, path)




def worlds_text(final: pd.DataFrame, unit: str | None) -> str:
    """``effect across 60 plausible worlds (members)`` or ``... 10 replicates (no ensemble)``."""
    n = int(final["member"].nunique()) if not final.empty else 0
    return (f"effect across {n} plausible worlds (ensemble members)" if unit == "member"
            else f"effect across {n} replicates (one parameter set, no ensemble)")


def effect_distribution(ax, final: pd.DataFrame, labels: list[str], col: dict, metric: str, units: dict,
                        reference: str, key: str) -> None:
    """The effect at the last date (of ``key``, a display name) in each plausible world (a horizontal strip per results, one
    dot per member, the 10–90% range as a bar, the median as a tick), a line at 0, and the share
    of worlds on each side."""
    import numpy as np

    scale = 100.0 if is_share(metric) else 1.0
    for i, lab in enumerate(labels):
        v = final.loc[final["results"] == lab, "value"].to_numpy(dtype=float) * scale
        if not len(v):
            continue
        # a fixed low-discrepancy jitter (golden ratio), uncorrelated with the values: no randomness
        y = i + 0.05 + 0.4 * (((np.arange(len(v)) * 0.6180339887) % 1.0) - 0.5)
        ax.scatter(v, y, s=12, color=col[lab], alpha=0.6, linewidths=0)
        q10, q50, q90 = np.quantile(v, [0.1, 0.5, 0.9])
        ax.plot([q10, q90], [i - 0.3, i - 0.3], color=col[lab], linewidth=3, solid_capstyle="butt")
        ax.plot([q50, q50], [i - 0.4, i - 0.2], color="#222222", linewidth=1.5)
        neg, pos = float((v < 0).mean()), float((v > 0).mean())
        what = "worlds" if units.get(lab) == "member" else "replicates"
        ax.text(0.02, i + 0.38, f"{neg:.0%} of {what} < 0, {pos:.0%} > 0", fontsize=8, va="center",
                color=col[lab], transform=ax.get_yaxis_transform())
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([wrapped(lab, 18) for lab in labels], fontsize=8)
    ax.set_ylim(-0.5, len(labels) - 0.45)
    ax.set_xlabel("effect at the last date" + (" (percentage points)" if is_share(metric) else ""), fontsize=9)
    ax.set_title(wrapped(f"{metric}" + (f": {key}" if key else "") + f": effect vs {reference}, per world", 40),
                 fontsize=10)
