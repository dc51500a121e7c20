"""``adoptsim report RESULTS [--against BASELINE] --out FILE.html``: the one-page brief of a
results folder (docs/outputs.md#the-brief).

The brief holds the question (the scenario's description), its policies, a headline table at
the end of 2027 and of 2030 (world adoption, open-weight share, share by origin, critical
dependency: median and 10–90% across replicates; with ``--against`` the effect against the
baseline and its robustness share), three figures, the caveats of docs/model-card.md and the
provenance. Numbers come from the results' own tables; the comparison goes through
:mod:`adoptsim.analysis.compare` (paired by replicate when the runs share seeds)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.bands import quantiles
from ..analysis.compare import (check_comparable, check_same_draws, compare_results, result_labels, run_ids,
                                shares_seeds)
from ..errors import AdoptsimError
from ..io.atomic import atomic_write_text, check_writable
from ..io.manifest import command_line, now
from ..io.run_folder import Results, load_results
from ..io.scenario_files import read_toml
from ..io.tables import read_table
from ..viz.brief import render_brief
from ..viz.compare_figures import compare_figure
from ..viz.run_figures import adoption_figure, dependency_figure, vendors_figure
from ..viz.style import label

REPORT_YEARS = (2027, 2030)
MODEL_CARD = "model-card.md"


@dataclass
class ReportReport:
    """What ``adoptsim report`` wrote: the brief's path, its months and whether it compares."""

    out: Path
    dates: list[str]
    against: str | None


def headline_dates(frame: pd.DataFrame, years: tuple[int, ...] = REPORT_YEARS) -> list[pd.Timestamp]:
    """December of each of ``years`` inside the run (the last month for a year the run ends in
    before December); the run's last month when no year falls inside it."""
    dates = pd.DatetimeIndex(sorted(pd.to_datetime(frame["date"].unique())))
    picked = []
    for y in years:
        inside = dates[dates.year == y]
        if len(inside):
            picked.append(inside.max())
    return picked or [dates.max()]


def world_values(frame: pd.DataFrame, metric: str, key: str, when: pd.Timestamp) -> pd.Series:
    """Per-run world values of one metric and key at one month (index: ``(member, replicate)``;
    member 0 for a table without a ``member`` column)."""
    sel = frame[(frame["scope"] == "world") & (frame["metric"] == metric)]
    sel = sel[(sel["key"].astype(str) == key) & (pd.to_datetime(sel["date"]) == when)]
    member = sel["member"].astype(int) if "member" in sel else pd.Series(0, index=sel.index)
    index = pd.MultiIndex.from_arrays([member.to_numpy(), sel["replicate"].astype(int).to_numpy()],
                                      names=["member", "replicate"])
    return pd.Series(sel["value"].astype(float).to_numpy(), index=index)


def short_label(text: str) -> str:
    """A display name without its trailing parenthesis ("European Union (bloc: ...)" -> "European Union")."""
    return re.sub(r"\s*\(.*\)\s*$", "", text) or text


def headline_items(res: Results) -> list[tuple[str, str, str]]:
    """``(row name, metric, key)`` of the headline: adoption, open share, each origin (largest
    share at the last month first), critical dependency."""
    origins = res.frame.loc[(res.frame["scope"] == "world") & (res.frame["metric"] == "share_origin"), "key"]
    last = res.frame["date"].max()
    order = (res.frame[(res.frame["scope"] == "world") & (res.frame["metric"] == "share_origin")
                       & (res.frame["date"] == last)].groupby("key", observed=True)["value"].mean()
             .sort_values(ascending=False))
    keys = [str(k) for k in order.index] + sorted(set(map(str, origins.unique())) - set(map(str, order.index)))
    return ([("Developers using any AI model", "adoption", ""), ("On open-weight models", "share_license", "open")]
            + [(short_label(label(k, res.manifest, "nation")), "share_origin", k) for k in keys]
            + [("Critical sectors on foreign models", "critical_dependency", "")])


def pct(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.1f}%"


def pts(x: float) -> str:
    """Percentage points, signed; a value that rounds to zero is "+0.0" (never "-0.0")."""
    if not np.isfinite(x):
        return "–"
    v = round(100 * x, 1)
    return f"{v if v != 0 else 0.0:+.1f} pts"


def effect_values(res: Results, base: Results, metric: str, key: str, when: pd.Timestamp,
                  paired: bool) -> np.ndarray:
    """Effects ``results − baseline``: run (member, replicate) minus the same run when paired —
    with several ensemble members, each member's mean over its replicates (one plausible world's
    effect, as :func:`adoptsim.analysis.compare.effects`) — else every run minus every baseline
    run (as :func:`adoptsim.analysis.compare.difference`)."""
    a, b = world_values(res.frame, metric, key, when), world_values(base.frame, metric, key, when)
    if metric.startswith("share_") and a.empty != b.empty:  # an origin one side lacks has share 0 there
        a = a if not a.empty else pd.Series(0.0, index=b.index)
        b = b if not b.empty else pd.Series(0.0, index=a.index)
    if paired:
        common = a.index.intersection(b.index)
        d = a.loc[common] - b.loc[common]
        if d.index.get_level_values("member").nunique() > 1:
            return d.groupby(level="member").mean().to_numpy()
        return d.to_numpy()
    return (a.to_numpy()[:, None] - b.to_numpy()[None, :]).ravel()


