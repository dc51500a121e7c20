"""Comparisons of results: curves with bands, differences and robust effects against a reference.

A difference is *paired* (run (member k, replicate r) minus run (k, r)) only when both runs
share random numbers — the same manifest seed and the same (member, replicate) ids
(:func:`shares_seeds`) — otherwise it is the distribution of every difference of one replicate
of each (unpaired), and says so. Ensemble runs are always paired: both sides must have been
drawn from the same posterior (SHA-256) with the same seed, hence the same members
(:func:`check_same_draws` refuses otherwise). Runs that do not share start month, horizon or
the requested scope cannot be compared (:func:`check_comparable` raises).

**Robust effects** (:func:`effects`): per date and key, the effect in each plausible world is
the member's mean paired difference over its replicates; ``median, q10, q90`` are its
quantiles across members and ``p_positive`` the weighted share of members whose effect is
> 0 (members drawn by systematic resampling weigh 1/K each). With one member (no ensemble)
the same table is over replicates, and ``p_positive`` is the share of replicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AdoptsimError
from .bands import quantile_table

def select_values(frame: pd.DataFrame, metric: str, scope: str = "world", scope_id: str = "world",
                  key: str | None = None) -> pd.DataFrame:
    """One metric's per-run values in one scope: columns ``member, replicate, date, key, value``
    (plain dtypes, sorted; ``member`` 0 for a table without one)."""
    sel = frame[(frame["metric"] == metric) & (frame["scope"] == scope) & (frame["scope_id"] == scope_id)]
    member = sel["member"].to_numpy(dtype=np.int64) if "member" in sel else np.zeros(len(sel), dtype=np.int64)
    out = pd.DataFrame({"member": member, "replicate": sel["replicate"].to_numpy(dtype=np.int64),
                        "date": pd.to_datetime(sel["date"]).to_numpy(dtype="datetime64[ns]"),
                        "key": sel["key"].astype(str).to_numpy(dtype=object),
                        "value": sel["value"].to_numpy(dtype=float)})
    if key is not None:
        out = out[out["key"] == key]
    return out.sort_values(["key", "date", "member", "replicate"], kind="stable").reset_index(drop=True)


def run_ids(values: pd.DataFrame) -> set[tuple[int, int]]:
    """The (member, replicate) ids of a :func:`select_values` table or a timeseries (member 0 when
    the table has no ``member`` column: a run of the point scenario)."""
    if "member" not in values:
        return {(0, int(r)) for r in pd.unique(values["replicate"])}
    return set(map(tuple, values[["member", "replicate"]].drop_duplicates().to_numpy().tolist()))


def shares_seeds(manifest_a: dict, reps_a, manifest_b: dict, reps_b) -> bool:
    """True when two results share random numbers run by run: the same manifest seed and the
    same set of run ids (replicate ids, or (member, replicate) pairs; then run r of both used
    the same seed)."""
    sa, sb = manifest_a.get("seed"), manifest_b.get("seed")
    norm = lambda ids: {tuple(i) if isinstance(i, (tuple, list)) else int(i) for i in ids}  # noqa: E731
    return sa is not None and sa == sb and norm(reps_a) == norm(reps_b)


def ensemble_of(manifest: dict) -> dict | None:
    """The ``ensemble`` entry of a run's manifest (None: a run of the point scenario)."""
    ens = manifest.get("ensemble")
    return ens if isinstance(ens, dict) else None


def check_same_draws(label: str, manifest: dict, ids, ref_label: str, ref_manifest: dict, ref_ids) -> bool:
    """Whether two results are ensemble runs (True) — then they must share the posterior
    (SHA-256), the seed, the members drawn and the (member, replicate) runs, else ValueError
    naming what differs — or both runs of the point scenario (False)."""
    a, b = ensemble_of(ref_manifest), ensemble_of(manifest)
    if a is None and b is None:
        return False
    why = None
    if (a is None) != (b is None):
        which, other = (label, ref_label) if b is not None else (ref_label, label)
        why = f"{which} ran an ensemble and {other} did not (run both with the same ensemble, or both with --ensemble none)"
    elif a.get("sha256") != b.get("sha256"):
        why = f"their ensembles differ ({a.get('file')} vs {b.get('file')}: another posterior file or version)"
    elif ref_manifest.get("seed") != manifest.get("seed"):
        why = f"their seeds differ ({ref_manifest.get('seed')} vs {manifest.get('seed')}), so their members differ"
    elif list(a.get("draws", [])) != list(b.get("draws", [])):
        why = f"their members differ ({len(a.get('draws', []))} vs {len(b.get('draws', []))} drawn, or other members)"
    elif set(map(tuple, ref_ids)) != set(map(tuple, ids)):
        why = "their replicates differ (run both with the same --replicates)"
    if why:
        raise ValueError(f"{label} cannot be paired with {ref_label}: {why}; a robust effect needs the same "
                         "plausible worlds on both sides")
    return True


