"""Comparisons of results: curves with bands and differences against a reference.

A difference is *paired* (replicate r minus replicate r) only when both runs share random
numbers — the same manifest seed and the same replicate ids (:func:`shares_seeds`) — otherwise
it is the distribution of every difference of one replicate of each (unpaired), and says so.
Runs that do not share start month, horizon or the requested scope cannot be compared
(:func:`check_comparable` raises).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AdoptsimError
from .bands import quantile_table

def select_values(frame: pd.DataFrame, metric: str, scope: str = "world", scope_id: str = "world",
                  key: str | None = None) -> pd.DataFrame:
    """One metric's per-replicate values in one scope: columns ``replicate, date, key, value``
    (plain dtypes, sorted)."""
    sel = frame[(frame["metric"] == metric) & (frame["scope"] == scope) & (frame["scope_id"] == scope_id)]
    out = pd.DataFrame({"replicate": sel["replicate"].to_numpy(dtype=np.int64),
                        "date": pd.to_datetime(sel["date"]).to_numpy(dtype="datetime64[ns]"),
                        "key": sel["key"].astype(str).to_numpy(dtype=object),
                        "value": sel["value"].to_numpy(dtype=float)})
    if key is not None:
        out = out[out["key"] == key]
    return out.sort_values(["key", "date", "replicate"], kind="stable").reset_index(drop=True)


def shares_seeds(manifest_a: dict, reps_a, manifest_b: dict, reps_b) -> bool:
    """True when two results share random numbers replicate by replicate: the same manifest
    seed and the same set of replicate ids (then replicate r of both used the same seed)."""
    sa, sb = manifest_a.get("seed"), manifest_b.get("seed")
    return sa is not None and sa == sb and set(map(int, reps_a)) == set(map(int, reps_b))


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
        grid = f[["replicate", "date"]].drop_duplicates()
        extra = pd.concat([grid.assign(key=k, value=0.0) for k in sorted(missing)], ignore_index=True)
        return pd.concat([f, extra[f.columns]], ignore_index=True)

    return add(a, kb - ka), add(b, ka - kb)


def difference(ref: pd.DataFrame, other: pd.DataFrame, paired: bool) -> pd.DataFrame:
    """Distribution of ``other − ref`` per date and key from two :func:`select_values` tables.

    * ``paired``: replicate r minus replicate r (common random numbers: both runs drew the same
      random numbers where their rules agree, so the difference is the change's effect);
    * unpaired: every replicate of ``other`` minus every replicate of ``ref`` (all
      n_other·n_ref differences), which is the distribution of the difference of two
      independent draws — deterministic, no random pairing.

    Returns ``date, key, n, mean, q10, q50, q90`` (``n`` the number of differences).
    """
    if paired:
        m = other.merge(ref, on=["replicate", "date", "key"], suffixes=("", "_ref"))
    else:
        m = other.merge(ref.drop(columns="replicate"), on=["date", "key"], suffixes=("", "_ref"))
    m = m.assign(value=m["value"] - m["value_ref"])
    return quantile_table(m[["date", "key", "value"]], ["date", "key"])


def compare_results(items: list[tuple[str, pd.DataFrame, dict]], metric: str, scope: str = "world",
                    scope_id: str = "world", key: str | None = None,
                    paired: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Curves and differences of several results (``(label, timeseries, manifest)``; the first is
    the reference).

    Returns ``(curves, differences)``: ``curves`` has ``results, date, key, n, mean, q10, q50,
    q90`` across replicates; ``differences`` has ``results, reference, date, key, paired, n,
    mean, q10, q50, q90`` of each other results minus the reference. ``paired=None`` pairs by
    replicate exactly when :func:`shares_seeds` says the runs share seeds; ``True``/``False``
    force it (``True`` raises ValueError when they do not share seeds)."""
    if len(items) < 1:
        raise ValueError("compare_results needs at least one results")
    vals = [(label, select_values(frame, metric, scope, scope_id, key), man) for label, frame, man in items]
    curves = pd.concat([quantile_table(v, ["date", "key"]).assign(results=label) for label, v, _ in vals],
                       ignore_index=True)
    ref_label, ref, ref_man = vals[0]
    diffs = []
    for label, v, man in vals[1:]:
        share = shares_seeds(ref_man, ref["replicate"].unique(), man, v["replicate"].unique())
        if paired and not share:
            raise ValueError(f"{label} and {ref_label} do not share seeds (manifest seed and replicate ids); "
                             "a paired difference needs common random numbers")
        use = share if paired is None else paired
        a, b = fill_missing_keys(ref, v, metric)
        diffs.append(difference(a, b, use).assign(results=label, reference=ref_label, paired=bool(use)))
    cols = ["results", "reference", "date", "key", "paired", "n", "mean", "q10", "q50", "q90"]
    differences = (pd.concat(diffs, ignore_index=True)[cols] if diffs
                   else pd.DataFrame({c: pd.Series(dtype=object) for c in cols}))
    curves = curves[["results", "date", "key", "n", "mean", "q10", "q50", "q90"]]
    return curves, differences


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