def stored_p_positive(res: Results) -> pd.DataFrame | None:
    """``effects.parquet`` of an ensemble compare, when the results folder holds one: its
    ``p_positive`` per metric, key and date (world scope)."""
    path = res.path / "effects.parquet"
    if not path.exists():
        return None
    eff = read_table(path)
    if "p_positive" not in eff:
        return None
    eff = eff[eff["scope"] == "world"].copy()
    eff["key"] = eff["key"].fillna("").astype(str)
    eff["date"] = pd.to_datetime(eff["date"])
    return eff


def headline_rows(res: Results, base: Results | None, dates: list[pd.Timestamp]) -> tuple[list[dict], str, str]:
    """The headline table's rows, and the notes on how effects were paired and robustness counted."""
    paired = base is not None and shares_seeds(res.manifest, run_ids(res.frame), base.manifest, run_ids(base.frame))
    if paired:  # ensemble runs pair only with the same posterior and draws (else: not paired)
        try:
            check_same_draws("results", res.manifest, run_ids(res.frame), "baseline", base.manifest,
                             run_ids(base.frame))
        except ValueError:
            paired = False
    stored = stored_p_positive(res) if base is not None else None
    rows = []
    for name, metric, key in headline_items(res):
        cells = []
        for when in dates:
            q10, q50, q90 = quantiles(world_values(res.frame, metric, key, when))
            cell = {"median": pct(q50), "q10": pct(q10), "q90": pct(q90)}
            if base is not None:
                d = effect_values(res, base, metric, key, when, paired)
                e10, e50, e90 = quantiles(d)
                p = float(np.mean(d > 0)) if len(d) else float("nan")
                if stored is not None:
                    hit = stored[(stored["metric"] == metric) & (stored["key"] == key) & (stored["date"] == when)]
                    p = float(hit["p_positive"].iloc[0]) if len(hit) else p
                cell.update(effect=pts(e50), effect_q10=pts(e10), effect_q90=pts(e90),
                            robust="–" if not np.isfinite(p) else f"{p:.0%}",
                            sign="pos" if e50 >= 5e-4 else "neg" if e50 <= -5e-4 else "")
            cells.append(cell)
        rows.append({"name": name, "cells": cells, "indent": metric == "share_origin",
                     "section": "On models by origin" if metric == "share_origin" and not any(
                         r["indent"] for r in rows) else ""})
    several = len({m for m, _ in run_ids(res.frame)}) > 1
    effect_note = ("paired by replicate (both runs share seed and replicates: common random numbers)."
                   if paired else "unpaired (different seeds): every replicate minus every baseline replicate.")
    if paired and several:
        effect_note = ("paired by ensemble member and replicate (the same plausible worlds and seeds on both "
                       "sides); each member's effect is its mean over replicates.")
    if stored is not None:
        robust_note = "p_positive of the ensemble's effects.parquet (share of members with an effect > 0)."
    elif paired and several:
        robust_note = "share of plausible worlds (ensemble members) with an effect > 0."
    else:
        robust_note = (f"share of {'paired replicates' if paired else 'replicate pairs'} with an effect > 0 "
                       "(counted over replicates).")
    return rows, effect_note, robust_note


def model_card() -> Path | None:
    """docs/model-card.md of a checkout, or the copy bundled in the wheel."""
    here = Path(__file__).resolve().parents[1]
    for p in (here / "bundled" / "docs" / MODEL_CARD, here.parents[1] / "docs" / MODEL_CARD):
        if p.is_file():
            return p
    return None


def plain(md: str) -> str:
    """Markdown of one caveat as plain text: links keep their text, emphasis marks go."""
    md = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", md)
    return re.sub(r"(\*\*|__|`)", "", md).strip()


def caveats(path: Path | None = None) -> list[dict]:
    """The bullets of the model card's "Known limitations" section, as ``{title, text}``."""
    path = path or model_card()
    if path is None:
        return [{"title": "", "text": "The model card (docs/model-card.md) was not found with this installation; "
                                     "read it before using these numbers."}]
    section = path.read_text(encoding="utf-8").split("## Known limitations", 1)[-1].split("\n## ", 1)[0]
    items = [" ".join(b.split()) for b in re.split(r"\n- ", "\n" + section.strip()) if b.strip()]
    out = []
    for item in items:
        item = item.removeprefix("- ")
        m = re.match(r"\*\*(.+?)\*\*\s*(.*)", item)
        out.append({"title": plain(m.group(1)), "text": plain(m.group(2))} if m else {"title": "", "text": plain(item)})
    return out


