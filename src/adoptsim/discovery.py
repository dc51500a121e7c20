"""Scenario discovery: which ranges of a sweep's factors lead to an outcome the user names
(for example "Chinese-origin share in Latin America above 50% by 2030").

**Cases and outcome.** Every stored run of a sweep (one replicate of one design point) is one
case: its factor values are the case's coordinates and the outcome is 1 when the condition
holds for the run's value of the metric at the date (``value > X`` with ``above``,
``value < X`` with ``below``), else 0.

**PRIM** (patient rule induction method; Friedman & Fisher 1999, "Bump hunting in
high-dimensional data", *Statistics and Computing* 9:123–143), top-down peeling only:

* the box starts as every case (each factor's full observed range);
* a candidate peel removes, for one numeric factor, the cases below its ``alpha``-quantile
  within the box (or above its ``1 − alpha``-quantile); when ties make the quantile the
  box's edge (grid designs), the whole lowest (highest) level is removed instead. For a
  categorical factor a candidate removes all cases of one of its categories still in the box;
* among the candidates that keep at least ``min_mass`` of all cases, the peel leaving the
  highest **density** (share of cases in the box with outcome 1) is applied (ties: the one
  keeping more cases, then factor order);
* peeling stops when no candidate keeps ``min_mass`` of the cases, or the density reaches 1.

Each step records its **coverage** (share of all outcome-1 cases inside the box), **density**,
**mass** (share of all cases inside) and the box bounds (numeric factors: lowest and highest
value of the cases inside, so the box is ``low ≤ x ≤ high``; categorical: the categories
kept). No pasting step is made.

**Chosen box.** With ``min_density`` the chosen box is the first box of the trajectory (the
largest) whose density reaches it (if none does, the densest box). Without it, the *knee* of
the coverage–density trade-off: with coverage and density each rescaled to [0, 1] along the
trajectory, the box farthest from the straight line joining the first box and the last.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AdoptsimError

ALPHA = 0.05
MIN_MASS = 0.05


# ---- PRIM ----------------------------------------------------------------------------------

def _bounds(X: dict[str, np.ndarray], numeric: dict[str, bool], inside: np.ndarray) -> dict:
    out = {}
    for c, x in X.items():
        xin = x[inside]
        out[c] = (float(xin.min()), float(xin.max())) if numeric[c] else tuple(sorted(set(xin.tolist())))
    return out


def prim(X: pd.DataFrame, y, alpha: float = ALPHA, min_mass: float = MIN_MASS) -> pd.DataFrame:
    """Peeling trajectory of PRIM over the columns of ``X`` (numeric or categorical) for the
    0/1 outcome ``y``; see the module docstring.

    Returns one row per step (step 0 is the whole data): ``step, n, mass, coverage, density,
    peeled`` (the factor and side peeled to reach it) and per factor ``low:<factor>`` and
    ``high:<factor>`` (numeric) or ``in:<factor>`` (categorical: the categories kept, joined by
    ``|``)."""
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if not 0 < min_mass <= 1:
        raise ValueError(f"min_mass must be in (0, 1], got {min_mass}")
    yv = np.asarray(y, dtype=float)
    n = len(yv)
    if n == 0 or len(X) != n:
        raise ValueError("prim needs one outcome per case and at least one case")
    numeric = {c: bool(pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c]))
               for c in X.columns}
    cols = {c: X[c].to_numpy(dtype=float) if numeric[c] else X[c].astype(str).to_numpy(dtype=object)
            for c in X.columns}
    total = yv.sum()
    inside = np.ones(n, dtype=bool)
    floor = min_mass * n - 1e-9

    def row(step: int, peeled: str) -> dict:
        k = int(inside.sum())
        r = {"step": step, "n": k, "mass": k / n, "coverage": float(yv[inside].sum() / total) if total else 0.0,
             "density": float(yv[inside].mean()), "peeled": peeled}
        for c, b in _bounds(cols, numeric, inside).items():
            if numeric[c]:
                r[f"low:{c}"], r[f"high:{c}"] = b
            else:
                r[f"in:{c}"] = "|".join(b)
        return r

    rows = [row(0, "")]
    while rows[-1]["density"] < 1.0 and total > 0:
        m = int(inside.sum())
        best = None  # (density, kept, -order, keep mask, label)
        order = 0
        for c, x in cols.items():
            xin = x[inside]
            cands = []
            if numeric[c]:
                lo, hi = np.quantile(xin, [alpha, 1 - alpha])
                keep = inside & (x >= lo)
                if keep.sum() == m:
                    keep = inside & (x > xin.min())
                cands.append((keep, f"{c} low"))
                keep = inside & (x <= hi)
                if keep.sum() == m:
                    keep = inside & (x < xin.max())
                cands.append((keep, f"{c} high"))
            else:
                cats = sorted(set(xin.tolist()))
                if len(cats) > 1:
                    cands += [(inside & (x != cat), f"{c} != {cat}") for cat in cats]
            for keep, label in cands:
                order += 1
                k = int(keep.sum())
                if k == m or k == 0 or k < floor:
                    continue
                score = (float(yv[keep].mean()), k, -order)
                if best is None or score > best[0]:
                    best = (score, keep, label)
        if best is None:
            break
        inside = best[1]
        rows.append(row(len(rows), best[2]))
    return pd.DataFrame(rows)


def choose_box(trajectory: pd.DataFrame, min_density: float | None = None) -> tuple[int, str]:
    """The chosen step of a PRIM trajectory and why (see the module docstring)."""
    t = trajectory
    if min_density is not None:
        ok = t.index[t["density"] >= min_density]
        if len(ok):
            return int(t.loc[ok[0], "step"]), f"the largest box with density >= {min_density:g}"
        i = int(t["density"].idxmax())
        return int(t.loc[i, "step"]), (f"no box reaches density {min_density:g}; the densest box "
                                       f"(density {t.loc[i, 'density']:.3f})")
    if len(t) < 3:
        return int(t["step"].iloc[-1]), "the last box (trajectory too short for a knee)"
    cov, den = t["coverage"].to_numpy(), t["density"].to_numpy()

    def scale(v):
        span = v.max() - v.min()
        return (v - v.min()) / span if span > 0 else np.zeros_like(v)

    if np.ptp(cov) == 0:  # every box keeps every hit: the densest (last) box loses nothing
        i = int(np.argmax(den))
        return int(t["step"].iloc[i]), "the densest box (every box keeps all hits)"
    x, yv = scale(cov), scale(den)
    (x0, y0), (x1, y1) = (x[0], yv[0]), (x[-1], yv[-1])
    dist = np.abs((y1 - y0) * x - (x1 - x0) * yv + x1 * y0 - y1 * x0) / max(np.hypot(y1 - y0, x1 - x0), 1e-12)
    i = int(np.argmax(dist))
    return int(t["step"].iloc[i]), "the knee of the coverage-density trade-off"


def box_table(trajectory: pd.DataFrame, step: int, X: pd.DataFrame) -> pd.DataFrame:
    """The box of one step, one row per factor (the columns of the cases ``X``): ``factor,
    low, high, categories, full_low, full_high, restricted``. A factor is *restricted* when
    lifting its bounds (keeping the others') would let more cases into the box; the bounds of
    an unrestricted factor are just the range of the cases inside."""
    first, box = trajectory.iloc[0], trajectory.loc[trajectory["step"] == step].iloc[0]
    rows = []
    for f in X.columns:
        if f"low:{f}" in trajectory:
            rows.append({"factor": f, "low": float(box[f"low:{f}"]), "high": float(box[f"high:{f}"]),
                         "categories": "", "full_low": float(first[f"low:{f}"]),
                         "full_high": float(first[f"high:{f}"])})
        else:
            rows.append({"factor": f, "low": np.nan, "high": np.nan, "categories": box[f"in:{f}"],
                         "full_low": np.nan, "full_high": np.nan})
    out = pd.DataFrame(rows)
    n_in = int(in_box(X, out).sum())
    restricted = []
    for i in range(len(out)):
        lifted = out.drop(index=i)
        restricted.append(bool(in_box(X, lifted).sum() > n_in))
    out["restricted"] = restricted
    return out


def in_box(X: pd.DataFrame, box: pd.DataFrame) -> np.ndarray:
    """Which cases lie in a box (:func:`box_table`)."""
    mask = np.ones(len(X), dtype=bool)
    for r in box.itertuples(index=False):
        if r.categories:
            mask &= X[r.factor].astype(str).isin(r.categories.split("|")).to_numpy()
        else:
            x = X[r.factor].to_numpy(dtype=float)
            mask &= (x >= r.low) & (x <= r.high)
    return mask


# ---- sweeps -------------------------------------------------------------------------------

def sweep_outcomes(sw, metric: str, scope: str, scope_id: str, key: str, date: str | None) -> pd.DataFrame:
    """Every stored run's value of one metric at ``date`` (``YYYY-MM``; default each run's final
    month): columns ``point, replicate``, the factors, ``value``. Read from ``endpoints.parquet``
    when the date was summarised, else from the run shards."""
    import pyarrow.parquet as pq

    factors = [f["path"] for f in sw.manifest.get("factors", [])]
    ok = sw.runs[sw.runs["status"] == "ok"]
    ep = sw.endpoints
    sel = ep[(ep["metric"] == metric) & (ep["scope"] == scope) & (ep["scope_id"] == scope_id) & (ep["key"] == key)]
    if date is None or pd.Timestamp(date + "-01") in set(pd.to_datetime(sel["date"])):
        sel = sel.assign(date=pd.to_datetime(sel["date"]))
        if date is None:
            sel = sel[sel["date"] == sel.groupby(["point", "replicate"])["date"].transform("max")]
        else:
            sel = sel[sel["date"] == pd.Timestamp(date + "-01")]
        vals = sel[["point", "replicate", "value"]]
    else:
        rows = []
        when = pd.Timestamp(date + "-01")
        for point, rep, rkey in ok[["point", "replicate", "run_key"]].itertuples(index=False):
            t = pq.read_table(sw.path / "runs" / f"{rkey}.parquet", columns=["date", "value"],
                              filters=[("metric", "=", metric), ("scope", "=", scope), ("scope_id", "=", scope_id),
                                       ("key", "=", key)]).to_pandas()
            v = t.loc[pd.to_datetime(t["date"]) == when, "value"]
            if len(v):
                rows.append({"point": point, "replicate": rep, "value": float(v.iloc[0])})
        if not rows:
            first = sw.manifest.get("start")
            raise AdoptsimError(f"--date: no month {date} in the runs of {sw.path} (they start {first})")
        vals = pd.DataFrame(rows)
    out = ok[["point", "replicate", *factors]].merge(vals, on=["point", "replicate"], how="inner")
    return out.sort_values(["point", "replicate"], kind="stable").reset_index(drop=True)


def run_discovery(folder: str | Path, out: str | Path, metric: str, scope: str = "world",
                  scope_id: str | None = None, key: str | None = None, date: str | None = None,
                  above: float | None = None, below: float | None = None, alpha: float = ALPHA,
                  min_mass: float = MIN_MASS, min_density: float | None = None, fmt: str = "parquet") -> dict:
    """``adoptsim discover``: PRIM over a sweep folder's runs; writes ``prim_trajectory``,
    ``prim_box`` and ``cases`` tables, ``discovery.png`` and ``manifest.json`` into ``out``
    (atomically). Returns a summary dict (chosen step, its coverage, density, mass, box)."""
    from .analysis import _analysis_manifest
    from .months import parse_month
    from .plotting import _sweep_key, discovery_figure
    from .results import FORMATS, atomic_write_text, publish_dir, write_table
    from .sweep import load_sweep

    if (above is None) == (below is None):
        raise AdoptsimError("--above/--below: give exactly one threshold")
    if fmt not in FORMATS:
        raise AdoptsimError(f"--format: expected parquet or csv, got {fmt!r}")
    if not 0 < alpha < 0.5:
        raise AdoptsimError(f"--alpha: expected a fraction in (0, 0.5), got {alpha}")
    if not 0 < min_mass <= 1:
        raise AdoptsimError(f"--min-mass: expected a fraction in (0, 1], got {min_mass}")
    if min_density is not None and not 0 < min_density <= 1:
        raise AdoptsimError(f"--min-density: expected a fraction in (0, 1], got {min_density}")
    if scope not in ("world", "region", "nation"):
        raise AdoptsimError(f"--scope: expected world, region or nation, got {scope!r}")
    if date is not None:
        try:
            parse_month(date)
        except ValueError as exc:
            raise AdoptsimError(f"--date: {exc}") from None
    scope_id = "world" if scope == "world" else scope_id
    if scope_id is None:
        raise AdoptsimError(f"--scope-id: name the {scope} with --scope {scope}")
    sw = load_sweep(folder)
    kept = sw.manifest.get("metrics", [])
    if metric not in kept:
        raise AdoptsimError(f"--metric: the sweep kept only {', '.join(kept)}; got {metric!r}")
    factors = [f["path"] for f in sw.manifest.get("factors", [])]
    if not factors:
        raise AdoptsimError(f"{folder}: the sweep has no factors to discover ranges of")
    if not (sw.endpoints["scope"] == scope).any() or not (
            (sw.endpoints["scope"] == scope) & (sw.endpoints["scope_id"] == scope_id)).any():
        known = sorted(map(str, sw.endpoints.loc[sw.endpoints["scope"] == scope, "scope_id"].unique()))
        raise AdoptsimError(f"--scope-id: no {scope} {scope_id!r} in {folder}; known: {', '.join(known)}")
    key = _sweep_key(sw.endpoints, metric, scope, scope_id, key)
    cases = sweep_outcomes(sw, metric, scope, scope_id, key, date)
    if cases.empty:
        raise AdoptsimError(f"{folder}: no stored run has {metric!r} for {scope} {scope_id!r}")
    op, thr = (">", above) if above is not None else ("<", below)
    cases["outcome"] = (cases["value"] > thr) if above is not None else (cases["value"] < thr)
    traj = prim(cases[factors], cases["outcome"].to_numpy(), alpha, min_mass)
    step, why = choose_box(traj, min_density)
    box = box_table(traj, step, cases[factors])
    cases["in_box"] = in_box(cases[factors], box)
    what = metric + (f"[{key}]" if key else "")
    where = "world" if scope == "world" else f"{scope} {scope_id}"
    condition = f"{what} in {where} at {date or 'the final month'} {op} {thr:g}"
    chosen = traj.loc[traj["step"] == step].iloc[0]
    summary = {"condition": condition, "cases": int(len(cases)), "hits": int(cases["outcome"].sum()),
               "chosen_step": step, "chosen_because": why, "coverage": float(chosen["coverage"]),
               "density": float(chosen["density"]), "mass": float(chosen["mass"]),
               "box": {r.factor: ([r.low, r.high] if not r.categories else r.categories.split("|"))
                       for r in box.itertuples(index=False) if r.restricted}}
    meta = _analysis_manifest("discovery", sweep=str(folder), experiment=sw.manifest.get("experiment"),
                              metric=metric, scope=scope, scope_id=scope_id, key=key, date=date,
                              above=above, below=below, alpha=alpha, min_mass=min_mass, min_density=min_density,
                              method="PRIM peeling (Friedman & Fisher 1999), no pasting", **summary)

    def build(tmp: Path) -> None:
        write_table(traj, tmp / "prim_trajectory", fmt)
        write_table(box, tmp / "prim_box", fmt)
        write_table(cases, tmp / "cases", fmt)
        discovery_figure(traj, box, cases, factors, step, tmp / "discovery.png",
                         f"{sw.manifest.get('experiment', '')}: {condition}", why)
        atomic_write_text(tmp / "manifest.json", json.dumps(meta, indent=2, default=str) + "\n")

    publish_dir(build, Path(out))
    return summary
