"""Metrics (docs/model.md, docs/outputs.md) per world, region and nation, as one tidy table.

The model's ``DataCollector`` holds, per month, developers per nation and model (column 0 =
non-adopters), the same for critical sectors, and the vendors' state. :func:`tidy` turns them
into the long table ``replicate, step, date, scope, scope_id, metric, key, value``.

Shares are shares of *all* developers in the scope, weighted by developers, so in every scope
and month ``adoption = Σ share_vendor = Σ share_license = Σ share_origin`` and
``1 − adoption`` are the non-adopters:

* ``adoption`` — share of developers whose community uses some model;
* ``share_vendor`` (key vendor), ``share_license`` (key ``open``/``closed``, by the licence the
  vendor has that month), ``share_origin`` (key origin nation);
* ``influence`` (key origin) — number of nations of the scope where that origin's models are
  used by more than half of the adopting developers;
* ``critical_dependency`` — share of developers in critical sectors (government, health by
  default) that use a model of a foreign origin;
* ``hhi`` — Herfindahl–Hirschman index of vendor shares among adopters (0 with no adopter);
* ``share_host`` (key hosting origin, or ``self``) — share of developers by who serves their
  model: a closed model its vendor's cloud, an open one the best host present or the
  developers' own hardware (:mod:`adoptsim.core.market`); Σ share_host = adoption;
* world only, key product: ``price`` (USD / M tokens; a flagship is keyed by its vendor id,
  other products ``vendor.product``);
* world only, key vendor: ``capability``, ``derivatives``,
  ``revenue`` (USD / month), ``compute`` (usable compute stock, grown by the origin's chip supply),
  ``efficiency`` (effective compute = compute × efficiency);
* world only, ``view_share`` (key ``VIEW/ORIGIN/LICENCE``, e.g. ``openrouter/CN/open``) — share
  of a view's usage among users of some model, by the product's origin and licence that month:
  the views (``openrouter``, ``huggingface``, ``enterprise``) weight each nation and sector's
  adopters by the sector's platform mix (and, for token views, its tokens per developer) and
  leave out the nations of :data:`VIEW_OUTSIDE` (China); Σ over a view's keys = 1 (0 without
  adopters). docs/model.md, "Views";
* world only, key ``""``: ``open_lag_months`` — months by which the best released open-weight
  model trails the best released closed one (capability gap / the closed frontier's mean monthly
  growth over the last 12 months; NaN in the first month or when undefined).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..months import month_dates

COLUMNS = ["replicate", "step", "date", "scope", "scope_id", "metric", "key", "value"]
SCOPE_METRICS = ("adoption", "share_vendor", "share_license", "share_origin", "influence",
                 "critical_dependency", "hhi", "share_host")
VENDOR_METRICS = ("capability", "price", "derivatives", "revenue", "compute", "efficiency")
PRODUCT_METRICS = ("price",)  # keyed by product (a flagship by its vendor id, others "vendor.product")
WORLD_METRICS = ("open_lag_months",)  # world scope, key ""
VIEW_METRICS = ("view_share",)  # world scope, key "VIEW/ORIGIN/LICENCE"
METRICS = SCOPE_METRICS + VENDOR_METRICS + WORLD_METRICS + VIEW_METRICS

#: Per view: its unit ("tokens": weighted by the sectors' tokens per developer; "downloads":
#: by developers) and the nations it does not see. OpenRouter's and Hugging Face's users are
#: mostly outside China (Chinese developers use domestic platforms and clouds; facts.md,
#: "Usage by population"), and the enterprise source (Menlo Ventures) surveys enterprises
#: outside China [assumed].
VIEW_UNITS = {"openrouter": "tokens", "huggingface": "downloads", "enterprise": "tokens"}
VIEW_OUTSIDE = {"openrouter": ("CN",), "huggingface": ("CN",), "enterprise": ("CN",)}


def _scopes(index) -> tuple[list[str], list[str], np.ndarray]:
    """Scope kinds, ids and the (n_scopes, N) aggregation matrix: world, regions, nations."""
    N = len(index.nations)
    R = len(index.regions)
    agg = np.zeros((1 + R + N, N))
    agg[0] = 1.0
    agg[1 + index.nation_region, np.arange(N)] = 1.0
    agg[1 + R + np.arange(N), np.arange(N)] = 1.0
    kinds = ["world"] + ["region"] * R + ["nation"] * N
    ids = ["world"] + list(index.regions) + list(index.nations)
    return kinds, ids, agg


def _block(values: np.ndarray, scope_rows: np.ndarray, metric: str, keys: list[str]) -> dict:
    """values: (T, n_scopes_in_block, K) -> arrays for the tidy frame (labels as integer codes
    into short lists)."""
    T, Sb, K = values.shape
    return {
        "step": np.repeat(np.arange(1, T + 1), Sb * K),
        "scope_row": np.tile(np.repeat(scope_rows, K), T),
        "value": values.reshape(-1),
        "metric_name": metric,
        "keys": list(keys),
        "key_code": np.tile(np.arange(K), T * Sb),
    }


def host_origins(sc) -> list[str]:
    """Hosting origins reported by ``share_host`` (besides ``self``): nations that are a vendor's
    origin, appear in any nation's ``infrastructure`` table or build clouds
    (``infrastructure_buildout``), in nation order."""
    ids = {v.origin for v in sc.vendors}
    ids |= {o for n in sc.nations for o, x in n.infrastructure.items() if x > 0}
    ids |= {p.issuer for p in sc.policies if p.type == "infrastructure_buildout"}
    return [n.id for n in sc.nations if n.id in ids]


def host_keys(model) -> list[int]:
    """Positions of :func:`host_origins` among the nations."""
    return sorted(model.index.nation_pos[i] for i in host_origins(model.spec))


def compute_blocks(model, metrics: tuple[str, ...] | None = None) -> list[dict]:
    """The metric arrays of one finished run: all, or only ``metrics`` (the others are not
    computed)."""
    want = (lambda m: True) if metrics is None else (lambda m: m in metrics)  # noqa: E731
    idx = model.index
    mv = model.datacollector.model_vars
    devs_p = np.stack(mv["developers"])  # (T, N, P+1): products
    vend = mv["vendors"]
    is_open = np.stack([s["open"] for s in vend])  # (T, P) licence of each product
    T, N, _ = devs_p.shape
    to_vendor = model.market.to_vendor  # (P, V)
    devs = np.concatenate([devs_p[:, :, :1], devs_p[:, :, 1:] @ to_vendor], axis=2)  # (T, N, V+1)
    kinds, ids, agg = _scopes(idx)
    all_rows = np.arange(len(ids))
    scope_devs = np.einsum("sn,tnv->tsv", agg, devs)  # (T, S, V+1)
    total = scope_devs.sum(axis=2, keepdims=True)
    total = np.where(total > 0, total, 1.0)
    shares = scope_devs[:, :, 1:] / total  # (T, S, V)
    blocks = []
    if want("adoption"):
        blocks.append(_block(1.0 - scope_devs[:, :, :1] / total, all_rows, "adoption", [""]))
    if want("share_vendor"):
        blocks.append(_block(shares, all_rows, "share_vendor", list(idx.vendors)))
    if want("share_license"):
        shares_p = np.einsum("sn,tnp->tsp", agg, devs_p[:, :, 1:]) / total  # (T, S, P)
        lic = np.stack([(shares_p * is_open[:, None, :]).sum(2), (shares_p * ~is_open[:, None, :]).sum(2)], axis=2)
        blocks.append(_block(lic, all_rows, "share_license", ["open", "closed"]))
    origins = sorted(set(idx.vendor_origin.tolist()))
    origin_onehot = (idx.vendor_origin[:, None] == np.array(origins)[None, :]).astype(np.float64)  # (V, O)
    okeys = [idx.nations[o] for o in origins]
    if want("share_origin"):
        blocks.append(_block(shares @ origin_onehot, all_rows, "share_origin", okeys))
    if want("share_host"):
        hk = host_keys(model)
        hosts = np.stack(mv["hosts"])  # (T, N, N+1): hosting origins, then self
        scope_hosts = np.einsum("sn,tnh->tsh", agg, hosts[:, :, hk + [N]]) / total
        blocks.append(_block(scope_hosts, all_rows, "share_host", [idx.nations[h] for h in hk] + ["self"]))
    if want("influence"):  # nations where an origin holds a majority of adopters
        nat_origin = devs[:, :, 1:] @ origin_onehot  # (T, N, O)
        adopters = nat_origin.sum(axis=2, keepdims=True)
        majority = (nat_origin > 0.5 * adopters) & (adopters > 0)
        blocks.append(_block(np.einsum("sn,tno->tso", agg, majority.astype(np.float64)), all_rows, "influence",
                             okeys))
    if want("critical_dependency"):  # critical developers on a foreign origin
        crit_p = np.stack(mv["critical"])
        crit = np.concatenate([crit_p[:, :, :1], crit_p[:, :, 1:] @ to_vendor], axis=2)
        foreign = (idx.vendor_origin[None, :] != np.arange(N)[:, None]).astype(np.float64)  # (N, V)
        crit_foreign = (crit[:, :, 1:] * foreign[None]).sum(axis=2)  # (T, N)
        crit_total = crit.sum(axis=2)
        num = crit_foreign @ agg.T
        den = crit_total @ agg.T
        dep = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        blocks.append(_block(dep[:, :, None], all_rows, "critical_dependency", [""]))
    if want("hhi"):
        ad = scope_devs[:, :, 1:].sum(axis=2, keepdims=True)
        hhi = np.divide(scope_devs[:, :, 1:], ad, out=np.zeros_like(scope_devs[:, :, 1:]), where=ad > 0)
        blocks.append(_block((hhi ** 2).sum(axis=2, keepdims=True), all_rows, "hhi", [""]))
    for m in VENDOR_METRICS:
        if want(m):
            arr = np.stack([s[m] for s in vend]).astype(np.float64)[:, None, :]  # (T, 1, V) or (T, 1, P)
            keys = list(model.market.table.ids) if m in PRODUCT_METRICS else list(idx.vendors)
            blocks.append(_block(arr, np.array([0]), m, keys))
    if want("open_lag_months"):
        lag = np.array([s["open_lag"] for s in vend], dtype=np.float64)[:, None, None]  # (T, 1, 1)
        blocks.append(_block(lag, np.array([0]), "open_lag_months", [""]))
    if want("view_share") and "sectors" in mv:
        blocks.append(view_block(model, np.stack(mv["sectors"]), is_open))
    for b in blocks:
        b["scope_kinds"], b["scope_ids"] = kinds, ids
    return blocks


def view_keys(sc) -> list[str]:
    """Keys of ``view_share``: ``VIEW/ORIGIN/LICENCE`` for every view, vendor origin and licence."""
    from .schema import VIEWS

    origins = sorted({v.origin for v in sc.vendors})
    return [f"{w}/{o}/{lic}" for w in VIEWS for o in origins for lic in ("open", "closed")]


def view_weights(sc, index) -> np.ndarray:
    """(N, S, W) weight of one adopting developer of nation n and sector s in view w:
    ``platforms[s][w] · (tokens[s] if the view counts tokens) · [n not outside the view]``."""
    from .schema import VIEWS

    secs = [sc.sectors[name] for name in index.sectors]
    w = np.zeros((len(index.nations), len(secs), len(VIEWS)))
    for k, view in enumerate(VIEWS):
        per_sector = np.array([getattr(s.platforms, view) * (s.tokens if VIEW_UNITS[view] == "tokens" else 1.0)
                               for s in secs])
        seen = np.array([n not in VIEW_OUTSIDE[view] for n in index.nations], dtype=np.float64)
        w[:, :, k] = seen[:, None] * per_sector[None, :]
    return w


def view_block(model, groups: np.ndarray, is_open: np.ndarray) -> dict:
    """``view_share`` of one run: ``groups`` (T, N, S, P+1) developers per nation, sector and
    product (column 0 = non-adopters), ``is_open`` (T, P) the products' licences.

        view_share[w, o, l] = Σ_{n,s,p: o(p)=o, lic(p)=l} x[n,s,p]·W[n,s,w] / Σ_{n,s,p} x[n,s,p]·W[n,s,w]
    """
    idx = model.index
    W = view_weights(model.spec, idx)  # (N, S, Wv)
    seen = np.einsum("tnsp,nsw->twp", groups[:, :, :, 1:], W)  # (T, Wv, P)
    p_origin = np.array([idx.nations[o] for o in idx.vendor_origin[model.market.to_vendor.argmax(axis=1)]])
    origins = sorted({v.origin for v in model.spec.vendors})  # the order of view_keys
    onehot = (p_origin[:, None] == np.array(origins)[None, :]).astype(np.float64)  # (P, O)
    opened = is_open[:, None, :, None] * onehot[None, None]  # (T, 1, P, O)
    by_open = np.einsum("twp,txpo->two", seen, opened)
    by_closed = np.einsum("twp,po->two", seen, onehot) - by_open
    vals = np.stack([by_open, by_closed], axis=3)  # (T, Wv, O, 2)
    den = vals.sum(axis=(2, 3), keepdims=True)
    vals = np.divide(vals, den, out=np.zeros_like(vals), where=den > 0)
    T = vals.shape[0]
    keys = view_keys(model.spec)
    return _block(vals.reshape(T, 1, -1), np.array([0]), "view_share", keys)


def _categorical(parts: list[tuple[np.ndarray, list[str]]], categories: list[str] | None = None) -> pd.Categorical:
    """``pd.Categorical`` of the labels ``labels[codes]`` of every part, concatenated, built from
    integer codes (much faster than from strings). Without ``categories``, the categories are the
    sorted labels that occur, exactly as ``pd.Categorical(strings)`` would infer them."""
    if categories is None:
        # the labels that occur: a bincount of the codes (cheaper than np.unique's hashing)
        used = {labels[i] for codes, labels in parts
                for i in np.flatnonzero(np.bincount(codes, minlength=len(labels)))}
        categories = sorted(used)
        dtype = pd.Categorical(np.array(categories, dtype=object)).dtype
    else:
        dtype = pd.CategoricalDtype(categories=categories)
    pos = {c: i for i, c in enumerate(categories)}
    small = np.int8 if len(categories) < 127 else np.int16 if len(categories) < 32767 else np.int64
    codes = [np.array([pos.get(label, -1) for label in labels], dtype=small)[c] for c, labels in parts]
    return pd.Categorical.from_codes(np.concatenate(codes) if codes else np.zeros(0, small), dtype=dtype)


def tidy_columns(model, metrics: tuple[str, ...] | None = None) -> dict:
    """The columns of the tidy table of one finished run as arrays (no pandas): ``step``,
    ``date``, ``value``, and for each label column (``scope``, ``scope_id``, ``metric``,
    ``key``) a list of (codes, labels) parts, one per metric block. :func:`tidy` makes the
    frame of them; a sweep writes its shards straight from them."""
    return _columns(model, compute_blocks(model, metrics))


def _columns(model, blocks: list[dict]) -> dict:
    cat = lambda k: np.concatenate([b[k] for b in blocks]) if blocks else np.zeros(0, np.int64)  # noqa: E731
    step = cat("step")
    dates = month_dates(model.month0, model.spec.meta.months)
    return {
        "step": step.astype(np.int32),
        "date": dates[step - 1],
        "scope": [(b["scope_row"], b["scope_kinds"]) for b in blocks],
        "scope_id": [(b["scope_row"], b["scope_ids"]) for b in blocks],
        "metric": [(np.zeros(b["value"].size, np.int64), [b["metric_name"]]) for b in blocks],
        "key": [(b["key_code"], b["keys"]) for b in blocks],
        "value": cat("value").astype(np.float64),
    }


def label_codes(parts: list[tuple[np.ndarray, list[str]]]) -> tuple[np.ndarray, list[str]]:
    """One (codes, labels) of a label column's parts: labels in first-seen order."""
    pos: dict[str, int] = {}
    out = []
    for codes, part_labels in parts:
        remap = np.array([pos.setdefault(x, len(pos)) for x in part_labels], dtype=np.int64)
        out.append(remap[codes])
    labels = list(pos)
    return (np.concatenate(out) if out else np.zeros(0, np.int64)), labels