def fill_missing_keys(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shares of a key (vendor, origin) absent from one run are 0 there; other metrics compare
    only the keys both have."""
    ka, kb = set(a["key"]), set(b["key"])
    if not metric.startswith("share_") or ka == kb:
        keep = ka & kb
        return a[a["key"].isin(keep)], b[b["key"].isin(keep)]

    def add(f: pd.DataFrame, missing: set[str]) -> pd.DataFrame:
        if not missing:
            return f
        grid = f[["member", "replicate", "date"]].drop_duplicates()
        extra = pd.concat([grid.assign(key=k, value=0.0) for k in sorted(missing)], ignore_index=True)
        return pd.concat([f, extra[f.columns]], ignore_index=True)

    return add(a, kb - ka), add(b, ka - kb)


def difference(ref: pd.DataFrame, other: pd.DataFrame, paired: bool) -> pd.DataFrame:
    """Distribution of ``other − ref`` per date and key from two :func:`select_values` tables.

    * ``paired``: run (member k, replicate r) minus run (k, r) (common random numbers: both runs
      drew the same random numbers where their rules agree, so the difference is the change's
      effect);
    * unpaired: every replicate of ``other`` minus every replicate of ``ref`` (all
      n_other·n_ref differences), which is the distribution of the difference of two
      independent draws — deterministic, no random pairing.

    Returns ``date, key, n, mean, q10, q50, q90`` (``n`` the number of differences).
    """
    m = paired_values(ref, other, paired)
    return quantile_table(m[["date", "key", "value"]], ["date", "key"])


def paired_values(ref: pd.DataFrame, other: pd.DataFrame, paired: bool) -> pd.DataFrame:
    """The differences ``other − ref`` themselves: ``member, replicate, date, key, value`` (paired:
    one per run; unpaired: one per pair of runs, ``member`` and ``replicate`` those of ``other``)."""
    if paired:
        m = other.merge(ref, on=["member", "replicate", "date", "key"], suffixes=("", "_ref"))
    else:
        m = other.merge(ref.drop(columns=["member", "replicate"]), on=["date", "key"], suffixes=("", "_ref"))
    return m.assign(value=m["value"] - m["value_ref"])[["member", "replicate", "date", "key", "value"]]


EFFECT_COLUMNS = ["date", "key", "median", "q10", "q90", "p_positive", "n"]


def effects(diffs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Robust effects from :func:`paired_values`: ``(table, unit)`` where ``unit`` is
    ``"member"`` (several members: each member's mean difference over its replicates is one
    plausible world's effect) or ``"replicate"`` (one member: each difference is one). The
    table has ``date, key, median, q10, q90, p_positive, n`` (``n`` members or differences);
    ``p_positive`` is the share (members weigh 1/K each) of effects > 0."""
    several = diffs["member"].nunique() > 1
    unit = "member" if several else "replicate"
    if several:
        per = diffs.groupby(["date", "key", "member"], sort=True, observed=True)["value"].mean().reset_index()
    else:
        per = diffs
    g = per.groupby(["date", "key"], sort=True, observed=True)["value"]
    q = g.quantile([0.1, 0.5, 0.9]).unstack(-1)
    out = pd.DataFrame({"median": q[0.5], "q10": q[0.1], "q90": q[0.9],
                        "p_positive": g.apply(lambda v: float((v > 0).mean())), "n": g.count().astype(np.int64)})
    return out.reset_index()[EFFECT_COLUMNS], unit


def member_effects(diffs: pd.DataFrame, date) -> pd.DataFrame:
    """Each plausible world's effect at ``date``: ``key, member, value`` (the member's mean
    difference over replicates; with one member, each replicate's difference, ``member`` being
    the replicate) — what the comparison figure draws as the effect distribution."""
    at = diffs[diffs["date"] == pd.Timestamp(date)]
    if at["member"].nunique() > 1:
        return at.groupby(["key", "member"], sort=True, observed=True)["value"].mean().reset_index()
    return at.assign(member=at["replicate"])[["key", "member", "value"]].reset_index(drop=True)


@dataclass
class Comparison:
    """What :func:`compare_results` computes: ``curves`` and ``differences`` (as before),
    ``effects`` (robust effects of each results against the reference, with ``results`` and
    ``reference``), ``units`` (per results: ``member`` or ``replicate``, what one effect is)
    and ``final`` (each world's effect at the last date, for the figure)."""

    curves: pd.DataFrame
    differences: pd.DataFrame
    effects: pd.DataFrame
    units: dict
    final: pd.DataFrame

    def __iter__(self):  # ``curves, diffs = compare_results(...)`` as before
        return iter((self.curves, self.differences))


def compare_results(items: list[tuple[str, pd.DataFrame, dict]], metric: str, scope: str = "world",
                    scope_id: str = "world", key: str | None = None,
                    paired: bool | None = None) -> Comparison:
    """Curves, differences and robust effects of several results (``(label, timeseries,
    manifest)``; the first is the reference).

    ``curves`` has ``results, date, key, n, mean, q10, q50, q90`` across runs (members and
    replicates pooled); ``differences`` has ``results, reference, date, key, paired, n, mean,
    q10, q50, q90`` of each other results minus the reference; ``effects`` has ``results,
    reference, date, key, median, q10, q90, p_positive, n`` (:func:`effects`). ``paired=None``
    pairs by run exactly when :func:`shares_seeds` says the runs share seeds (ensemble runs:
    always, after :func:`check_same_draws`); ``True``/``False`` force it (``True`` raises
    ValueError when they do not share seeds; ``False`` is refused for ensemble runs)."""
    if len(items) < 1:
        raise ValueError("compare_results needs at least one results")
    vals = [(label, select_values(frame, metric, scope, scope_id, key), man) for label, frame, man in items]
    curves = pd.concat([quantile_table(v, ["date", "key"]).assign(results=label) for label, v, _ in vals],
                       ignore_index=True)
    ref_label, ref, ref_man = vals[0]
    diffs, effs, finals, units = [], [], [], {}
    for label, v, man in vals[1:]:
        if check_same_draws(label, man, run_ids(v), ref_label, ref_man, run_ids(ref)):
            if paired is False:
                raise ValueError(f"{label} and {ref_label} are ensemble runs: they are compared member by member "
                                 "(paired) only")
            use = True
        else:
            share = shares_seeds(ref_man, run_ids(ref), man, run_ids(v))
            if paired and not share:
                raise ValueError(f"{label} and {ref_label} do not share seeds (manifest seed and replicate ids); "
                                 "a paired difference needs common random numbers")
            use = share if paired is None else paired
        a, b = fill_missing_keys(ref, v, metric)
        d = paired_values(a, b, use)
        diffs.append(quantile_table(d[["date", "key", "value"]], ["date", "key"])
                     .assign(results=label, reference=ref_label, paired=bool(use)))
        eff, units[label] = effects(d)
        effs.append(eff.assign(results=label, reference=ref_label))
        finals.append(member_effects(d, d["date"].max()).assign(results=label))
    cols = ["results", "reference", "date", "key", "paired", "n", "mean", "q10", "q50", "q90"]
    differences = (pd.concat(diffs, ignore_index=True)[cols] if diffs
                   else pd.DataFrame({c: pd.Series(dtype=object) for c in cols}))
    ecols = ["results", "reference", *EFFECT_COLUMNS]
    effect_table = (pd.concat(effs, ignore_index=True)[ecols] if effs
                    else pd.DataFrame({c: pd.Series(dtype=object) for c in ecols}))
    final = (pd.concat(finals, ignore_index=True) if finals
             else pd.DataFrame({c: pd.Series(dtype=object) for c in ("results", "key", "member", "value")}))
    curves = curves[["results", "date", "key", "n", "mean", "q10", "q50", "q90"]]
    return Comparison(curves, differences, effect_table, units, final)


def headline(effect_table: pd.DataFrame, results: str, unit: str, share: bool, key: str | None = None) -> dict:
    """The headline effect of ``results``: at the last date, for ``key`` (default: the key with
    the largest absolute median effect). Returns ``key, date, median, q10, q90, p_positive,
    n, unit`` and ``text``, e.g. ``-3.5 pts (10-90%: -8.1 to -1.4), negative in 94% of
    plausible worlds``."""
    e = effect_table[effect_table["results"] == results]
    last = e[e["date"] == e["date"].max()]
    if key is None:
        last = last.assign(size=last["median"].abs()).sort_values(["size", "key"], ascending=[False, True])
    else:
        last = last[last["key"] == key]
    row = last.iloc[0]
    scale, unit_text = (100.0, " pts") if share else (1.0, "")

    def num(x: float) -> str:
        return f"{x * scale:+.1f}" if share else f"{x:+.3g}"

    med, p = float(row["median"]), float(row["p_positive"])
    sign, frac = ("negative", 1.0 - p) if med < 0 else ("positive", p)
    worlds = "plausible worlds" if unit == "member" else "replicates (one parameter set: no ensemble)"
    text = (f"{num(med)}{unit_text} (10-90%: {num(float(row['q10']))} to {num(float(row['q90']))}), "
            f"{sign} in {frac:.0%} of {worlds}")
    return {"key": str(row["key"]), "date": f"{pd.Timestamp(row['date']):%Y-%m}", "median": med,
            "q10": float(row["q10"]), "q90": float(row["q90"]), "p_positive": p, "n": int(row["n"]),
            "unit": unit, "text": text}


def result_labels(paths: list[Path]) -> list[str]:
    """Folder names, or the paths as given where two folders share a name."""
    names = [p.name for p in paths]
    out = [str(p) if names.count(p.name) > 1 else p.name for p in paths]
    return [lab if out.count(lab) == 1 else f"{lab} [{i + 1}]" for i, lab in enumerate(out)]


def _horizon(frame: pd.DataFrame, manifest: dict) -> tuple[str, str]:
    dates = pd.to_datetime(frame["date"])
    return f"{dates.min():%Y-%m}", f"{dates.max():%Y-%m}"


def check_comparable(items: list[tuple[str, pd.DataFrame, dict]], scope: str, scope_id: str) -> None:
    """Refuse to compare results that do not share start month and horizon, or that lack the
    requested scope: raise :class:`AdoptsimError` naming the results and the difference
    (a missing side is never filled with zeros)."""
    ref_label, ref_frame, ref_man = items[0]
    ref_span = _horizon(ref_frame, ref_man)
    ref_nations = set(map(str, ref_frame.loc[ref_frame["scope"] == "nation", "scope_id"].unique()))
    for label, frame, man in items:
        nations = set(map(str, frame.loc[frame["scope"] == "nation", "scope_id"].unique()))
        if nations != ref_nations:
            only = sorted(nations - ref_nations)[:5]
            lacks = sorted(ref_nations - nations)[:5]
            raise AdoptsimError(f"{label}: cannot compare with {ref_label}: {len(nations)} nations against "
                                f"{len(ref_nations)} (only in {label}: {', '.join(only) or 'none'}; missing: "
                                f"{', '.join(lacks) or 'none'}); their worlds and regions differ")
        span = _horizon(frame, man)
        if span != ref_span:
            raise AdoptsimError(f"{label}: cannot compare with {ref_label}: it runs {span[0]}..{span[1]}, "
                                f"{ref_label} runs {ref_span[0]}..{ref_span[1]} (start and horizon must match)")
        known = set(map(str, frame.loc[frame["scope"] == scope, "scope_id"].unique()))
        if scope_id not in known:
            raise AdoptsimError(f"{label}: no {scope} {scope_id!r} in these results; known: "
                                f"{', '.join(sorted(known)) or 'none'}")
