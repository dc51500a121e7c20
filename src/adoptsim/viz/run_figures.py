"""The figures of one run (``adoptsim run``, ``adoptsim plot``): adoption, a metric by scope,
regions, vendors, the nation × origin heat map and critical dependency (docs/outputs.md).

Every figure shows the median across runs with a shaded 10–90% band, dated axes, policy
starts marked, and one fixed colour per origin, licence and vendor across all figures. Each takes
the tidy time series, the run's manifest (a dict) and the path to write.

**Ensemble runs** (several members): the band pools members and replicates; a darker inner band
is the replicate-only part (:func:`adoptsim.analysis.bands.inner_band`: the pooled median plus
the 10–90% quantiles of each run's deviation from its member's mean), and titles say
"plausible worlds: K members × R replicates" (with R = 1 the inner band cannot be estimated and
the title says so).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import PercentFormatter

from ..analysis.bands import band, inner_band, worlds_caption
from .style import (SHARE_METRICS, colour, date_axis, draw_bands, label, note_figure, policy_marks, replicates_note,
                    save_figure, share_axis, side_legend)

#: Which ids the keys of a metric are, for their display names (``label``).
KEY_KINDS = {"share_vendor": "vendor", "capability": "vendor", "derivatives": "vendor", "revenue": "vendor",
             "compute": "vendor", "efficiency": "vendor", "price": "product"}


def key_labels(frame: pd.DataFrame, metric: str, manifest: dict) -> dict[str, str]:
    """Display names of the keys of ``metric`` (vendor and product names; other keys as they are)."""
    kind = KEY_KINDS.get(metric)
    keys = map(str, frame.loc[frame["metric"] == metric, "key"].unique())
    out = {k: label(k, manifest, kind) if kind else k for k in keys}
    for k in out:
        if kind == "product" and k.endswith(".open_release") and out[k] == k:
            out[k] = f"{label(k.rsplit('.', 1)[0], manifest, 'vendor')} (last open release)"
    return out


#: How a world figure names its population: every developer of every nation, China included
#: (not one of the views the targets are read in: docs/model.md, "Views").
WORLD_TITLE = "world (all developers, China included)"


def scope_title(scope: str, scope_id: str, manifest: dict) -> str:
    """A panel or figure title for a scope: nations by their names, regions and the world as is."""
    return label(scope_id, manifest, "nation") if scope == "nation" else scope_id


def short_name(name: str, width: int = 34) -> str:
    """A name without its parenthetical remark, cut to ``width`` characters."""
    name = name.split(" (")[0]
    return name if len(name) <= width else name[: width - 1] + "…"


def show_dates_above_gaps(axes) -> None:
    """In a grid of panels sharing x, show the dates under every panel that has no visible panel
    below it (not only under the last row)."""
    rows, cols = axes.shape
    for r in range(rows):
        for c in range(cols):
            below_hidden = r == rows - 1 or not axes[r + 1, c].get_visible()
            if axes[r, c].get_visible() and below_hidden:
                axes[r, c].xaxis.set_tick_params(labelbottom=True)

def is_ensemble(frame: pd.DataFrame) -> bool:
    """Whether the table holds several ensemble members."""
    return "member" in frame and frame["member"].nunique() > 1


def runs_note(frame: pd.DataFrame) -> str:
    """What a band is over: ``median of N replicates`` without an ensemble, ``median over
    plausible worlds: K members × R replicates`` with one (:func:`worlds_caption`)."""
    return f"median over {worlds_caption(frame)}" if is_ensemble(frame) else replicates_note(frame)


def band_note(frame: pd.DataFrame) -> str:
    """The shading, as said in titles: the pooled band, and the inner replicate-only band when drawn."""
    if is_ensemble(frame) and frame["replicate"].nunique() > 1:
        return "shaded band 10–90% (darker inner band: replicate noise alone)"
    return "shaded band 10–90%"


def draw_inner(ax, frame: pd.DataFrame, scope: str, scope_id: str, metric: str, rename: dict | None = None,
               keys: list[str] | None = None) -> None:
    """The darker replicate-only inner band of each key (ensemble runs with R > 1 only)."""
    if not is_ensemble(frame) or frame["replicate"].nunique() < 2:
        return
    inner = inner_band(frame, scope, scope_id, metric)
    for key, k in inner.groupby("key", sort=True):
        name = (rename or {}).get(key, key)
        if keys is not None and name not in keys:
            continue
        ax.fill_between(k["date"], k["q10"], k["q90"], color=colour(name), alpha=0.35, linewidth=0)


def adoption_figure(frame: pd.DataFrame, manifest: dict, path: Path, scope: str = "world",
                    scope_id: str = "world") -> Path:
    """Open vs closed and by origin: median with a 10–90% band across runs (and the inner
    replicate-only band of an ensemble)."""
    fig, axes = note_figure(2, 12, 5.6, manifest.get("policies", []))
    axes[1].sharey(axes[0])
    frame = frame[(frame["scope"] == scope) & (frame["scope_id"] == scope_id)]  # filtered once: ensembles are large
    lic = band(frame, scope, scope_id, "share_license")
    total = band(frame, scope, scope_id, "adoption")
    total["key"] = "any model"
    draw_bands(axes[0], pd.concat([total, lic]), labels={"open": "open weights", "closed": "closed (API)",
                                                          "any model": "any model (adoption)"},
                order=["any model", "open", "closed"])
    draw_inner(axes[0], frame, scope, scope_id, "share_license")
    draw_inner(axes[0], frame, scope, scope_id, "adoption", rename={"": "any model"})
    axes[0].set_title("Open-weight vs closed models")
    draw_bands(axes[1], band(frame, scope, scope_id, "share_origin"))
    draw_inner(axes[1], frame, scope, scope_id, "share_origin")
    axes[1].set_title("By origin of the model")
    for ax in axes:
        share_axis(ax, "adoption")
        date_axis(ax)
        policy_marks(ax, manifest.get("policies", []), label=True)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4, frameon=False, fontsize=9)
    axes[1].set_ylabel("")
    where = WORLD_TITLE if scope == "world" else scope_title(scope, scope_id, manifest)
    fig.suptitle(f"{manifest.get('scenario', '')}: AI model adoption, {where}\n"
                 f"{runs_note(frame)}, {band_note(frame)}\n"
                 "dotted lines: policy starts (numbered, named below)", fontsize=11)
    return save_figure(fig, path)


def metric_figure(frame: pd.DataFrame, manifest: dict, path: Path, metric: str, by: str = "world",
                  scope_ids: list[str] | None = None, max_panels: int = 12) -> Path:
    """One metric, one panel per scope (small multiples for regions or nations); the legend
    (display names) sits beside the panels."""
    sel = frame[(frame["scope"] == by) & (frame["metric"] == metric)]
    ids = [str(s) for s in pd.unique(sel["scope_id"])]
    if scope_ids:
        ids = [s for s in scope_ids if s in ids]
    ids = ids[:max_panels]
    n = max(len(ids), 1)
    cols = min(n, 3 if n > 4 else n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols + 1.8, 3.4 * rows + 0.8), squeeze=False,
                             sharex=True, sharey=metric in SHARE_METRICS, layout="constrained")
    names = key_labels(frame, metric, manifest)
    handles = {}
    for ax, sid in zip(axes.flat, ids):
        draw_bands(ax, band(sel, by, sid, metric), labels=names)
        draw_inner(ax, sel, by, sid, metric)
        ax.set_title(scope_title(by, sid, manifest), fontsize=10)
        share_axis(ax, metric)
        date_axis(ax)
        policy_marks(ax, manifest.get("policies", []), label=False)
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    for ax in list(axes.flat)[len(ids):]:
        ax.set_visible(False)
    show_dates_above_gaps(axes)
    if handles:
        side_legend(fig, list(handles.values()), list(handles.keys()))
    where = (WORLD_TITLE if metric in SHARE_METRICS else "world") if by == "world" else f"by {by}"
    fig.suptitle(f"{manifest.get('scenario', '')}: {metric}, {where}\n"
                 f"{runs_note(frame)}, {band_note(frame)}", fontsize=11)
    return save_figure(fig, path)


REPORT_NATIONS = ("US", "CN", "EU", "IN", "JP", "UK")


def median_table(frame: pd.DataFrame, scope: str, metric: str) -> pd.DataFrame:
    """Median across replicates per date, scope id and key of one metric at one scope level."""
    sel = frame[(frame["scope"] == scope) & (frame["metric"] == metric)]
    out = sel.groupby(["date", "scope_id", "key"], observed=True)["value"].median().reset_index()
    out["scope_id"] = out["scope_id"].astype(str)
    out["key"] = out["key"].astype(str)
    return out


def regions_figure(frame: pd.DataFrame, manifest: dict, path: Path, metric: str = "share_origin") -> Path:
    """Small multiples: one panel per region, one line (with 10–90% band) per origin."""
    return metric_figure(frame, manifest, path, metric, by="region")


def vendors_figure(frame: pd.DataFrame, manifest: dict, path: Path, scope: str = "world",
                   scope_id: str = "world") -> Path:
    """Stacked shares of all developers by vendor — **means** across replicates, which add up
    (medians of parts need not sum to the median of the whole) — non-adopters on top."""
    sel = frame[(frame["scope"] == scope) & (frame["scope_id"] == scope_id) & (frame["metric"] == "share_vendor")]
    mean = sel.groupby(["date", "key"], observed=True)["value"].mean().unstack("key").fillna(0.0)
    mean.columns = mean.columns.astype(str)
    order = list(mean.iloc[-1].sort_values(ascending=False).index)
    names = key_labels(frame, "share_vendor", manifest)
    fig, ax = plt.subplots(figsize=(10, 5.6), layout="constrained")
    ax.stackplot(mean.index, [mean[k] for k in order], labels=[names.get(k, k) for k in order],
                 colors=[colour(k) for k in order], alpha=0.9, linewidth=0.3, edgecolor="white")
    ax.fill_between(mean.index, mean[order].sum(axis=1).clip(upper=1.0), 1.0, color="#dddddd",
                    label="no model yet", linewidth=0)
    share_axis(ax, "share_vendor")
    date_axis(ax)
    ax.set_xlim(mean.index.min(), mean.index.max())
    policy_marks(ax, manifest.get("policies", []), label=False)
    handles, labels = ax.get_legend_handles_labels()
    side_legend(ax, handles[::-1], labels[::-1], title="vendor")
    where = WORLD_TITLE if scope == "world" else scope_title(scope, scope_id, manifest)
    n = int(frame["replicate"].nunique())
    over = (f"mean over {worlds_caption(frame)}" if is_ensemble(frame)
            else f"mean of {n} replicate{'s' if n != 1 else ''}")
    ax.set_title(f"{manifest.get('scenario', '')}: share of developers by vendor, {where}\n"
                 f"{over} (stacked); dotted lines: policy starts", fontsize=11)
    return save_figure(fig, path)


def heatmap_figure(frame: pd.DataFrame, manifest: dict, path: Path, date: str | None = None) -> Path:
    """Who builds on whose models: nation x origin share of the nation's adopting developers at
    ``date`` (``YYYY-MM``; default the last month), median across replicates."""
    med = median_table(frame, "nation", "share_origin")
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
    ax.set_yticks(range(len(m)), [short_name(label(n, manifest, "nation")) for n in m.index], fontsize=8)
    for i in range(len(m)):
        for j in range(len(origins)):
            v = m.iat[i, j]
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=7,
                    color="black" if v > 0.6 else "white")
    ax.set_xlabel("origin of the model")
    ax.set_ylabel("nation or bloc")
    fig.colorbar(im, ax=ax, format=PercentFormatter(1.0, decimals=0), label="share of the nation's adopters",
                 fraction=0.12, shrink=0.6)
    ax.set_title(f"{manifest.get('scenario', '')}: who builds on whose models, {when:%Y-%m}\n{runs_note(frame)}",
                 fontsize=10)
    return save_figure(fig, path)


def dependency_figure(frame: pd.DataFrame, manifest: dict, path: Path,
                      nations: tuple[str, ...] = REPORT_NATIONS) -> Path:
    """Critical dependency over time: share of government and health developers on a foreign
    origin's models — small multiples, the world and each selected nation in its own panel
    (median with 10–90% band), so a nation at 0 stays visible."""
    frame = frame[frame["metric"] == "critical_dependency"]  # filtered once: ensembles are large
    known = set(map(str, frame.loc[frame["scope"] == "nation", "scope_id"].unique()))
    scopes = [("world", "world")] + [("nation", n) for n in nations if n in known]
    cols = min(len(scopes), 4)
    rows = -(-len(scopes) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows + 0.9), squeeze=False, sharex=True,
                             sharey=True, layout="constrained")
    for ax, (scope, sid) in zip(axes.flat, scopes):
        b = band(frame, scope, sid, "critical_dependency")
        ax.fill_between(b["date"], b["q10"], b["q90"], color="#444444", alpha=0.18, linewidth=0)
        ax.plot(b["date"], b["q50"], color="black" if scope == "world" else colour(sid), linewidth=2.0)
        if is_ensemble(frame) and frame["replicate"].nunique() > 1:
            ib = inner_band(frame, scope, sid, "critical_dependency")
            ax.fill_between(ib["date"], ib["q10"], ib["q90"], color="#444444", alpha=0.35, linewidth=0)
        ax.set_title(scope_title(scope, sid, manifest), fontsize=10)
        share_axis(ax, "critical_dependency")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("")
        date_axis(ax)
        policy_marks(ax, manifest.get("policies", []), label=False)
    for ax in list(axes.flat)[len(scopes):]:
        ax.set_visible(False)
    show_dates_above_gaps(axes)
    fig.supylabel("critical developers on foreign models", fontsize=10)
    fig.suptitle(f"{manifest.get('scenario', '')}: critical dependency (government and health developers "
                 f"using a foreign origin's models)\n{runs_note(frame)}, {band_note(frame)}; "
                 "dotted lines: policy starts", fontsize=10)
    return save_figure(fig, path)


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


def draw_run_plots(frame: pd.DataFrame, manifest: dict, folder: Path) -> list[Path]:
    """The standard figures of a run, into ``folder``."""
    return [draw_figure(name, frame, manifest, Path(folder)) for name in FIGURES]

