"""Quantile bands: the one implementation of ``n, mean, q10, q50, q90`` tables.

Every band adoptsim reports — run summaries, comparisons, sweep summaries, calibration
quantiles and the figures' bands — is computed by :func:`quantile_table`: linear-interpolated
quantiles (numpy's default) of ``value`` per group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The quantiles of every band: 10%, median, 90%.
QUANTILES = (0.1, 0.5, 0.9)
QUANTILE_COLUMNS = tuple(f"q{int(round(q * 100)):02d}" for q in QUANTILES)


def quantile_table(values: pd.DataFrame, by: list[str], stats: bool = True, observed: bool = True,
                   column: str = "value") -> pd.DataFrame:
    """``n, mean, q10, q50, q90`` of ``column`` per group of ``by`` (``stats=False``: only the
    quantiles). Groups are sorted; ``n`` counts the non-missing values."""
    g = values.groupby(by, sort=True, observed=observed)[column]
    q = g.quantile(list(QUANTILES)).unstack(-1)
    q.columns = list(QUANTILE_COLUMNS)
    if not stats:
        return q.reset_index()
    out = g.agg(n="count", mean="mean").join(q).reset_index()
    out["n"] = out["n"].astype(np.int64)
    return out


def quantiles(x) -> tuple[float, float, float]:
    """10%, 50% and 90% quantiles of the finite values of ``x`` (NaN when there are none)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return (float("nan"),) * 3
    q = np.quantile(x, list(QUANTILES))
    return float(q[0]), float(q[1]), float(q[2])


def band(frame: pd.DataFrame, scope: str = "world", scope_id: str = "world", metric: str = "adoption",
         keys: list[str] | None = None) -> pd.DataFrame:
    """Median and 10–90% band across replicates per date and key (columns date, key, q10, q50, q90)."""
    sel = frame[(frame["scope"] == scope) & (frame["scope_id"] == scope_id) & (frame["metric"] == metric)]
    if keys is not None:
        sel = sel[sel["key"].isin(keys)]
    out = quantile_table(sel, ["key", "date"], stats=False)
    out["key"] = out["key"].astype(str)
    return out.sort_values(["key", "date"]).reset_index(drop=True)


def summarise_run(frame: pd.DataFrame) -> pd.DataFrame:
    """Quantiles across replicates at each December and at the final month of a run's tidy table.

    Columns: ``date, scope, scope_id, metric, key, n, mean, q10, q50, q90``.
    """
    dates = pd.to_datetime(frame["date"])
    final = dates.max()
    pick = (dates.dt.month == 12) | (dates == final)
    out = quantile_table(frame.loc[pick], ["date", "scope", "scope_id", "metric", "key"])
    for col in ("scope", "scope_id", "metric", "key"):
        out[col] = out[col].astype(str)
    return out


def band_width(table: pd.DataFrame, since: str | None = None) -> float:
    """Mean 10–90% width (``q90 − q10``) of a quantile table, over dates from ``since``
    (``YYYY-MM``) on."""
    t = table if since is None else table[pd.to_datetime(table["date"]) >= pd.Timestamp(since + "-01")]
    return float((t["q90"] - t["q10"]).mean())
