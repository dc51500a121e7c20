"""The baseline's empirical targets as model quantities: each target is read in one named *view*
of usage (docs/model.md, "Views" and "Mapping the model to the targets"), the model's value of
each target per replicate, and the check of the medians against the bands.

The bands live in one file, ``calibration/targets.toml`` (converted from
``shared/data/targets.toml``); this module holds no band, only the mapping from a quantity to
its view and the rules that turn the view's monthly shares into the quantity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Each quantity of :func:`target_metrics`: the view it is read in, what it measures, and its
#: month (or months) — the month of the observation in ``calibration/targets.toml`` (``when``).
QUANTITY_VIEWS = {
    "open_weight_share_2025_11": {"view": "openrouter", "months": ("2025-11", "2025-11"),
                                  "what": "open-weight share of OpenRouter tokens (outside China)"},
    "cn_open_share_2024_12": {"view": "openrouter", "months": ("2024-12", "2024-12"),
                              "what": "Chinese open-weight share of OpenRouter tokens (outside China)"},
    "cn_open_share_2025_mean": {"view": "openrouter", "months": ("2025-01", "2025-12"),
                                "what": "the same, averaged over 2025-01..2025-12"},
    "cn_passes_us_open": {"view": "huggingface", "months": None,
                          "what": "first month after which Chinese open models' share of Hugging Face "
                                  "downloads stays above US open models' for 3 months"},
    "enterprise_open_share_2025_06": {"view": "enterprise", "months": ("2025-06", "2025-06"),
                                      "what": "open-weight share of enterprise workloads (tokens, outside China)"},
}
QUANTITIES = tuple(QUANTITY_VIEWS)
MONTH_QUANTITIES = frozenset({"cn_passes_us_open"})
#: Months a crossover must hold to count (the first month of a run of this many).
CROSSOVER_HOLD = 3
#: The metrics :func:`target_metrics` reads.
TARGET_METRICS = ("view_share",)


def _view_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``view_share`` rows as columns ``replicate, date, view, origin, license, value`` (keys
    parsed once per distinct key, not per row)."""
    v = frame[frame["metric"] == "view_share"]
    keys = v["key"]
    keys = keys.cat.remove_unused_categories() if keys.dtype == "category" else keys.astype(str).astype("category")
    parts = [str(k).split("/") for k in keys.cat.categories]
    codes = keys.cat.codes.to_numpy()
    pick = lambda i: np.array([p[i] for p in parts], dtype=object)[codes]  # noqa: E731
    return pd.DataFrame({"replicate": v["replicate"].to_numpy(), "date": pd.to_datetime(v["date"]).to_numpy(),
                         "view": pick(0), "origin": pick(1), "license": pick(2), "value": v["value"].to_numpy()})


def view_shares(frame: pd.DataFrame, view: str) -> pd.DataFrame:
    """One view's shares of usage from the tidy table's ``view_share`` metric: columns
    ``replicate, date, origin, license, value`` (Σ over origin and licence = 1 per month)."""
    t = _view_table(frame)
    return t[t["view"] == view].drop(columns="view").reset_index(drop=True)


def view_series(frame: pd.DataFrame, view: str, origin: str | None = None,
                license: str | None = None, table: pd.DataFrame | None = None) -> pd.Series:
    """Share of ``view``'s usage on products of ``origin`` (any when None) and ``license`` (any
    when None), indexed by ``(replicate, date)``. ``table``: a :func:`_view_table` of ``frame``
    already made (to parse a frame once for many series)."""
    s = _view_table(frame) if table is None else table
    sel = s["view"] == view
    if origin is not None:
        sel &= s["origin"] == origin
    if license is not None:
        sel &= s["license"] == license
    return s[sel].groupby(["replicate", "date"])["value"].sum()


def crossover_month(first: pd.Series, second: pd.Series, hold: int = CROSSOVER_HOLD):
    """The first month m such that ``first > second`` in m and the ``hold − 1`` months after it
    (``first`` and ``second`` indexed by month, same index); ``pd.NaT`` if there is none. No date
    filter: a lead at the start that does not hold for ``hold`` months does not count, and one
    that holds does, whenever it happens."""
    ahead = (first.to_numpy() > second.to_numpy()).astype(int)
    if len(ahead) < hold:
        return pd.NaT
    runs = np.convolve(ahead, np.ones(hold, dtype=int), mode="valid")  # runs[i] = Σ ahead[i:i+hold]
    hit = np.flatnonzero(runs == hold)
    return pd.Timestamp(first.index[hit[0]]) if hit.size else pd.NaT


def _month(text: str) -> pd.Timestamp:
    return pd.Timestamp(text + "-01")


def target_metrics(frame: pd.DataFrame, scenario=None) -> pd.DataFrame:
    """The model's value of each quantity of :data:`QUANTITY_VIEWS`, one row per replicate.

    Reads the ``view_share`` metric only (``scenario`` is accepted for compatibility and not
    needed). Shares are of the quantity's view; the crossover compares the Chinese and US open
    shares of the Hugging Face view with :func:`crossover_month`; NaT if it never happens."""
    rows = {}
    table = _view_table(frame)
    for view in sorted({q["view"] for q in QUANTITY_VIEWS.values()}):
        rows[(view, "open")] = view_series(frame, view, license="open", table=table)
        rows[(view, "CN")] = view_series(frame, view, origin="CN", license="open", table=table)
        rows[(view, "US")] = view_series(frame, view, origin="US", license="open", table=table)
    out = []
    for r in sorted(int(x) for x in pd.unique(frame["replicate"])):
        row = {"replicate": r}
        for name, q in QUANTITY_VIEWS.items():
            view = q["view"]
            if name in MONTH_QUANTITIES:
                cn, us = rows[(view, "CN")].loc[r], rows[(view, "US")].loc[r]
                row[name] = crossover_month(cn, us.reindex(cn.index, fill_value=0.0))
                continue
            series = rows[(view, "CN" if name.startswith("cn_") else "open")].loc[r]
            lo, hi = (_month(m) for m in q["months"])
            sel = series[(series.index >= lo) & (series.index <= hi)]
            row[name] = float(sel.mean()) if len(sel) else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def target_check(metrics: pd.DataFrame, bands: dict) -> pd.DataFrame:
    """Median across replicates of each quantity against its band: columns
    ``target, view, median, low, high, inside``. ``bands`` maps a quantity to ``(low, high)``
    (numbers, or ``YYYY-MM`` months for a month quantity): see
    ``adoptsim.experiments.calibration.targets.quantity_bands``, which reads them from the
    target file. A month quantity is inside when more than half of the replicates reach it and
    their median month lies in the band."""
    out = []
    for name, (lo, hi) in bands.items():
        col = metrics[name]
        if name in MONTH_QUANTITIES:
            reached = col.dropna().sort_values()
            med = reached.iloc[len(reached) // 2] if len(reached) else pd.NaT
            inside = bool(pd.notna(med) and _month(lo) <= med <= _month(hi) and len(reached) * 2 > len(col))
            med = med.strftime("%Y-%m") if pd.notna(med) else "never"
        else:
            med = float(col.median())
            inside = bool(lo <= med <= hi)
        out.append({"target": name, "view": QUANTITY_VIEWS[name]["view"], "median": med, "low": lo,
                    "high": hi, "inside": inside})
    return pd.DataFrame(out)
