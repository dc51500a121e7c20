"""Figures of the analyses (docs/experiments.md): Sobol' indices and OAT tornados
(``adoptsim sensitivity``), scenario discovery (``adoptsim discover``), calibration
(``adoptsim calibrate``) and target-seeking (``adoptsim target``). Each takes the tables the
analysis produced and the path to write."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from matplotlib.ticker import PercentFormatter

from .style import is_share, percent_axis, save_figure

def sensitivity_figure(rows: pd.DataFrame, path: Path, title: str, n: int | None = None,
                       replicates: int | None = None) -> Path:
    """Sobol' indices of one outcome: first-order (S1) and total (ST) index per factor as bars
    with their 95% bootstrap confidence intervals; factors sorted by ST."""
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
    return save_figure(fig, path)


def tornado_figure(rows: pd.DataFrame, path: Path, title: str) -> Path:
    """One-at-a-time tornado of one outcome: per factor a bar from the outcome at the factor's low
    value to the outcome at its high value (the others central); largest swing on top."""
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
    percent_axis(ax, metric, axis="x")
    ax.use_sticky_edges = False
    ax.margins(x=0.2)
    ax.set_xlabel("outcome (mean over replicates); blue: factor at low value, orange: at high value")
    ax.set_title(f"{title}\ncentral = {centre:.4g}; labels: factor values", fontsize=10)
    return save_figure(fig, path)


def _trajectory_panel(fig, ax, trajectory: pd.DataFrame, step: int, why: str) -> None:
    """Coverage against density along the peeling trajectory (colour: mass), chosen box starred."""
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


def _box_panel(ax, box: pd.DataFrame, step: int) -> None:
    """The chosen box's bounds on each factor's full range."""
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


def _cases_panel(ax, box: pd.DataFrame, cases: pd.DataFrame, hit: np.ndarray) -> None:
    """The runs over the two most restricted numeric factors (or the one), box drawn."""
    num = box[box["categories"] == ""].copy()
    num["tightness"] = 1 - (num["high"] - num["low"]) / (num["full_high"] - num["full_low"]).replace(0, np.nan)
    num = num.sort_values(["restricted", "tightness"], ascending=False, kind="stable")
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


def discovery_figure(trajectory: pd.DataFrame, box: pd.DataFrame, cases: pd.DataFrame, step: int, path: Path,
                     title: str, why: str = "") -> Path:
    """Scenario discovery (PRIM): the peeling trajectory as coverage against density (colour:
    mass) with the chosen box marked; the chosen box's bounds on each factor's full range; and
    the cases over the two most restricted factors (outcome 1 red) with the box drawn."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2), layout="constrained",
                             gridspec_kw={"width_ratios": [1.1, 1.0, 1.1]})
    hit = cases["outcome"].to_numpy(dtype=bool)
    _trajectory_panel(fig, axes[0], trajectory, step, why)
    _box_panel(axes[1], box, step)
    _cases_panel(axes[2], box, cases, hit)
    fig.suptitle(f"{title}: {int(hit.sum())} of {len(hit)} runs meet the condition", fontsize=11)
    return save_figure(fig, path)


def calibration_figure(targets: pd.DataFrame, path: Path, title: str, rows: list | None = None) -> Path:
    """Simulated vs observed, one panel per target: the target's band (shaded), the observed value
    (black diamond) and the simulated median with its 10–90% range across all prior runs (grey),
    the accepted runs (blue) and the calibrated scenario's check runs (orange); ``rows`` (name,
    label, colour) chooses other columns ``<name>_q10/_q50/_q90``."""
    n = len(targets)
    fig, axes = plt.subplots(n, 1, figsize=(8.5, 0.6 + 1.45 * n), layout="constrained", squeeze=False)
    rows = rows or [("prior", "prior (all samples)", "#999999"), ("accepted", "accepted (ABC posterior)", "#3b4cc0"),
                    ("calibrated", "calibrated scenario", "#e6850e")]
    last = rows[-1][0]
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
            lo_x = min(r.low, r.prior_q10, getattr(r, f"{last}_q10")) - 0.25
            hi_x = max(r.high, r.prior_q90, getattr(r, f"{last}_q90")) + 0.25
            ax.set_xlim(lo_x, hi_x)
            ticks = [t / 4 for t in range(int(lo_x * 4), int(hi_x * 4) + 2)]
            ax.set_xticks(ticks, [f"{int(round(t * 12)) // 12}-{int(round(t * 12)) % 12 + 1:02d}" for t in ticks],
                          fontsize=8)
        elif r.high <= 1.0:  # a share; counts and months-of-lag are drawn as numbers
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        inside = "inside" if r.inside else "OUTSIDE"
        ax.set_title(f"{r.target}  ({r.quantity}; {rows[-1][1]} median {inside} the band)", fontsize=9, loc="left")
        ax.grid(True, axis="x", alpha=0.3, linewidth=0.6)
    axes[0, 0].legend(frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title + "\nmarkers: medians; lines: 10–90% across runs", fontsize=10)
    return save_figure(fig, path)


def posterior_figure(samples: pd.DataFrame, fit: pd.DataFrame, path: Path, title: str) -> Path:
    """Per fitted parameter: histogram of the prior sample (grey) and of the accepted samples
    (blue), the fitted value (orange line) and the base scenario's value (dashed)."""
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
    return save_figure(fig, path)


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
    if is_share(t["metric"]):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(frameon=False, fontsize=8, loc="best")
    status = {"found": "", "not_reached": " - NOT REACHED in the range",
              "reached_at_low": " - already reached at the bottom"}[result["status"]]
    ax.set_title(f"{title}{status}\n{len(ev)} values x {result['replicates']} replicates "
                 "(same seeds for every value); numbers: evaluation order", fontsize=9)
    return save_figure(fig, path)


def smc_posterior_figure(posterior: pd.DataFrame, fit: pd.DataFrame, path: Path, title: str) -> Path:
    """Per parameter: the uniform prior density (grey) and the weighted posterior histogram
    (blue, density), the weighted 10–90% interval (shaded), the median (orange) and the base
    scenario's value (dashed); the panel title gives the width ratio (posterior 10–90% width /
    prior width) and whether the parameter is identified."""
    n = len(fit)
    if n == 0:
        raise ValueError("smc_posterior_figure: no parameters")
    ncols = min(4, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols + 0.5, 2.4 * nrows + 0.7), layout="constrained",
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    w = posterior["weight"].to_numpy(dtype=float)
    for ax, r in zip(axes.flat, fit.itertuples(index=False)):
        bins = np.linspace(r.prior_low, r.prior_high, 21)
        ax.hist(posterior[r.parameter].to_numpy(dtype=float), bins=bins, weights=w, density=True, color="#3b4cc0",
                alpha=0.85, label="posterior")
        ax.plot([r.prior_low, r.prior_high], [1 / (r.prior_high - r.prior_low)] * 2, color="#777777", linewidth=1.5,
                label="prior")
        ax.axvspan(r.q10, r.q90, color="#e6850e", alpha=0.15, linewidth=0, label="10–90%", zorder=0)
        ax.axvline(r.q50, color="#e6850e", linewidth=2, label="median")
        ax.axvline(r.base, color="#333333", linestyle="--", linewidth=1, label="base scenario")
        ax.set_title(f"{r.parameter}\nwidth {r.width_ratio:.2f}: {r.identified}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=5, frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
