"""Analysis of results: ensemble bands across replicates (comparisons, sensitivity and
calibration build on these)."""

from __future__ import annotations

import pandas as pd


def band(frame: pd.DataFrame, scope: str = "world", scope_id: str = "world", metric: str = "adoption",
         keys: list[str] | None = None) -> pd.DataFrame:
    """Median and 10–90% band across replicates per date and key (columns date, key, q10, q50, q90)."""
    sel = frame[(frame["scope"] == scope) & (frame["scope_id"] == scope_id) & (frame["metric"] == metric)]
    if keys is not None:
        sel = sel[sel["key"].isin(keys)]
    g = sel.groupby(["key", "date"], observed=True)["value"]
    q = g.quantile([0.1, 0.5, 0.9]).unstack(-1)
    q.columns = ["q10", "q50", "q90"]
    out = q.reset_index()
    out["key"] = out["key"].astype(str)
    return out.sort_values(["key", "date"]).reset_index(drop=True)
