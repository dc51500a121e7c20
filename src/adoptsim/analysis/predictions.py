"""Pre-registered predictions (docs/predictions.md): the 2026 values of the quantities public
trackers report, read in the views of docs/model.md ("Views"), as 10/50/90% bands across the
runs of an ensemble (members × replicates).

Each quantity is a ratio of one view's shares of usage (``view_share``, China left out of every
view):

* ``cn_share_of_open_openrouter`` — Chinese open-weight tokens / all open-weight tokens, OpenRouter view;
* ``cn_share_of_open_huggingface`` — Chinese open-weight downloads / all open-weight downloads,
  Hugging Face view (the model has no model vintages: "of new models" is read as of all models);
* ``open_share_openrouter`` — open-weight tokens / all tokens, OpenRouter view;
* ``open_share_enterprise`` — open-weight tokens / all tokens, enterprise view;

each as the mean over a period's months of the monthly ratio (a run's value), then pooled over
runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: name -> (view, numerator (origin or None, licence), denominator (origin or None, licence or None), what)
PREDICTIONS = {
    "cn_share_of_open_openrouter": ("openrouter", ("CN", "open"), (None, "open"),
                                    "Chinese share of open-weight usage on OpenRouter (tokens, outside China)"),
    "cn_share_of_open_huggingface": ("huggingface", ("CN", "open"), (None, "open"),
                                     "Chinese share of Hugging Face downloads of open-weight models (outside China)"),
    "open_share_openrouter": ("openrouter", (None, "open"), (None, None),
                              "open-weight share of OpenRouter tokens (outside China)"),
    "open_share_enterprise": ("enterprise", (None, "open"), (None, None),
                              "open-weight share of enterprise workloads (tokens, outside China)"),
}
QUANTILES = (0.1, 0.5, 0.9)


def _views(frame: pd.DataFrame) -> pd.DataFrame:
    v = frame[frame["metric"] == "view_share"]
    keys = v["key"].astype(str)
    cats = pd.unique(keys)
    parts = {k: k.split("/") for k in cats}
    return pd.DataFrame({
        "member": (v["member"].to_numpy() if "member" in v else np.zeros(len(v), np.int32)),
        "replicate": v["replicate"].to_numpy(),
        "date": pd.to_datetime(v["date"]).to_numpy(),
        "view": keys.map(lambda k: parts[k][0]).to_numpy(),
        "origin": keys.map(lambda k: parts[k][1]).to_numpy(),
        "license": keys.map(lambda k: parts[k][2]).to_numpy(),
        "value": v["value"].to_numpy(),
    })


def _sum(t: pd.DataFrame, view: str, origin, license) -> pd.Series:
    sel = t["view"] == view
    if origin is not None:
        sel &= t["origin"] == origin
    if license is not None:
        sel &= t["license"] == license
    return t[sel].groupby(["member", "replicate", "date"])["value"].sum()


def run_values(frame: pd.DataFrame, periods: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Per run (member, replicate) and period: the value of every prediction quantity (the mean
    over the period's months of the monthly ratio; NaN when the denominator is 0 in every month).
    Columns ``member, replicate, period, quantity, value``."""
    t = _views(frame)
    out = []
    for name, (view, num, den, _) in PREDICTIONS.items():
        n = _sum(t, view, *num)
        d = _sum(t, view, *den).reindex(n.index)
        ratio = (n / d.where(d > 0)).rename("value").reset_index()
        for period, (first, last) in periods.items():
            lo, hi = pd.Timestamp(first + "-01"), pd.Timestamp(last + "-01")
            sel = ratio[(ratio["date"] >= lo) & (ratio["date"] <= hi)]
            per_run = sel.groupby(["member", "replicate"])["value"].mean().reset_index()
            per_run["period"] = period
            per_run["quantity"] = name
            out.append(per_run)
    return pd.concat(out, ignore_index=True)[["member", "replicate", "period", "quantity", "value"]]


def prediction_table(values: pd.DataFrame) -> pd.DataFrame:
    """10/50/90% of each quantity and period across runs: ``quantity, period, q10, q50, q90, runs``."""
    rows = []
    for (q, p), g in values.groupby(["quantity", "period"], sort=False):
        x = g["value"].dropna().to_numpy()
        qs = np.quantile(x, QUANTILES) if x.size else [np.nan] * 3
        rows.append({"quantity": q, "period": p, "q10": qs[0], "q50": qs[1], "q90": qs[2], "runs": int(x.size)})
    return pd.DataFrame(rows)