@dataclass(eq=False)
class TidyLayout:
    """Every column of one run's tidy table but ``replicate`` and ``value``: ``step`` (int32),
    ``date`` (datetime64[ms]) and the label columns (``scope``, ``scope_id``, ``metric``,
    ``key``) as categoricals. Runs of scenarios with the same nations, vendors, products, months
    and metrics share one layout: an ensemble's table is the layout repeated with each run's
    values (:func:`tidy_arrays`)."""

    step: np.ndarray
    date: np.ndarray
    labels: dict[str, pd.Categorical]

    def same(self, other: "TidyLayout") -> bool:
        """Whether ``other`` is the same layout (same rows, labels and categories)."""
        if other is self:
            return True
        return (np.array_equal(self.step, other.step) and np.array_equal(self.date, other.date)
                and all(self.labels[c].dtype == other.labels[c].dtype
                        and np.array_equal(self.labels[c].codes, other.labels[c].codes) for c in self.labels))

    def frame(self, value: np.ndarray, replicate: int = 0) -> pd.DataFrame:
        """The tidy table of one run with these rows and ``value``."""
        df = pd.DataFrame({"replicate": np.full(self.step.size, replicate, dtype=np.int32), "step": self.step,
                           "date": self.date, **self.labels, "value": value})
        return df[COLUMNS]


