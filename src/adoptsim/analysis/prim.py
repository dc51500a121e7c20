"""PRIM (scenario discovery): which ranges of a sweep's factors lead to an outcome the user names
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

import numpy as np
import pandas as pd

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
