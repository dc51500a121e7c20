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


def spread_parts(values: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Which uncertainty dominates, per group of ``by``: ``sd_between``, the standard deviation
    (ddof 1) of the member means across members (NaN with one member), and ``sd_within``, the
    pooled replicate standard deviation ``sqrt(sum_m (n_m - 1) s_m^2 / sum_m (n_m - 1))`` (NaN
    with one replicate per member). ``values`` has ``member`` and ``value`` columns (a table
    without ``member`` is one member)."""
    v = values if "member" in values else values.assign(member=0)
    per = v.groupby([*by, "member"], sort=True, observed=True)["value"].agg(["mean", "var", "count"])
    per["ss"] = per["var"] * (per["count"] - 1)
    g = per.groupby(level=list(range(len(by))), sort=True, observed=True)
    dof = g["count"].sum() - g["count"].size()
    out = pd.DataFrame({"sd_between": g["mean"].std(ddof=1),
                        "sd_within": np.sqrt(g["ss"].sum(min_count=1) / dof.where(dof > 0))})
    return out.reset_index()


def summarise_run(frame: pd.DataFrame) -> pd.DataFrame:
    """Quantiles across members and replicates pooled, at each December and at the final month
    of a run's tidy table, with the between-member and within-member (replicate) standard
    deviations (:func:`spread_parts`).

    Columns: ``date, scope, scope_id, metric, key, n, mean, q10, q50, q90, sd_between, sd_within``.
    """
    by = ["date", "scope", "scope_id", "metric", "key"]
    fast = _summary_cells(frame, by)
    if fast is None:  # not the usual table (dates missing, labels not categories): the plain way
        return summarise_plain(frame)
    cells, decode = fast
    out = quantile_table(cells, ["cell"])
    out = out.merge(spread_parts(cells, ["cell"]), on=["cell"], how="left")
    head = decode(out["cell"].to_numpy())
    return pd.concat([head, out.drop(columns="cell")], axis=1)


def summarise_plain(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`summarise_run` by a group-by on the five columns (what it does for a table that is
    not of the usual kind; the reference its fast path is tested against)."""
    by = ["date", "scope", "scope_id", "metric", "key"]
    dates = pd.to_datetime(frame["date"])
    final = dates.max()
    pick = (dates.dt.month == 12) | (dates == final)
    sel = frame.loc[pick]
    out = quantile_table(sel, by)
    out = out.merge(spread_parts(sel, by), on=by, how="left")
    for col in ("scope", "scope_id", "metric", "key"):
        out[col] = out[col].astype(str)
    return out


def _summary_cells(frame: pd.DataFrame, by: list[str]):
    """The rows :func:`summarise_run` summarises (Decembers and the final month) as one integer
    ``cell`` per group of ``by`` — numbered in the order a sorted group-by on ``by`` gives —
    with ``member`` and ``value``, and the function that turns cells back into the ``by``
    columns. The same groups, with their rows in the same order, as the group-by on the five
    columns, so the same numbers, at a fraction of the cost on an ensemble's tens of millions of
    rows. None when the table is not of the usual kind (dates as datetime64 without NaT, labels
    as categories without missing values)."""
    if not pd.api.types.is_datetime64_dtype(frame["date"].dtype):
        return None
    labels = by[1:]
    if not all(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in labels):
        return None
    dates = frame["date"].to_numpy()
    if not len(dates) or np.isnat(dates).any():
        return None
    codes, uniq = pd.factorize(dates)  # a few distinct months: the calendar work on those only
    order = np.argsort(uniq, kind="stable")
    duniq = uniq[order]
    rank = np.empty(len(uniq), np.int64)
    rank[order] = np.arange(len(uniq))
    keep = (duniq.astype("datetime64[M]").astype(np.int64) % 12 == 11) | (duniq == duniq.max())
    pick = np.flatnonzero(keep[rank][codes])
    cell = rank[codes[pick]]
    cats, sizes = [], []
    for c in labels:
        codes = frame[c].cat.codes.to_numpy()[pick]
        if (codes < 0).any():
            return None
        n = len(frame[c].cat.categories)
        cell = cell * n + codes
        cats.append(frame[c].cat.categories)
        sizes.append(n)
    member = frame["member"].to_numpy()[pick] if "member" in frame else np.zeros(len(pick), np.int32)
    cells = pd.DataFrame({"cell": cell, "member": member, "value": frame["value"].to_numpy()[pick]})

    def decode(cell: np.ndarray) -> pd.DataFrame:
        parts = {}
        rest = cell.copy()
        for c, cat, n in zip(labels[::-1], cats[::-1], sizes[::-1]):
            parts[c] = pd.Series(cat.take(rest % n)).astype(str)
            rest //= n
        return pd.DataFrame({"date": duniq.take(rest), **{c: parts[c] for c in labels}})

    return cells, decode


def inner_band(frame: pd.DataFrame, scope: str = "world", scope_id: str = "world", metric: str = "adoption",
               keys: list[str] | None = None) -> pd.DataFrame:
    """The replicate-only part of a pooled band, per date and key: the pooled median plus the
    10% and 90% quantiles of the deviations of each run from its member's mean (columns
    ``date, key, q10, q50, q90``). Its width is the band replicate noise alone would give; the
    pooled band (:func:`band`) adds the spread between members."""
    sel = frame[(frame["scope"] == scope) & (frame["scope_id"] == scope_id) & (frame["metric"] == metric)]
    if keys is not None:
        sel = sel[sel["key"].isin(keys)]
    sel = sel[["member", "date", "key", "value"]] if "member" in sel else sel[["date", "key", "value"]].assign(member=0)
    sel = sel.assign(key=sel["key"].astype(str))
    dev = sel["value"] - sel.groupby(["key", "date", "member"], observed=True)["value"].transform("mean")
    lo_hi = sel.assign(value=dev).groupby(["key", "date"], sort=True, observed=True)["value"].quantile(
        [QUANTILES[0], QUANTILES[2]]).unstack(-1)
    med = sel.groupby(["key", "date"], sort=True, observed=True)["value"].median()
    out = pd.DataFrame({"q10": med + lo_hi[QUANTILES[0]], "q50": med, "q90": med + lo_hi[QUANTILES[2]]}).reset_index()
    return out.sort_values(["key", "date"]).reset_index(drop=True)


def worlds_caption(frame: pd.DataFrame) -> str:
    """``plausible worlds: K members × R replicates`` (``R = 1: replicate spread not estimated``
    when one replicate each) for a tidy table."""
    k = int(frame["member"].nunique()) if "member" in frame else 1
    r = int(frame["replicate"].nunique())
    text = f"plausible worlds: {k} member{'s' if k != 1 else ''} × {r} replicate{'s' if r != 1 else ''}"
    if k > 1 and r == 1:
        text += " (one replicate each: the replicate-only band is not estimated)"
    return text


def band_width(table: pd.DataFrame, since: str | None = None) -> float:
    """Mean 10–90% width (``q90 − q10``) of a quantile table, over dates from ``since``
    (``YYYY-MM``) on."""
    t = table if since is None else table[pd.to_datetime(table["date"]) >= pd.Timestamp(since + "-01")]
    return float((t["q90"] - t["q10"]).mean())