def _layout(columns: dict) -> TidyLayout:
    return TidyLayout(columns["step"], columns["date"], {
        "scope": _categorical(columns["scope"], ["world", "region", "nation"]),
        "scope_id": _categorical(columns["scope_id"]),
        "metric": _categorical(columns["metric"], list(METRICS)),
        "key": _categorical(columns["key"]),
    })


#: The last layout made in this process and its signature (what the rows depend on: the
#: months and each metric block's name, keys, scopes and size): runs of one scenario (or of an
#: ensemble's members) reuse it instead of building ~10^5 rows of labels again.
_LAST_LAYOUT: list = [None, None]


def tidy_arrays(model, metrics: tuple[str, ...] | None = None) -> tuple[np.ndarray, TidyLayout]:
    """One finished run's tidy table as ``(value, layout)``: the value column (float64) and its
    :class:`TidyLayout` (reused from the previous run when the rows are the same). Cheaper
    than :func:`tidy` and cheap to send between processes."""
    blocks = compute_blocks(model, metrics)
    value = np.concatenate([b["value"] for b in blocks]).astype(np.float64) if blocks else np.zeros(0)
    sig = (model.month0, model.spec.meta.months,
           tuple(blocks[0]["scope_kinds"]) if blocks else (), tuple(blocks[0]["scope_ids"]) if blocks else (),
           tuple((b["metric_name"], tuple(b["keys"]), b["scope_row"].tobytes(), b["value"].size) for b in blocks))
    if _LAST_LAYOUT[0] != sig:
        _LAST_LAYOUT[:] = [sig, _layout(_columns(model, blocks))]
    return value, _LAST_LAYOUT[1]