def policy_rows(res: Results) -> list[dict]:
    """The scenario's policies with their display names and descriptions (scenario.resolved.toml)."""
    described = {}
    resolved = res.path / "scenario.resolved.toml"
    if resolved.is_file():
        described = {p.get("name"): p.get("description", "") for p in read_toml(resolved).get("policies", [])}
    return [{"label": p.get("label") or p["name"], "type": p.get("type", ""), "start": p.get("start") or "",
             "end": p.get("end") or "(to the end)", "description": described.get(p["name"], "")}
            for p in res.manifest.get("policies", [])]


def draw_figures(res: Results, base: Results | None, folder: Path) -> list[dict]:
    """Three figures: adoption by licence and origin, vendors (stacked means), and the effect on
    shares by origin against the baseline (else critical dependency)."""
    figs = [{"path": adoption_figure(res.frame, res.manifest, folder / "adoption.png"),
             "caption": "World adoption: open-weight vs closed models and by origin (median, 10–90% band)."},
            {"path": vendors_figure(res.frame, res.manifest, folder / "vendors.png"),
             "caption": "World share of developers by vendor: means across replicates, stacked (they add up)."}]
    if base is not None:
        labels = result_labels([base.path, res.path])
        items = [(labels[0], base.frame, base.manifest), (labels[1], res.frame, res.manifest)]
        curves, diffs = compare_results(items, "share_origin")
        policies = [p for p in res.manifest.get("policies", [])]
        path = compare_figure(curves, diffs, folder / "compare.png", "share_origin", "world", policies,
                              labels=res.manifest.get("labels"))
        figs.append({"path": path, "caption": f"Share of developers by origin against {labels[0]} "
                                              "(left) and the effect in percentage points (right)."})
    else:
        figs.append({"path": dependency_figure(res.frame, res.manifest, folder / "dependency.png"),
                     "caption": "Critical dependency: government and health developers on a foreign origin's "
                                "models, world and selected nations (median, 10–90% band)."})
    return figs


def spread_text(manifest: dict) -> str:
    members, reps = manifest.get("members"), int(manifest.get("replicates", 0))
    if members:
        return f"{int(members)} ensemble members × {reps} replicates"
    return f"{reps} replicates (one parameter set: replicate noise only)"


def provenance_rows(res: Results, base: Results | None) -> list[tuple[str, str]]:
    m = res.manifest
    rows = [("scenario", f"{m.get('scenario', '')} ({m.get('scenario_file', '')})"),
            ("scenario hash", str(m.get("scenario_hash", ""))),
            ("seed", str(m.get("seed", ""))),
            ("members × replicates", f"{int(m.get('members') or 1)} × {int(m.get('replicates', 0))}"),
            ("months", f"{m.get('start', '')}, {m.get('months', '')} months"),
            ("results folder", str(res.path)),
            ("run command", str(m.get("command", ""))),
            ("run made", str(m.get("created", "")))]
    if base is not None:
        b = base.manifest
        rows += [("baseline", f"{b.get('scenario', '')} ({base.path}), hash {b.get('scenario_hash', '')}, "
                              f"seed {b.get('seed', '')}, {b.get('replicates', '')} replicates")]
    rows += [("versions", ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items()))]
    return rows


def write_report(results: str | Path, out: str | Path | None = None, against: str | Path | None = None,
                 overwrite: bool = False) -> ReportReport:
    """Write the brief of ``results`` (against ``against`` when given) to ``out`` (default
    ``<results>.html`` beside the folder); an existing file needs ``overwrite``. Atomic."""
    res = load_results(results)
    base = load_results(against) if against is not None else None
    out = Path(out) if out is not None else res.path.with_name(res.path.name + ".html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise AdoptsimError(f"--out: expected a file name ending in .html, got {str(out)!r}")
    if out.is_dir():
        raise AdoptsimError(f"--out: {out} is a folder; give a file name ending in .html")
    if out.exists() and not overwrite:
        raise AdoptsimError(f"--out: {out} exists; pass --overwrite to replace it")
    if base is not None:
        check_comparable([(str(base.path), base.frame, base.manifest), (str(res.path), res.frame, res.manifest)],
                         "world", "world")
    check_writable(out.parent)
    dates = headline_dates(res.frame)
    rows, effect_note, robust_note = headline_rows(res, base, dates)
    m = res.manifest
    with tempfile.TemporaryDirectory(prefix="adoptsim-report-") as tmp:
        context = {
            "title": f"{m.get('scenario', res.path.name)}" + (f" against {base.manifest.get('scenario', '')}"
                                                              if base is not None else ""),
            "question": m.get("description") or "(the scenario has no description)",
            "created": now(), "dates": [f"{d:%Y-%m}" for d in dates], "label": "share",
            "against": base.manifest.get("scenario", base.path.name) if base is not None else None,
            "headline": rows, "effect_note": effect_note, "robust_note": robust_note,
            "spread": spread_text(m), "policies": policy_rows(res), "caveats": caveats(),
            "figures": draw_figures(res, base, Path(tmp)),
            "provenance": {"adoptsim": (m.get("versions") or {}).get("adoptsim", "")},
            "provenance_rows": provenance_rows(res, base), "report_command": command_line(),
        }
        html = render_brief(context)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, html)
    return ReportReport(out=out, dates=context["dates"], against=context["against"])
