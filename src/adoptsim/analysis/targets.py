"""The baseline's empirical targets: usage shares as the targets measure them, the model's
value of each target per replicate, and the check of the medians against the bands
(docs/model.md, "Targets")."""

from __future__ import annotations

import pandas as pd

#: Empirical bands (from ``shared/data/targets.toml``) that the baseline's median must land in.
#: Shares are of usage among adopters; months are ``YYYY-MM``.
TARGETS = {
    "open_weight_share_2025_11": {"value": 0.33, "range": (0.25, 0.40),
                                  "source": "OpenRouter and a16z, 100T-token study, 2025-12"},
    "cn_open_share_2024_12": {"value": 0.012, "range": (0.0, 0.04),
                              "source": "OpenRouter and a16z 100T-token study (secondary)"},
    "cn_open_share_2025_mean": {"value": 0.13, "range": (0.08, 0.20),
                                "source": "OpenRouter and a16z 100T-token study (secondary)"},
    "cn_passes_us_open": {"value": "2025-07", "range": ("2025-04", "2025-10"),
                          "source": "Longpre et al. 2025 (arXiv 2512.03073); ATOM report"},
}


def usage_shares(frame: pd.DataFrame, developers: dict[str, float], exclude: tuple[str, ...] = ("CN",),
                 metric: str = "share_vendor") -> pd.DataFrame:
    """Shares of *usage* as the targets measure them: shares among adopting developers in every
    nation except ``exclude`` (default China), weighted by developers.

    Why: the targets are shares of tokens on OpenRouter and of Hugging Face downloads, i.e.
    among users who build on some model, and those platforms are used mostly outside China
    (Chinese developers reach models through domestic platforms). So the model quantity that
    maps to a target share is ``Σ_n dev[n]·share[n,k] / Σ_n dev[n]·adoption[n]`` over
    nations n ≠ CN, where ``share[n,k]`` is the nation's ``metric`` (a share of all its
    developers) for key k. Usage is taken proportional to developers (no per-developer token
    weighting). Returns columns ``replicate, date, key, value``.
    """
    nat = frame[(frame["scope"] == "nation") & ~frame["scope_id"].astype(str).isin(exclude)]
    w = nat["scope_id"].astype(str).map(developers).astype(float)
    nat = nat.assign(w=w.to_numpy() * nat["value"].to_numpy())
    num = nat[nat["metric"] == metric].groupby(["replicate", "date", "key"], observed=True)["w"].sum()
    den = nat[nat["metric"] == "adoption"].groupby(["replicate", "date"], observed=True)["w"].sum()
    out = (num / den.reindex(num.index.droplevel("key")).to_numpy()).rename("value").reset_index()
    out["key"] = out["key"].astype(str)
    return out


def target_metrics(frame: pd.DataFrame, scenario) -> pd.DataFrame:
    """The model's value of each baseline target, one row per replicate (see :data:`TARGETS`).

    * ``open_weight_share_2025_11`` — open-weight share of usage (:func:`usage_shares` of
      ``share_license``, key ``open``) in 2025-11;
    * ``cn_open_share_2024_12`` / ``cn_open_share_2025_mean`` — usage share of open models of
      Chinese origin in 2024-12 / averaged over 2025-01..2025-12;
    * ``cn_passes_us_open`` — first month in which Chinese open models' usage share exceeds US
      open models' (Hugging Face downloads are also mostly outside China); NaT if never.

    ``scenario`` is the :class:`~adoptsim.core.schema.Scenario` of the run (its developers and
    vendors' origins and licences).
    """
    devs = {n.id: n.developers for n in scenario.nations}
    cn_open = [v.id for v in scenario.vendors if v.origin == "CN" and v.license == "open"]
    us_open = [v.id for v in scenario.vendors if v.origin == "US" and v.license == "open"]
    lic = usage_shares(frame, devs, metric="share_license")
    ven = usage_shares(frame, devs)
    opened = lic[lic["key"] == "open"].set_index(["replicate", "date"])["value"]
    cn = ven[ven["key"].isin(cn_open)].groupby(["replicate", "date"])["value"].sum()
    us = ven[ven["key"].isin(us_open)].groupby(["replicate", "date"])["value"].sum().reindex(cn.index, fill_value=0.0)
    rows = []
    for r in sorted(frame["replicate"].unique()):
        d = cn.loc[r].index
        c, u, o = cn.loc[r], us.loc[r], opened.loc[r]
        ahead = d[(c > u).to_numpy() & (d >= pd.Timestamp("2024-06-01"))]
        rows.append({
            "replicate": int(r),
            "open_weight_share_2025_11": float(o.get(pd.Timestamp("2025-11-01"), float("nan"))),
            "cn_open_share_2024_12": float(c.get(pd.Timestamp("2024-12-01"), float("nan"))),
            "cn_open_share_2025_mean": float(c[(d >= "2025-01-01") & (d <= "2025-12-01")].mean()),
            "cn_passes_us_open": ahead.min() if len(ahead) else pd.NaT,
        })
    return pd.DataFrame(rows)


def target_check(metrics: pd.DataFrame) -> pd.DataFrame:
    """Median across replicates of each target metric against its band: columns
    ``target, median, low, high, inside``."""
    out = []
    for name, t in TARGETS.items():
        lo, hi = t["range"]
        col = metrics[name]
        if name == "cn_passes_us_open":
            med = col.dropna().sort_values().iloc[len(col.dropna()) // 2] if col.notna().any() else pd.NaT
            lo_t, hi_t = pd.Timestamp(lo + "-01"), pd.Timestamp(hi + "-01")
            inside = bool(pd.notna(med) and lo_t <= med <= hi_t and col.notna().sum() * 2 > len(col))
            med = med.strftime("%Y-%m") if pd.notna(med) else "never"
        else:
            med = float(col.median())
            inside = bool(lo <= med <= hi)
        out.append({"target": name, "median": med, "low": lo, "high": hi, "inside": inside})
    return pd.DataFrame(out)
