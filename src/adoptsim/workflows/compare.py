"""``adoptsim compare`` and ``adoptsim plot RESULTS --against BASE``: results folders against
the first (docs/experiments.md).

Both forms go through one path: :func:`adoptsim.analysis.compare.check_comparable` (same start
month, horizon and requested scope, else refuse), :func:`adoptsim.analysis.compare.compare_results`
(run-paired differences only when the runs share seed and (member, replicate) ids, unpaired
otherwise; ensemble runs must share their draws, else refuse; robust effects per plausible
world), :func:`adoptsim.analysis.compare.headline` (the sentence each form prints) and
:func:`adoptsim.viz.compare_figures.compare_figure`.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.compare import check_comparable, compare_results, headline, result_labels
from ..core import SCOPES
from ..errors import AdoptsimError
from ..io.atomic import publish_dir
from ..io.manifest import build_manifest, write_manifest
from ..io.run_folder import Results, load_results
from ..io.tables import FORMATS, write_table
from ..viz.compare_figures import compare_figure
from ..viz.style import is_share, slug
from .checks import check_metric, known_scope_ids

PAIRING = ("paired: run (member k, replicate r) minus reference run (k, r) (same manifest seed and run ids; "
           "ensemble runs: same posterior and draws); unpaired: every replicate minus every reference replicate "
           "(difference of independent draws)")
EFFECTS = ("effect in one plausible world = a member's mean paired difference over its replicates; median, q10, "
           "q90 across members; p_positive = share of members (each weighing 1/K after resampling by weight) whose "
           "effect is > 0; with one member (no ensemble) over replicates instead")


def headlines(cmp, metric: str, scope: str, scope_id: str, key: str | None = None) -> list[dict]:
    """One headline per compared results (:func:`adoptsim.analysis.compare.headline`), its
    ``text`` prefixed with what is compared: ``push vs base: share_origin [CN], world, 2030-12: ...``."""
    out = []
    for lab, unit in cmp.units.items():
        h = headline(cmp.effects, lab, unit, is_share(metric), key)
        ref = str(cmp.effects.loc[cmp.effects["results"] == lab, "reference"].iloc[0])
        what = metric + (f" [{h['key']}]" if h["key"] else "")
        h["text"] = f"{lab} vs {ref}: {what}, {where_label(scope, scope_id)}, {h['date']}: {h['text']}"
        out.append({"results": lab, "reference": ref, **h})
    return out


def merged_policies(loaded: list[Results]) -> list[dict]:
    """The policies of every results, each once, in order of first appearance."""
    policies: list[dict] = []
    for r in loaded:
        policies += [p for p in r.manifest.get("policies", []) if p not in policies]
    return policies


def merged_labels(loaded: list[Results]) -> dict:
    """The display names (nations, vendors, products) recorded by every results, the first wins."""
    out: dict[str, dict] = {}
    for r in reversed(loaded):
        for kind, names in (r.manifest.get("labels") or {}).items():
            out.setdefault(kind, {}).update(names)
    return out


def where_label(scope: str, scope_id: str) -> str:
    return "world" if scope == "world" else f"{scope} {scope_id}"


def compare_pair(base_dir: str | Path, alt_dir: str | Path, metric: str = "share_origin", by: str = "world",
                 scope_id: str = "world", fmt: str = "png", out: str | Path | None = None,
                 report: list | None = None) -> Path:
    """The two-folder form: one figure of ``alt_dir`` against ``base_dir`` written to ``out``, or
    by default into ``ALT/plots/compare_<base>_<metric>[_<scope id>].<fmt>``. Returns its path;
    the headline effect (:func:`headlines`) is appended to ``report`` when given."""
    check_metric(metric)
    paths = [Path(base_dir), Path(alt_dir)]
    loaded = [load_results(p) for p in paths]
    for res in loaded:
        known = known_scope_ids(res.frame, by)
        if scope_id not in known:
            raise AdoptsimError(f"--scope: no {by} {scope_id!r} in {res.path}; known: {', '.join(sorted(known))}")
    items = [(lab, r.frame, r.manifest) for lab, r in zip(result_labels(paths), loaded)]
    check_comparable(items, by, scope_id)
    try:
        cmp = compare_results(items, metric, by, scope_id)
    except ValueError as exc:
        raise AdoptsimError(f"compare: {exc}") from None
    if report is not None:
        report += headlines(cmp, metric, by, scope_id)
    name = slug(f"compare_{paths[0].name}_{metric}" + ("" if by == "world" else f"_{scope_id}"))
    path = Path(out) if out is not None else paths[1] / "plots" / f"{name}.{fmt}"
    return compare_figure(cmp.curves, cmp.differences, path, metric, where_label(by, scope_id),
                          merged_policies(loaded), final=cmp.final, units=cmp.units, labels=merged_labels(loaded))


def check_compare_options(folders: list, metric: str, scope: str, scope_id: str | None, fmt: str) -> str:
    """The options of the several-folder form; returns the scope id (``world`` for the world)."""
    check_metric(metric)
    if scope not in SCOPES:
        raise AdoptsimError(f"--level: expected world, region or nation, got {scope!r}")
    if fmt not in FORMATS:
        raise AdoptsimError(f"--format: expected parquet or csv for the tables, got {fmt!r}")
    if len(folders) < 2:
        raise AdoptsimError("compare: give at least two results folders (the first is the reference)")
    scope_id = "world" if scope == "world" else scope_id
    if scope_id is None:
        raise AdoptsimError(f"--scope: name the {scope} to compare with --level {scope} --scope ID")
    return scope_id


def load_compared(paths: list[Path], metric: str, scope: str, scope_id: str, key: str | None) -> list[Results]:
    """Load results folders, each of which must have the metric at the scope (and the key)."""
    loaded = [load_results(p) for p in paths]
    for res in loaded:
        sel = res.frame[(res.frame["scope"] == scope) & (res.frame["metric"] == metric)]
        known = sorted(map(str, sel["scope_id"].unique()))
        if scope_id not in known:
            raise AdoptsimError(f"--scope: no {scope} {scope_id!r} with metric {metric!r} in {res.path}; "
                                f"known: {', '.join(known) or '(none)'}")
        if key is not None:
            keys = sorted(map(str, sel.loc[sel["scope_id"] == scope_id, "key"].unique()))
            if key not in keys:
                raise AdoptsimError(f"--key: no key {key!r} for {metric!r} in {res.path}; known: {', '.join(keys)}")
    return loaded


def compare_manifest(labels: list[str], paths: list[Path], loaded: list[Results], diffs, metric: str, scope: str,
                     scope_id: str, key: str | None, units: dict | None = None,
                     heads: list[dict] | None = None) -> dict:
    """The ``manifest.json`` of a compare folder: the results compared and how each was paired."""
    pairing = {lab: bool(diffs.loc[diffs["results"] == lab, "paired"].iloc[0]) if (diffs["results"] == lab).any()
               else None for lab in labels[1:]}
    results = [{"label": lab, "path": str(p), "scenario": r.manifest.get("scenario"), "seed": r.manifest.get("seed"),
                "replicates": r.manifest.get("replicates"), "members": r.manifest.get("members", 1),
                "ensemble": (r.manifest.get("ensemble") or {}).get("file"),
                "ensemble_sha256": (r.manifest.get("ensemble") or {}).get("sha256"),
                "scenario_hash": r.manifest.get("scenario_hash"),
                "paired_with_reference": pairing.get(lab), "effect_unit": (units or {}).get(lab)}
               for lab, p, r in zip(labels, paths, loaded)]
    return build_manifest("compare", reference=labels[0], metric=metric, scope=scope, scope_id=scope_id, key=key,
                          results=results, pairing=PAIRING, effects=EFFECTS, headlines=heads or [])


def compare_folders(folders: list[str | Path], out: str | Path, metric: str = "share_origin", scope: str = "world",
                    scope_id: str | None = None, key: str | None = None, fmt: str = "parquet",
                    figure_format: str = "png", paired: bool | None = None, report: list | None = None) -> Path:
    """``adoptsim compare RESULTS... --out DIR``: load results folders (the first is the
    reference), write ``compare.<fmt>``, ``differences.<fmt>``, ``effects.<fmt>``,
    ``compare.<figure_format>`` and ``manifest.json`` into ``out`` (atomically: the folder appears
    only when complete). Returns ``out``; the headline effects are appended to ``report``."""
    scope_id = check_compare_options(folders, metric, scope, scope_id, fmt)
    paths = [Path(f) for f in folders]
    loaded = load_compared(paths, metric, scope, scope_id, key)
    labels = result_labels(paths)
    items = [(lab, r.frame, r.manifest) for lab, r in zip(labels, loaded)]
    check_comparable(items, scope, scope_id)
    try:
        cmp = compare_results(items, metric, scope, scope_id, key, paired)
    except ValueError as exc:
        raise AdoptsimError(f"compare: {exc}") from None
    curves, diffs = cmp.curves, cmp.differences
    heads = headlines(cmp, metric, scope, scope_id, key)
    if report is not None:
        report += heads
    meta = compare_manifest(labels, paths, loaded, diffs, metric, scope, scope_id, key, cmp.units, heads)
    policies = merged_policies(loaded)

    where = {"metric": metric, "scope": scope, "scope_id": scope_id}  # every table says what it holds
    curves, diffs = curves.assign(**where), diffs.assign(**where)
    effs = cmp.effects.assign(**where)
    effs = effs[["results", "reference", "metric", "scope", "scope_id", "key", "date", "median", "q10", "q90",
                 "p_positive", "n"]]
    curves = curves[["results", "metric", "scope", "scope_id", *[c for c in curves if c not in ("results", *where)]]]
    diffs = diffs[["results", "reference", "metric", "scope", "scope_id",
                   *[c for c in diffs if c not in ("results", "reference", *where)]]]

    def build(tmp: Path) -> None:
        write_table(curves, tmp / "compare", fmt)
        write_table(diffs, tmp / "differences", fmt)
        write_table(effs, tmp / "effects", fmt)
        compare_figure(curves, diffs, tmp / f"compare.{figure_format}", metric, where_label(scope, scope_id),
                       policies, final=cmp.final, units=cmp.units, labels=merged_labels(loaded))
        write_manifest(tmp, meta)

    return publish_dir(build, Path(out))
