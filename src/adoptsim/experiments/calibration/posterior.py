"""The posterior file (``posterior.parquet``), shared by calibration and ensemble runs, and the
identification table (docs/calibration.md, "The posterior file").

One row per member: ``member`` (int32, 0..n−1), ``weight`` (float64, ≥ 0, sums to 1), then one
column per parameter named by its factor path (float64; int64 for whole-number fields). The
Parquet key-value metadata key ``adoptsim.posterior`` holds JSON: ``format`` (1), ``scenario``
(as the spec names it), ``scenario_sha256``, ``base`` (path -> value in that scenario),
``priors`` (path -> [low, high]), ``method``, ``seed``, ``generations``, ``created_by``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import AdoptsimError
from ...io.atomic import atomic_write_with
from ..paths import current_value
from .targets import target_numbers

META_KEY = b"adoptsim.posterior"
#: width_ratio below which a parameter counts as identified / weakly identified (a uniform
#: prior's own 10-90% width is 0.8 of its range)
IDENTIFIED, WEAKLY = 0.4, 0.64


def weighted_quantiles(x: np.ndarray, w: np.ndarray, qs=(0.1, 0.5, 0.9)) -> list[float]:
    """Weighted quantiles (linear interpolation of the weighted empirical CDF at mid-points)."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    ok = np.isfinite(x)
    x, w = x[ok], w[ok]
    if not len(x):
        return [float("nan")] * len(qs)
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return [float(np.interp(q, cdf, x)) for q in qs]


def posterior_frame(cal, pop: pd.DataFrame) -> pd.DataFrame:
    """The posterior table of a final population: member, weight, one column per parameter path
    (and per balancing field)."""
    out = pd.DataFrame({"member": np.arange(len(pop), dtype=np.int32)})
    w = pop["weight"].to_numpy(dtype=np.float64)
    out["weight"] = w / w.sum()
    cols = list(cal.paths) + [c for c in pop.columns if c in cal.locators and c not in cal.paths]
    for p in cols:
        out[p] = pop[p].to_numpy(dtype=np.int64 if cal.integer.get(p) else np.float64)
    return out


def write_posterior(frame: pd.DataFrame, path: Path, meta: dict) -> Path:
    """Write the posterior table atomically, with its metadata under ``adoptsim.posterior``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta, sort_keys=True, default=float).encode()})
    return atomic_write_with(Path(path), lambda tmp: pq.write_table(table, tmp))


def read_posterior(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A posterior file's table and metadata; one-line AdoptsimError when it is not one."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise AdoptsimError(f"{path}: not a readable posterior file (Parquet): {exc}") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None or not {"member", "weight"} <= set(table.column_names):
        raise AdoptsimError(f"{path}: not a posterior file (needs columns member, weight and metadata "
                            "'adoptsim.posterior')")
    return table.to_pandas(), json.loads(raw)


def identification(cal, pop: pd.DataFrame) -> pd.DataFrame:
    """Which parameters the data identify: per parameter the prior range, base value, weighted
    mean and 10/50/90% posterior quantiles and ``width_ratio`` = (q90 − q10) / prior width:
    ``identified`` below 0.4, ``weakly identified`` below 0.64, else ``not identified``."""
    w = pop["weight"].to_numpy(dtype=float)
    rows = []
    for p in cal.parameters:
        x = pop[p.path].to_numpy(dtype=float)
        q10, q50, q90 = weighted_quantiles(x, w)
        ratio = (q90 - q10) / (p.range[1] - p.range[0])
        rows.append({"parameter": p.path, "prior_low": float(p.range[0]), "prior_high": float(p.range[1]),
                     "base": float(current_value(cal.base, cal.locators[p.path])),
                     "mean": float(np.sum(w * x) / w.sum()), "q10": q10, "q50": q50, "q90": q90,
                     "width_ratio": float(ratio),
                     "identified": "identified" if ratio < IDENTIFIED else
                     ("weakly identified" if ratio < WEAKLY else "not identified")})
    return pd.DataFrame(rows)


def posterior_targets(cal: Calibration, prior: pd.DataFrame, post: pd.DataFrame) -> pd.DataFrame:
    """Per target: observed value and band; prior (generation 0) and weighted posterior quantiles."""
    rows = []
    for t in cal.targets:
        v, lo, hi = target_numbers(t)
        col = f"sim:{t.id}"
        ok = np.isfinite(prior[col])
        pq = np.quantile(prior.loc[ok, col], [0.1, 0.5, 0.9]) if ok.any() else [np.nan] * 3
        aq = weighted_quantiles(post[col].to_numpy(), post["weight"].to_numpy())
        rows.append({"target": t.id, "quantity": t.quantity or f"{t.metric}:{t.scope}:{t.key}@{t.when}",
                     "kind": "month" if t.kind == "month" else "share", "observed": v, "low": lo, "high": hi,
                     "weight": t.weight, "prior_q10": pq[0], "prior_q50": pq[1], "prior_q90": pq[2],
                     "accepted_q10": aq[0], "accepted_q50": aq[1], "accepted_q90": aq[2],
                     "inside": bool(lo <= aq[1] <= hi)})
    return pd.DataFrame(rows)