def tidy(model, replicate: int = 0, metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The tidy table of one finished run (optionally only some metrics, the only ones computed)."""
    c = tidy_columns(model, metrics)
    return _layout(c).frame(c["value"], replicate)


def scope_ids(scenario, level: str) -> list[str]:
    """The ids a scope level has in a scenario's tables: ``["world"]``, its regions or its nations."""
    if level == "world":
        return ["world"]
    if level == "region":
        return sorted({n.region for n in scenario.nations})
    return [n.id for n in scenario.nations]


def metric_scopes(metric: str) -> tuple[str, ...]:
    """The scope levels a metric is reported at (vendor and world metrics: world only)."""
    return ("world", "region", "nation") if metric in SCOPE_METRICS else ("world",)


def metric_keys(scenario, metric: str) -> list[str]:
    """The keys a metric has in a scenario's tables (``[""]`` for a metric without keys)."""
    if metric in PRODUCT_METRICS:
        from .market import ProductTable

        return list(ProductTable.build(scenario).ids)
    if metric in VENDOR_METRICS or metric == "share_vendor":
        return [v.id for v in scenario.vendors]
    if metric in ("share_origin", "influence"):
        return sorted({v.origin for v in scenario.vendors})
    if metric == "share_license":
        return ["closed", "open"]
    if metric == "share_host":
        return host_origins(scenario) + ["self"]
    if metric == "view_share":
        return view_keys(scenario)
    return [""]
