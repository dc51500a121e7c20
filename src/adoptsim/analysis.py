"""Analysis of results: ensemble bands across replicates, usage shares and the baseline's
target check, comparisons of results folders (:func:`compare_results`, :func:`run_compare`:
paired differences under common random numbers) and target-seeking (:func:`load_target`,
:func:`find_target`, :func:`run_target`). Scenario discovery (PRIM) is in
:mod:`adoptsim.discovery`; sensitivity and calibration in their own modules."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .months import YearMonth


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


# ---- usage shares and the empirical targets of the baseline -------------------------------

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

    ``scenario`` is the :class:`~adoptsim.scenario.Scenario` of the run (its developers and
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


# ---- comparisons of results folders (adoptsim compare) -----------------------------------

def select_values(frame: pd.DataFrame, metric: str, scope: str = "world", scope_id: str = "world",
                  key: str | None = None) -> pd.DataFrame:
    """One metric's per-replicate values in one scope: columns ``replicate, date, key, value``
    (plain dtypes, sorted)."""
    sel = frame[(frame["metric"] == metric) & (frame["scope"] == scope) & (frame["scope_id"] == scope_id)]
    out = pd.DataFrame({"replicate": sel["replicate"].to_numpy(dtype=np.int64),
                        "date": pd.to_datetime(sel["date"]).to_numpy(dtype="datetime64[ns]"),
                        "key": sel["key"].astype(str).to_numpy(dtype=object),
                        "value": sel["value"].to_numpy(dtype=float)})
    if key is not None:
        out = out[out["key"] == key]
    return out.sort_values(["key", "date", "replicate"], kind="stable").reset_index(drop=True)


def quantile_table(values: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``n, mean, q10, q50, q90`` of ``value`` per group (linear-interpolated quantiles)."""
    g = values.groupby(by, sort=True)["value"]
    out = g.agg(n="count", mean="mean")
    q = g.quantile([0.1, 0.5, 0.9]).unstack(-1)
    q.columns = ["q10", "q50", "q90"]
    out = out.join(q).reset_index()
    out["n"] = out["n"].astype(np.int64)
    return out


def shares_seeds(manifest_a: dict, reps_a, manifest_b: dict, reps_b) -> bool:
    """True when two results share random numbers replicate by replicate: the same manifest
    seed and the same set of replicate ids (then replicate r of both used the same seed)."""
    sa, sb = manifest_a.get("seed"), manifest_b.get("seed")
    return sa is not None and sa == sb and set(map(int, reps_a)) == set(map(int, reps_b))


