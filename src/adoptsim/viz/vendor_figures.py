"""Figure of the vendor dynamics: compute and capability by lab, side by side for several runs.

:func:`compute_capability_figure` draws, for each run (a column), the median across replicates
of every lab's usable compute (log scale, top), capability (middle) and
capability minus the best closed model's (bottom), with the world's open
lag in the legend title. ``docs/figures/make_vendor_dynamics.py`` uses it for the baseline and
``chip_ban_tightening``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from .style import colour, date_axis


def _median(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    w = frame[(frame["scope"] == "world") & (frame["metric"] == metric)]
    out = w.groupby(["date", "key"], observed=True)["value"].median().unstack()
    out.columns = out.columns.astype(str)
    return out


def compute_capability_figure(runs: dict[str, pd.DataFrame], out: str | Path, vendors: list[str] | None = None,
                              released: dict[str, str] | None = None, closed_ids: list[str] | None = None) -> Path:
    """Compute (top, log) and capability (bottom) by lab, one column per run (median of replicates).

    ``released`` maps a vendor to its first month (``YYYY-MM``): its capability is drawn dashed
    before that month (the lab trains before it releases). With ``closed_ids``, a third row shows
    each released lab's capability minus the best released closed model's."""
    out = Path(out)
    fig, axes = plt.subplots(3, len(runs), figsize=(6.2 * len(runs), 12), sharex=True, sharey="row", squeeze=False)
    for j, (title, frame) in enumerate(runs.items()):
        comp, cap = _median(frame, "compute"), _median(frame, "capability")
        lag = _median(frame, "open_lag_months")[""]
        keys = vendors or list(cap.columns)
        on = pd.DataFrame({k: cap.index >= pd.Timestamp((released or {}).get(k, "1900-01") + "-01") for k in keys},
                          index=cap.index)
        closed = [k for k in keys if k in set(closed_ids or [])]
        best_closed = cap[closed].where(on[closed]).max(axis=1) if closed else None
        for k in keys:
            c = colour(k)
            axes[0, j].plot(comp.index, comp[k], color=c, label=k, linewidth=1.4)
            start = pd.Timestamp((released or {}).get(k, "1900-01") + "-01")
            pre, post = cap[k][cap.index < start], cap[k][cap.index >= start]
            if len(pre):
                axes[1, j].plot(pre.index, pre, color=c, linestyle=":", linewidth=1.0)
            axes[1, j].plot(post.index, post, color=c, label=k, linewidth=1.4)
            if best_closed is not None:
                axes[2, j].plot(post.index, post - best_closed[post.index], color=c, label=k, linewidth=1.4)
        axes[0, j].set_yscale("log")
        axes[0, j].set_title(f"{title}: usable compute by lab")
        last = lag.index[-1]
        axes[1, j].set_title(f"{title}: capability (open lag {last:%Y-%m}: {lag.iloc[-1]:.1f} months)")
        axes[2, j].set_title(f"{title}: capability minus the best released closed model")
        axes[2, j].axhline(0.0, color="black", linewidth=0.8)
        for ax in axes[:, j]:
            date_axis(ax)
    axes[0, 0].set_ylabel("compute (relative units; start: OpenAI = 10)")
    axes[1, 0].set_ylabel("capability (index points)")
    axes[2, 0].set_ylabel("gap (index points)")
    axes[1, -1].legend(loc="upper left", fontsize=8, ncol=2)
    fig.suptitle("Median of replicates; dotted: before the model's release", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
