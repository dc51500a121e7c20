"""Command line: argument parsing and dispatch only.

Exit codes: 0 success, 2 bad input (every message names the file and field), 1 internal error,
3 a sweep finished but some of its runs failed (recorded in runs.parquet), 130 interrupted. No command prints a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from pathlib import Path

from . import __version__
from .errors import AdoptsimError, InputError


def _bundled_roots() -> list[Path]:
    """Folders that hold the bundled scenarios/ and experiments/ (installed wheel or checkout)."""
    here = Path(__file__).resolve().parent
    return [p for p in (here / "bundled", here.parent.parent) if (p / "scenarios").is_dir()]


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="month", disable=not sys.stderr.isatty(), leave=False)


# ---- commands ----------------------------------------------------------------------------

def cmd_run(args) -> int:
    from .model import simulate
    from .plotting import draw_run_plots
    from .results import manifest, prepare_out_dir, publish_dir, write_run
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if args.replicates < 1:
        raise AdoptsimError(f"--replicates: expected a whole number >= 1, got {args.replicates}")
    if args.seed is not None and args.seed < 0:
        raise AdoptsimError(f"--seed: expected a whole number >= 0, got {args.seed}")
    seed = scenario.meta.seed if args.seed is None else args.seed
    out = prepare_out_dir(args.out, Path("results") / Path(args.scenario).stem, args.overwrite)
    t0 = time.perf_counter()
    with _progress(scenario.meta.months * args.replicates, scenario.meta.name) as bar:
        frame = simulate(scenario, seed=seed, replicates=args.replicates, progress=bar.update)
    meta = manifest(scenario, args.scenario, seed, args.replicates, args.format, time.perf_counter() - t0)

    def build(tmp: Path) -> None:
        write_run(tmp, frame, scenario, meta, args.format)
        if not args.no_plots:
            draw_run_plots(frame, meta, tmp / "plots")

    publish_dir(build, out)
    print(f"{scenario.meta.name}: {args.replicates} replicate(s) x {scenario.meta.months} months "
          f"in {meta['elapsed_seconds']:.2f} s -> {out}")
    return 0


def _file_kind(raw: dict) -> str:
    """What an input TOML file is: scenario, experiment, target (experiment with [target]),
    calibration (spec) or targets (a calibration target file)."""
    if "scenario" in raw and "parameters" in raw:
        return "calibration"
    if "scenario" in raw and ("factors" in raw or "design" in raw or "replicates" in raw):
        return "target" if "target" in raw else "experiment"
    if isinstance(raw.get("targets"), list) and not {"nations", "vendors", "extends"} & set(raw):
        return "targets"
    return "scenario"


def cmd_validate(args) -> int:
    from .scenario import load_raw, parse_scenario, read_toml

    bad = 0
    for f in args.files:
        try:
            kind = _file_kind(read_toml(Path(f), f))
            if kind == "target":
                from .analysis import load_target

                load_target(f)
            elif kind == "experiment":
                from .sweep import load_experiment

                load_experiment(f)
            elif kind == "calibration":
                from .calibration import load_spec

                load_spec(f)
            elif kind == "targets":
                from .calibration import load_targets

                load_targets(f)
            else:
                parse_scenario(load_raw(f), f)
            print(f"{f}: OK")
        except AdoptsimError as exc:
            bad += 1
            print(str(exc))
    return 2 if bad else 0


def cmd_sweep(args) -> int:
    from .sweep import load_experiment, run_sweep

    exp = load_experiment(args.experiment)
    if args.workers is not None and args.scheduler:
        raise AdoptsimError("--workers and --scheduler: give one or the other")
    out = args.out
    if out is None:  # results/<experiment>, or -2, -3... unless resuming the default folder
        from .results import prepare_out_dir

        default = Path("results") / Path(args.experiment).stem
        out = default if args.resume else prepare_out_dir(None, default, False)
    try:
        rep = run_sweep(exp, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume)
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are stored in {out}; continue with --out {out} --resume",
              file=sys.stderr)
        return 130
    for line in rep.errors[:10]:
        print(f"failed: {line}", file=sys.stderr)
    if len(rep.errors) > 10:
        print(f"failed: ... and {len(rep.errors) - 10} more (see {rep.out / 'runs.parquet'})", file=sys.stderr)
    print(f"{exp.name}: {len(exp.points)} point(s) x {exp.spec.replicates} replicate(s): {rep.ok} ok, "
          f"{rep.failed} failed, {rep.skipped} already stored; {rep.executor}, {rep.elapsed:.1f} s -> {rep.out}")
    return rep.exit_code


def cmd_plot(args) -> int:
    from .plotting import adoption_figure, metric_figure
    from .results import load_results
    from .metrics import METRICS
    from .sweep import is_sweep_folder

    if is_sweep_folder(args.results):
        from .plotting import draw_sweep_plots

        for p in draw_sweep_plots(args.results, metric=args.metric, by=args.by, scope=args.scope, key=args.key,
                                  date=getattr(args, "date", None)):
            print(p)
        return 0
    res = load_results(args.results)
    folder = Path(args.results) / "plots"
    if args.against is not None:
        return _compare(args.against, args.results, args.metric or "share_origin", args.by,
                        (args.scope or ["world"])[0] if args.by != "world" else "world", args.format, None)
    if args.figure is not None or args.date is not None or args.format != "png":
        from .plotting import FIGURES, draw_figure

        names = FIGURES if args.figure in (None, "all") else (args.figure,)
        if args.date is not None:
            _check_month(args.date, res.frame, args.results)
            names = names if args.figure is not None else ("heatmap",)
        paths = [draw_figure(n, res.frame, res.manifest, folder, args.format, args.date) for n in names]
    elif args.metric is None:
        paths = [adoption_figure(res.frame, res.manifest, folder / "adoption.png")]
    else:
        if args.metric not in METRICS:
            raise AdoptsimError(f"--metric: unknown metric {args.metric!r}; expected one of: {', '.join(METRICS)}")
        known = set(map(str, res.frame.loc[res.frame["scope"] == args.by, "scope_id"].unique()))
        for s in args.scope or []:
            if s not in known:
                raise AdoptsimError(f"--scope: no {args.by} {s!r} in {args.results}; "
                                    f"known: {', '.join(sorted(known))}")
        name = f"{args.metric}_{args.by}" + ("_" + "_".join(args.scope) if args.scope else "")
        paths = [metric_figure(res.frame, res.manifest, folder / f"{name}.png", args.metric, args.by, args.scope)]
    for p in paths:
        print(p)
    return 0


def cmd_validation_report(args) -> int:
    from .validation import write_report

    print(write_report(args.out))
    return 0


def _check_month(date: str, frame, where) -> None:
    import pandas as pd

    from .months import parse_month

    try:
        parse_month(date)
    except ValueError as exc:
        raise AdoptsimError(f"--date: {exc}") from None
    dates = pd.to_datetime(frame["date"])
    if pd.Timestamp(date + "-01") not in set(dates):
        raise AdoptsimError(f"--date: no month {date} in {where} ({dates.min():%Y-%m}..{dates.max():%Y-%m})")


def _compare(base_dir, alt_dir, metric: str, by: str, scope_id: str, fmt: str, out) -> int:
    from .metrics import METRICS
    from .plotting import comparison_figure
    from .results import load_results

    if metric not in METRICS:
        raise AdoptsimError(f"--metric: unknown metric {metric!r}; expected one of: {', '.join(METRICS)}")
    base, alt = load_results(base_dir), load_results(alt_dir)
    for res in (base, alt):
        known = set(map(str, res.frame.loc[res.frame["scope"] == by, "scope_id"].unique()))
        if scope_id not in known:
            raise AdoptsimError(f"--scope: no {by} {scope_id!r} in {res.path}; known: {', '.join(sorted(known))}")
    name = f"compare_{Path(base_dir).name}_{metric}" + ("" if by == "world" else f"_{scope_id}")
    path = Path(out) if out is not None else Path(alt_dir) / "plots" / f"{name}.{fmt}"
    print(comparison_figure(base.frame, base.manifest, alt.frame, alt.manifest, path, metric, by, scope_id))
    return 0


FIGURE_FORMATS = ("png", "svg", "pdf")
SCOPES = ("world", "region", "nation")


def cmd_compare(args) -> int:
    if args.by is not None:  # the two-folder form: --by LEVEL --scope ID
        level, sid = args.by, args.scope_id or args.scope
    elif args.scope is None or args.scope in SCOPES:
        level, sid = args.scope or "world", args.scope_id
    else:
        raise AdoptsimError(f"--scope: expected world, region or nation, got {args.scope!r} "
                            "(name the region or nation with --scope-id)")
    if level == "world":
        sid = "world"
    elif sid is None:
        raise AdoptsimError(f"--scope-id: name the {level} to compare")
    image_out = args.out is not None and args.out.suffix.lower().lstrip(".") in FIGURE_FORMATS
    if (len(args.results) == 2 and (args.out is None or image_out) and args.key is None
            and args.format in FIGURE_FORMATS):  # as before: one figure into SCENARIO/plots/
        return _compare(args.results[0], args.results[1], args.metric, level, sid, args.format, args.out)
    if image_out:
        raise AdoptsimError(f"--out: with {len(args.results)} results folders --out is a folder, got {args.out}")
    from .analysis import run_compare
    from .results import prepare_out_dir

    out = prepare_out_dir(args.out, Path("results") / "compare", args.overwrite)
    table_fmt = args.format if args.format in ("parquet", "csv") else "parquet"
    fig_fmt = args.format if args.format in FIGURE_FORMATS else "png"
    print(run_compare(args.results, out, args.metric, level, sid, args.key, table_fmt, fig_fmt))
    return 0


def _interrupted(out) -> int:
    print(f"interrupted: finished runs are stored in {out}; continue with --out {out} --resume", file=sys.stderr)
    return 130


def cmd_sensitivity(args) -> int:
    from .sensitivity import run_sensitivity
    from .sweep import load_experiment

    exp = load_experiment(args.experiment)
    if args.workers is not None and args.scheduler:
        raise AdoptsimError("--workers and --scheduler: give one or the other")
    try:
        rep = run_sensitivity(exp, args.out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                              by=args.by, fmt=args.format, metric=args.metric, key=args.key)
    except KeyboardInterrupt:
        return _interrupted(args.out)
    for line in rep.sweep.errors[:10]:
        print(f"failed: {line}", file=sys.stderr)
    what = "Sobol' indices" if rep.method == "sobol" else "OAT tornado"
    print(f"{exp.name}: {what} over {len(exp.factor_paths)} factor(s), {rep.sweep.runs} run(s) "
          f"({rep.sweep.ok} ok, {rep.sweep.failed} failed, {rep.sweep.skipped} already stored) -> {rep.out}")
    return rep.exit_code


def cmd_calibrate(args) -> int:
    from .calibration import run_calibration

    if args.workers is not None and args.scheduler:
        raise AdoptsimError("--workers and --scheduler: give one or the other")
    try:
        rep = run_calibration(args.spec, args.out, workers=args.workers, scheduler=args.scheduler,
                              resume=args.resume, scenario_out=args.scenario_out, fmt=args.format)
    except KeyboardInterrupt:
        return _interrupted(args.out)
    print(rep.summary())
    return 0


def cmd_discover(args) -> int:
    from .discovery import run_discovery
    from .results import prepare_out_dir

    out = prepare_out_dir(args.out, Path(args.sweep) / "discovery", args.overwrite)
    s = run_discovery(args.sweep, out, args.metric, args.scope, args.scope_id, args.key, args.date, args.above,
                      args.below, args.alpha, args.min_mass, args.min_density, args.format)
    box = "; ".join(f"{k} in {v[0]:.4g}..{v[1]:.4g}" if isinstance(v[0], float) else f"{k} in {{{', '.join(v)}}}"
                    for k, v in s["box"].items()) or "no factor restricted"
    print(f"{s['condition']}: {s['hits']} of {s['cases']} runs; chosen box (step {s['chosen_step']}, "
          f"{s['chosen_because']}): {box}; coverage {s['coverage']:.0%}, density {s['density']:.0%}, "
          f"mass {s['mass']:.0%} -> {out}")
    return 0


def cmd_target(args) -> int:
    from .analysis import run_target
    from .results import prepare_out_dir

    if args.workers is not None and args.scheduler:
        raise AdoptsimError("--workers and --scheduler: give one or the other")
    out = prepare_out_dir(args.out, Path("results") / Path(args.experiment).stem, args.overwrite)
    res = run_target(args.experiment, out, args.workers, args.scheduler, args.format)
    for w in res["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{res['status']}: {res['message']} -> {out}")
    return 0


def cmd_list(args) -> int:
    roots = _bundled_roots()
    if not roots:
        print("no bundled scenarios found")
        return 0
    root = roots[0]
    for kind in ("scenarios", "experiments"):
        files = sorted((root / kind).rglob("*.toml"))
        print(f"{kind} ({root / kind}):")
        if not files:
            print("  (none)")
        for f in files:
            try:
                raw = tomllib.loads(f.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                raw = {}
            desc = raw.get("description") or raw.get("meta", {}).get("description", "")
            first = desc.strip().splitlines()[0] if desc.strip() else ""
            print(f"  {str(f.relative_to(root / kind)):<40} {first}")
    return 0


# ---- parser ------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adoptsim", description="Agent-based simulator of AI model adoption.")
    p.add_argument("--version", action="version", version=f"adoptsim {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run a scenario and write a results folder")
    r.add_argument("scenario", help="scenario TOML file")
    r.add_argument("--seed", type=int, default=None, help="random seed (default: [meta] seed)")
    r.add_argument("--replicates", type=int, default=10, help="replicates (default 10)")
    r.add_argument("--out", type=Path, default=None, help="results folder (default results/<scenario>)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    r.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="table format")
    r.add_argument("--no-plots", action="store_true", help="do not draw figures")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check scenario and experiment files")
    v.add_argument("files", nargs="+", help="TOML files")
    v.set_defaults(func=cmd_validate)

    pl = sub.add_parser("plot", help="redraw figures from a results folder")
    pl.add_argument("results", help="results folder")
    pl.add_argument("--metric", default=None, help="metric to draw (default: the adoption figure)")
    pl.add_argument("--by", choices=["world", "region", "nation"], default="world", help="scope level")
    pl.add_argument("--scope", nargs="+", default=None, help="only these region or nation ids")
    pl.add_argument("--key", default=None, help="sweep folders: the metric's key (vendor, licence, origin)")
    pl.add_argument("--figure", choices=["adoption", "regions", "vendors", "heatmap", "dependency", "all"],
                    default=None, help="one of the standard figures (default: adoption; 'all' draws every one)")
    pl.add_argument("--date", default=None, help="month YYYY-MM of the nation x origin heat map (default: last)")
    pl.add_argument("--format", choices=["png", "svg", "pdf"], default="png", help="figure format (default png)")
    pl.add_argument("--against", default=None, metavar="BASELINE",
                    help="compare with another results folder (same as 'compare BASELINE RESULTS')")
    pl.set_defaults(func=cmd_plot)

    cp = sub.add_parser("compare", help="compare results folders: curves, paired differences, figure")
    cp.add_argument("results", nargs="+", metavar="RESULTS",
                    help="results folders; the first is the reference (baseline)")
    cp.add_argument("--metric", default="share_origin", help="metric (default share_origin)")
    cp.add_argument("--scope", default=None,
                    help="scope level world|region|nation (default world); with --by: the region or nation id")
    cp.add_argument("--scope-id", default=None, help="region or nation id (with --scope region|nation)")
    cp.add_argument("--key", default=None, help="only this key (vendor, licence, origin)")
    cp.add_argument("--by", choices=list(SCOPES), default=None, help="two-folder form: scope level (id in --scope)")
    cp.add_argument("--format", choices=["parquet", "csv", *FIGURE_FORMATS], default="png",
                    help="table format parquet|csv, or figure format png|svg|pdf (default parquet tables, png figure)")
    cp.add_argument("--out", type=Path, default=None,
                    help="output folder (default results/compare); two folders and no --out: one figure "
                         "into SCENARIO/plots/ as before (or --out FILE.png)")
    cp.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    cp.set_defaults(func=cmd_compare)

    dc = sub.add_parser("discover", help="scenario discovery (PRIM): factor ranges where a condition holds")
    dc.add_argument("sweep", help="sweep folder (made by 'adoptsim sweep')")
    dc.add_argument("--metric", required=True, help="metric (one the sweep kept)")
    dc.add_argument("--scope", choices=["world", "region", "nation"], default="world", help="scope level")
    dc.add_argument("--scope-id", default=None, help="region or nation id (with --scope region|nation)")
    dc.add_argument("--key", default=None, help="the metric's key (vendor, licence, origin)")
    dc.add_argument("--date", default=None, help="month YYYY-MM (default: each run's final month)")
    th = dc.add_mutually_exclusive_group(required=True)
    th.add_argument("--above", type=float, default=None, help="condition: value > X")
    th.add_argument("--below", type=float, default=None, help="condition: value < X")
    dc.add_argument("--alpha", type=float, default=0.05, help="share of the box peeled per step (default 0.05)")
    dc.add_argument("--min-mass", type=float, default=0.05, help="smallest box, share of runs (default 0.05)")
    dc.add_argument("--min-density", type=float, default=None,
                    help="choose the largest box with at least this density (default: the knee)")
    dc.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="table format")
    dc.add_argument("--out", type=Path, default=None, help="output folder (default SWEEP/discovery)")
    dc.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    dc.set_defaults(func=cmd_discover)

    tg = sub.add_parser("target", help="smallest factor value that makes a metric reach a threshold")
    tg.add_argument("experiment", help="experiment TOML file with one [[factors]] range and a [target] table")
    tg.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    tg.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on a Dask cluster")
    tg.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="table format")
    tg.add_argument("--out", type=Path, default=None, help="output folder (default results/<experiment>)")
    tg.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    tg.set_defaults(func=cmd_target)

    sw = sub.add_parser("sweep", help="run an experiment: many scenario variants and replicates")
    sw.add_argument("experiment", help="experiment TOML file")
    sw.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    sw.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run on a Dask cluster, e.g. tcp://host:8786 (needs adoptsim[dask])")
    sw.add_argument("--resume", action="store_true", help="continue a sweep in --out, skipping stored runs")
    sw.add_argument("--out", type=Path, default=None, help="sweep folder (default results/<experiment>)")
    sw.set_defaults(func=cmd_sweep)

    se = sub.add_parser("sensitivity", help="Sobol' indices or an OAT tornado of an experiment's factors")
    se.add_argument("experiment", help="experiment TOML file with [design] method = 'sobol' or 'oat'")
    se.add_argument("--out", type=Path, required=True, help="output folder")
    se.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    se.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on a Dask cluster")
    se.add_argument("--resume", action="store_true", help="continue an analysis in --out, skipping stored runs")
    se.add_argument("--by", choices=["world", "region", "nation"], default="world",
                    help="scope level of the outcomes analysed (default world)")
    se.add_argument("--metric", default=None, help="outcome drawn in the figure (default: first metric)")
    se.add_argument("--key", default=None, help="its key (vendor, licence, origin)")
    se.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="table format")
    se.set_defaults(func=cmd_sensitivity)

    ca = sub.add_parser("calibrate", help="fit a scenario's assumed parameters to observed targets (ABC)")
    ca.add_argument("spec", help="calibration spec TOML file (see calibration/baseline.toml)")
    ca.add_argument("--out", type=Path, required=True, help="output folder")
    ca.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    ca.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on a Dask cluster")
    ca.add_argument("--resume", action="store_true", help="continue a calibration in --out, skipping stored runs")
    ca.add_argument("--scenario-out", type=Path, default=None,
                    help="where to write the calibrated scenario (default OUT/calibrated.toml)")
    ca.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="table format")
    ca.set_defaults(func=cmd_calibrate)

    ls = sub.add_parser("list", help="list bundled scenarios and experiments")
    ls.set_defaults(func=cmd_list)

    vr = sub.add_parser("validation-report", help="rerun the theory checks; write figures and report")
    vr.add_argument("--out", type=Path, default=Path("docs/validation"),
                    help="folder for the figures (default docs/validation); the report is <out>.md")
    vr.set_defaults(func=cmd_validation_report)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        for prob in exc.problems:
            print(f"error: {prob}", file=sys.stderr)
        return exc.exit_code
    except AdoptsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into a reader that stopped (`| head`): no traceback,
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # exit as a SIGPIPE'd tool does
        return 141
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: one line, unless --debug
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details; please report it)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