def _fill_missing_keys(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shares of a key (vendor, origin) absent from one run are 0 there; other metrics compare
    only the keys both have."""
    ka, kb = set(a["key"]), set(b["key"])
    if not metric.startswith("share_") or ka == kb:
        keep = ka & kb
        return a[a["key"].isin(keep)], b[b["key"].isin(keep)]

    def add(f: pd.DataFrame, missing: set[str]) -> pd.DataFrame:
        if not missing:
            return f
        grid = f[["replicate", "date"]].drop_duplicates()
        extra = pd.concat([grid.assign(key=k, value=0.0) for k in sorted(missing)], ignore_index=True)
        return pd.concat([f, extra[f.columns]], ignore_index=True)

    return add(a, kb - ka), add(b, ka - kb)


def difference(ref: pd.DataFrame, other: pd.DataFrame, paired: bool) -> pd.DataFrame:
    """Distribution of ``other − ref`` per date and key from two :func:`select_values` tables.

    * ``paired``: replicate r minus replicate r (common random numbers: both runs drew the same
      random numbers where their rules agree, so the difference is the change's effect);
    * unpaired: every replicate of ``other`` minus every replicate of ``ref`` (all
      n_other·n_ref differences), which is the distribution of the difference of two
      independent draws — deterministic, no random pairing.

    Returns ``date, key, n, mean, q10, q50, q90`` (``n`` the number of differences).
    """
    if paired:
        m = other.merge(ref, on=["replicate", "date", "key"], suffixes=("", "_ref"))
    else:
        m = other.merge(ref.drop(columns="replicate"), on=["date", "key"], suffixes=("", "_ref"))
    m = m.assign(value=m["value"] - m["value_ref"])
    return quantile_table(m[["date", "key", "value"]], ["date", "key"])


def compare_results(items: list[tuple[str, pd.DataFrame, dict]], metric: str, scope: str = "world",
                    scope_id: str = "world", key: str | None = None,
                    paired: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Curves and differences of several results (``(label, timeseries, manifest)``; the first is
    the reference).

    Returns ``(curves, differences)``: ``curves`` has ``results, date, key, n, mean, q10, q50,
    q90`` across replicates; ``differences`` has ``results, reference, date, key, paired, n,
    mean, q10, q50, q90`` of each other results minus the reference. ``paired=None`` pairs by
    replicate exactly when :func:`shares_seeds` says the runs share seeds; ``True``/``False``
    force it (``True`` raises ValueError when they do not share seeds)."""
    if len(items) < 1:
        raise ValueError("compare_results needs at least one results")
    vals = [(label, select_values(frame, metric, scope, scope_id, key), man) for label, frame, man in items]
    curves = pd.concat([quantile_table(v, ["date", "key"]).assign(results=label) for label, v, _ in vals],
                       ignore_index=True)
    ref_label, ref, ref_man = vals[0]
    diffs = []
    for label, v, man in vals[1:]:
        share = shares_seeds(ref_man, ref["replicate"].unique(), man, v["replicate"].unique())
        if paired and not share:
            raise ValueError(f"{label} and {ref_label} do not share seeds (manifest seed and replicate ids); "
                             "a paired difference needs common random numbers")
        use = share if paired is None else paired
        a, b = _fill_missing_keys(ref, v, metric)
        diffs.append(difference(a, b, use).assign(results=label, reference=ref_label, paired=bool(use)))
    cols = ["results", "reference", "date", "key", "paired", "n", "mean", "q10", "q50", "q90"]
    differences = (pd.concat(diffs, ignore_index=True)[cols] if diffs
                   else pd.DataFrame({c: pd.Series(dtype=object) for c in cols}))
    curves = curves[["results", "date", "key", "n", "mean", "q10", "q50", "q90"]]
    return curves, differences


def band_width(table: pd.DataFrame, since: str | None = None) -> float:
    """Mean 10–90% width (``q90 − q10``) of a quantile table, over dates from ``since``
    (``YYYY-MM``) on."""
    t = table if since is None else table[pd.to_datetime(table["date"]) >= pd.Timestamp(since + "-01")]
    return float((t["q90"] - t["q10"]).mean())


def _labels(paths: list[Path]) -> list[str]:
    """Folder names, or the paths as given where two folders share a name."""
    names = [p.name for p in paths]
    out = [str(p) if names.count(p.name) > 1 else p.name for p in paths]
    return [lab if out.count(lab) == 1 else f"{lab} [{i + 1}]" for i, lab in enumerate(out)]


def _analysis_manifest(kind: str, **fields) -> dict:
    import sys
    from datetime import datetime, timezone

    from .results import versions

    return {"kind": kind, **fields, "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "versions": versions()}


def run_compare(folders: list[str | Path], out: str | Path, metric: str = "share_origin", scope: str = "world",
                scope_id: str | None = None, key: str | None = None, fmt: str = "parquet",
                figure_format: str = "png", paired: bool | None = None) -> Path:
    """``adoptsim compare RESULTS... --out DIR``: load results folders (the first is the
    reference), write ``compare.<fmt>`` and ``differences.<fmt>`` (:func:`compare_results`),
    ``compare.<figure_format>`` and ``manifest.json`` into ``out`` (atomically: the folder
    appears only when complete). Returns ``out``."""
    from .errors import AdoptsimError
    from .metrics import METRICS
    from .plotting import compare_figure
    from .results import FORMATS, atomic_write_text, load_results, publish_dir, write_table

    if metric not in METRICS:
        raise AdoptsimError(f"--metric: unknown metric {metric!r}; expected one of: {', '.join(METRICS)}")
    if scope not in ("world", "region", "nation"):
        raise AdoptsimError(f"--scope: expected world, region or nation, got {scope!r}")
    if fmt not in FORMATS:
        raise AdoptsimError(f"--format: expected parquet or csv for the tables, got {fmt!r}")
    if len(folders) < 2:
        raise AdoptsimError("compare: give at least two results folders (the first is the reference)")
    scope_id = "world" if scope == "world" else scope_id
    if scope_id is None:
        raise AdoptsimError(f"--scope-id: name the {scope} to compare with --scope {scope}")
    paths = [Path(f) for f in folders]
    loaded = [load_results(p) for p in paths]
    for res in loaded:
        sel = res.frame[(res.frame["scope"] == scope) & (res.frame["metric"] == metric)]
        known = sorted(map(str, sel["scope_id"].unique()))
        if scope_id not in known:
            raise AdoptsimError(f"--scope-id: no {scope} {scope_id!r} with metric {metric!r} in {res.path}; "
                                f"known: {', '.join(known) or '(none)'}")
        if key is not None:
            keys = sorted(map(str, sel.loc[sel["scope_id"] == scope_id, "key"].unique()))
            if key not in keys:
                raise AdoptsimError(f"--key: no key {key!r} for {metric!r} in {res.path}; known: {', '.join(keys)}")
    labels = _labels(paths)
    try:
        curves, diffs = compare_results([(lab, r.frame, r.manifest) for lab, r in zip(labels, loaded)],
                                        metric, scope, scope_id, key, paired)
    except ValueError as exc:
        raise AdoptsimError(f"compare: {exc}") from None
    pairing = {lab: bool(diffs.loc[diffs["results"] == lab, "paired"].iloc[0]) if (diffs["results"] == lab).any()
               else None for lab in labels[1:]}
    policies = []
    for r in loaded:
        policies += [p for p in r.manifest.get("policies", []) if p not in policies]
    meta = _analysis_manifest(
        "compare", reference=labels[0], metric=metric, scope=scope, scope_id=scope_id, key=key,
        results=[{"label": lab, "path": str(p), "scenario": r.manifest.get("scenario"), "seed": r.manifest.get("seed"),
                  "replicates": r.manifest.get("replicates"), "scenario_hash": r.manifest.get("scenario_hash"),
                  "paired_with_reference": pairing.get(lab)} for lab, p, r in zip(labels, paths, loaded)],
        pairing="paired: replicate r minus reference replicate r (same manifest seed and replicate ids); "
                "unpaired: every replicate minus every reference replicate (difference of independent draws)")
    where = "world" if scope == "world" else f"{scope} {scope_id}"

    def build(tmp: Path) -> None:
        write_table(curves, tmp / "compare", fmt)
        write_table(diffs, tmp / "differences", fmt)
        compare_figure(curves, diffs, tmp / f"compare.{figure_format}", metric, where, policies)
        atomic_write_text(tmp / "manifest.json", json.dumps(meta, indent=2, default=str) + "\n")

    return publish_dir(build, Path(out))


# ---- target-seeking (adoptsim target) ------------------------------------------------------
#
# An experiment file with one ``[[factors]]`` entry that has a ``range`` and a ``[target]``
# table (its ``[design]`` table, if any, is not used):
#
#     scenario = "scenarios/open_push.toml"
#     replicates = 8
#     seed = 2027
#     [[factors]]
#     path = "policies.us_open_push_2026.subsidy"
#     range = [0.0, 0.9]
#     [target]
#     metric = "share_license"      # any metric
#     scope = "world"               # world | region | nation (default world)
#     scope_id = "Latin America"    # region or nation id (not for world)
#     key = "open"                  # the metric's key, if it has keys
#     date = "2028-12"              # YYYY-MM: the month the threshold must be reached by
#     threshold = 0.5
#     direction = "above"           # above: mean >= threshold; below: mean <= threshold
#     tolerance = 0.01              # stop when the bracket is this narrow (default range/100)
#     max_iterations = 20           # bisection steps at most (after the two ends)


class TargetSpec(BaseModel):
    """The ``[target]`` table of a target experiment."""

    model_config = ConfigDict(extra="forbid", strict=True)
    metric: str
    scope: Literal["world", "region", "nation"] = "world"
    scope_id: str | None = None
    key: str = ""
    date: YearMonth
    threshold: float
    direction: Literal["above", "below"] = "above"
    tolerance: Annotated[float, Field(gt=0)] | None = None
    max_iterations: Annotated[int, Field(ge=1, le=200)] = 20

    @field_validator("threshold")
    @classmethod
    def _finite(cls, v):
        if not np.isfinite(v):
            raise ValueError(f"expected a finite number, got {v}")
        return v


@dataclass
class TargetProblem:
    experiment: object  # adoptsim.sweep.Experiment with metrics = [metric], dates = [date], no points
    target: TargetSpec
    factor: str
    low: float
    high: float
    integer: bool


def load_target(path: str | Path) -> TargetProblem:
    """Load a target experiment file: the experiment part is checked as for sweeps (scenario,
    seed, replicates, the factor's path and range), plus the ``[target]`` table; one
    InputError lists every problem."""
    from pydantic import ValidationError

    from .errors import InputError, Problem
    from .metrics import METRICS
    from .months import format_month, parse_month
    from .scenario import _message, indexed_problems, load_raw, parse_scenario, read_toml
    from .sweep import Experiment, ExperimentSpec, _nearest, apply_point, current_value, valid_paths

    path = Path(path)
    file = str(path)
    data = dict(read_toml(path, file))
    raw_target = data.pop("target", None)
    problems: list[Problem] = []
    if raw_target is None:
        problems.append(Problem(file, "target", "missing [target] table (metric, date, threshold, ...)"))
    target = None
    if isinstance(raw_target, dict):
        try:
            target = TargetSpec.model_validate(raw_target)
        except ValidationError as exc:
            for err in exc.errors():
                label = "target." + ".".join(str(p) for p in err["loc"])
                problems.append(Problem(file, label, _message(err, list(TargetSpec.model_fields))))
    elif raw_target is not None:
        problems.append(Problem(file, "target", "expected a table [target]"))
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(problems + indexed_problems(exc, file, ExperimentSpec)) from None
    if len(spec.factors) != 1 or spec.factors[0].range is None:
        problems.append(Problem(file, "factors", "a target experiment needs exactly one [[factors]] entry, "
                                f"with a range = [lo, hi] (got {len(spec.factors)} factor(s))"))
    scen_path = path.parent / spec.scenario
    if not scen_path.exists():
        raise InputError(problems + [Problem(file, "scenario", f"file not found: {spec.scenario!r} "
                                                              f"(looked for {scen_path})")])
    raw = load_raw(scen_path)
    base = parse_scenario(raw, str(scen_path))
    locators = valid_paths(base)
    integer = False
    if not problems:
        f = spec.factors[0]
        if f.path not in locators:
            problems.append(Problem(file, "factors[0].path", f"no scenario field {f.path!r}"
                                    + _nearest(f.path, sorted(locators))))
        else:
            cur = current_value(base, locators[f.path])
            if isinstance(cur, bool) or isinstance(cur, str):
                problems.append(Problem(file, "factors[0].path", f"{f.path} is not numeric"))
            integer = isinstance(cur, int) and not isinstance(cur, bool)
            for value in f.range:
                v = int(round(value)) if integer else float(value)
                try:
                    parse_scenario(apply_point(raw, locators, {f.path: v}), file)
                except InputError as exc:
                    problems += [Problem(file, "factors[0].range", f"{f.path} = {v!r}: {p.message}")
                                 for p in exc.problems]
    if target is not None:
        if target.metric not in METRICS:
            problems.append(Problem(file, "target.metric", f"unknown metric {target.metric!r}; expected one of: "
                                    f"{', '.join(METRICS)}"))
        month = parse_month(target.date)
        if not base.start_month <= month <= base.end_month:
            problems.append(Problem(file, "target.date", f"{target.date} is outside the scenario's horizon "
                                    f"{format_month(base.start_month)}..{format_month(base.end_month)}"))
        known = {"world": ["world"], "region": sorted({n.region for n in base.nations}),
                 "nation": sorted(n.id for n in base.nations)}[target.scope]
        if target.scope == "world":
            if target.scope_id not in (None, "world"):
                problems.append(Problem(file, "target.scope_id", "not used with scope = 'world'"))
        elif target.scope_id is None:
            problems.append(Problem(file, "target.scope_id", f"name the {target.scope} (one of: {', '.join(known)})"))
        elif target.scope_id not in known:
            problems.append(Problem(file, "target.scope_id", f"no {target.scope} {target.scope_id!r}; "
                                    f"known: {', '.join(known)}"))
    if problems:
        raise InputError(problems)
    f = spec.factors[0]
    lo, hi = (int(math.ceil(f.range[0])), int(math.floor(f.range[1]))) if integer else tuple(map(float, f.range))
    spec = spec.model_copy(update={"metrics": [target.metric], "dates": [target.date]})
    exp = Experiment(file=file, spec=spec, scenario_file=scen_path, raw=raw, base=base, locators=locators,
                     points=[], text=path.read_text(encoding="utf-8"))
    return TargetProblem(exp, target, f.path, lo, hi, integer)


def _reached(mean: float, t: TargetSpec) -> bool:
    return mean >= t.threshold if t.direction == "above" else mean <= t.threshold


def find_target(problem: TargetProblem, work: Path, workers: int | None = None, scheduler: str | None = None,
                progress=None) -> dict:
    """Bisection for the smallest factor value whose mean outcome (over replicates, common
    random numbers: replicate r of every candidate uses the same seed) reaches the threshold.

    The two ends of the range are evaluated first (one sweep, run in parallel); if the bottom
    already reaches the threshold the status is ``reached_at_low`` (``value`` = bottom), else if
    the top does not reach it ``not_reached`` (``value`` None). Otherwise the bracket
    [low, high] (low: not reached, high: reached) is halved until ``high − low`` is at most the
    tolerance (integer factors: 1) or ``max_iterations`` bisections are made; ``value`` is
    ``high``. Each candidate's runs go through :func:`adoptsim.sweep.run_sweep` into
    ``work/NN`` (``workers``/``scheduler`` as for sweeps). A non-monotone set of evaluations
    (a lower value reached, a higher not) is reported in ``warnings``."""
    import dataclasses

    from .errors import AdoptsimError
    from .sweep import run_sweep

    t, exp = problem.target, problem.experiment
    sid = "world" if t.scope == "world" else t.scope_id
    evals: dict[float, dict] = {}
    order: list[float] = []

    def evaluate(values: list) -> None:
        values = [v for v in values if v not in evals]
        if not values:
            return
        k = len(list(work.iterdir())) if work.exists() else 0
        work.mkdir(parents=True, exist_ok=True)
        sub = dataclasses.replace(exp, points=[{problem.factor: v} for v in values])
        rep = run_sweep(sub, work / f"{k:02d}", workers=workers, scheduler=scheduler, progress=False,
                        command=f"adoptsim target {exp.file}")
        if rep.failed:
            raise AdoptsimError(f"{exp.file}: {rep.failed} run(s) failed while evaluating {problem.factor} = "
                                f"{values}: {'; '.join(rep.errors[:3])}")
        ep = pd.read_parquet(work / f"{k:02d}" / "endpoints.parquet")
        sel = ep[(ep["metric"] == t.metric) & (ep["scope"] == t.scope) & (ep["scope_id"] == sid)
                 & (pd.to_datetime(ep["date"]) == pd.Timestamp(t.date + "-01"))]
        if not (sel["key"] == t.key).any():
            keys = sorted(set(sel["key"]))
            raise AdoptsimError(f"{exp.file}: target.key: no key {t.key!r} for {t.metric!r}; known: "
                                f"{', '.join(repr(x) for x in keys)}")
        sel = sel[sel["key"] == t.key]
        for i, v in enumerate(values):
            reps = sel[sel["point"] == i].sort_values("replicate")["value"].to_numpy(dtype=float)
            mean = float(reps.mean())
            evals[v] = {"value": v, "mean": mean, "reached": _reached(mean, t), "values": reps.tolist()}
            order.append(v)
        if progress:
            progress(len(order))

    lo, hi = problem.low, problem.high
    evaluate([lo, hi])
    tol = (1 if problem.integer else (t.tolerance if t.tolerance is not None else (hi - lo) / 100))
    iterations = 0
    if evals[lo]["reached"]:
        status, value, hi = "reached_at_low", lo, lo
        message = (f"the threshold is already reached at the bottom of the range: mean {evals[lo]['mean']:.4g} at "
                   f"{problem.factor} = {lo:g}")
    elif not evals[hi]["reached"]:
        status, value = "not_reached", None
        message = (f"the threshold is not reached at the top of the range: mean {evals[hi]['mean']:.4g} at "
                   f"{problem.factor} = {hi:g} ({'<' if t.direction == 'above' else '>'} {t.threshold:g})")
    else:
        while hi - lo > tol and iterations < t.max_iterations:
            mid = (lo + hi) // 2 if problem.integer else (lo + hi) / 2
            if mid in (lo, hi):
                break
            evaluate([mid])
            iterations += 1
            if evals[mid]["reached"]:
                hi = mid
            else:
                lo = mid
        status, value = "found", hi
        message = (f"smallest {problem.factor} reaching the threshold: {hi:g} (bracket {lo:g}..{hi:g}, "
                   f"mean {evals[hi]['mean']:.4g} at {hi:g}, {evals[lo]['mean']:.4g} at {lo:g})")
    warnings = []
    xs = sorted(evals)
    hit = [evals[x]["reached"] for x in xs]
    if any(a and not b for a, b in zip(hit, hit[1:])):
        warnings.append("evaluations are not monotone in the factor (a lower value reaches the threshold "
                        "and a higher one does not): the bisection assumed monotonicity")
    return {"status": status, "value": value, "low": lo, "high": hi, "message": message,
            "iterations": iterations, "tolerance": tol, "warnings": warnings,
            "evaluations": [evals[v] for v in order]}


def run_target(path: str | Path, out: str | Path, workers: int | None = None, scheduler: str | None = None,
               fmt: str = "parquet", progress=None) -> dict:
    """``adoptsim target EXPERIMENT --out DIR``: :func:`load_target` and :func:`find_target`;
    writes ``target.json``, ``evaluations.<fmt>`` (factor value, replicate, value, with the
    mean), ``target.png``, ``manifest.json`` and the candidates' sweep folders
    (``evaluations/NN``) into ``out``, atomically. Returns the content of ``target.json``."""
    from .errors import AdoptsimError
    from .plotting import target_figure
    from .results import FORMATS, atomic_write_text, publish_dir, write_table

    if fmt not in FORMATS:
        raise AdoptsimError(f"--format: expected parquet or csv, got {fmt!r}")
    problem = load_target(path)
    t, exp = problem.target, problem.experiment
    result: dict = {}

    def build(tmp: Path) -> None:
        res = find_target(problem, tmp / "evaluations", workers, scheduler, progress)
        result.update({
            "value": res["value"], "low": res["low"], "high": res["high"], "status": res["status"],
            "message": res["message"], "factor": problem.factor, "range": [problem.low, problem.high],
            "target": t.model_dump(), "replicates": exp.spec.replicates, "seed": exp.spec.seed,
            "iterations": res["iterations"], "tolerance": res["tolerance"], "warnings": res["warnings"],
            "evaluations": res["evaluations"]})
        rows = [{"factor_value": e["value"], "replicate": r, "value": v, "mean": e["mean"], "reached": e["reached"],
                 "order": i} for i, e in enumerate(res["evaluations"]) for r, v in enumerate(e["values"])]
        write_table(pd.DataFrame(rows), tmp / "evaluations", fmt)
        atomic_write_text(tmp / "target.json", json.dumps(result, indent=2) + "\n")
        where = "world" if t.scope == "world" else f"{t.scope} {t.scope_id}"
        target_figure(result, tmp / "target.png",
                      f"{exp.name}: {t.metric}{f'[{t.key}]' if t.key else ''}, {where}, {t.date}")
        meta = _analysis_manifest("target", experiment=exp.name, experiment_file=exp.file,
                                  scenario_file=str(exp.scenario_file), scenario_hash=exp.base.digest(),
                                  seed=exp.spec.seed, replicates=exp.spec.replicates, factor=problem.factor,
                                  status=res["status"], value=res["value"])
        atomic_write_text(tmp / "manifest.json", json.dumps(meta, indent=2) + "\n")

    publish_dir(build, Path(out))
    return result
