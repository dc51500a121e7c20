"""The commands of experiments and analyses: sweep, sensitivity, calibrate, target, compare and
discover (docs/cli.md). Each checks the kind of its input and the flags given, calls one
workflow and prints a summary (text or ``--json``)."""

from __future__ import annotations

from pathlib import Path

from ..errors import AdoptsimError
from .common import clear_out, emit, find_input, interrupted, not_applicable, print_failures, warn, waited, where
from .commands import budget, print_damaged
from .progress import make_progress, status

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def experiment_input(args, accepted: tuple[str, ...], command: str, hint: str = "") -> Path:
    from ..workflows.kinds import expect_kind

    path = find_input(args.experiment, ("experiments",))
    expect_kind(path, accepted, command, hint)
    return path


def cmd_sweep(args) -> int:
    from ..workflows.sweep import prepare_sweep, sweep

    path = experiment_input(args, ("experiment", "sensitivity-experiment"), "sweep")
    clear_out(args.out, args.overwrite, args.resume)
    caps = budget(args)
    exp, out = prepare_sweep(path, args.out, args.resume, args.workers, args.scheduler, caps)
    try:
        rep = sweep(exp, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                    progress=make_progress(args.quiet), budget=caps)
    except KeyboardInterrupt:
        return interrupted(out)
    print_damaged(rep, rep.out)
    print_failures(rep.errors, rep.out)
    secs = waited(args)
    emit(args, f"{exp.name}: {len(exp.points)} point(s) x {exp.spec.replicates} replicate(s): {rep.ok} ok, "
               f"{rep.failed} failed, {rep.skipped} already stored; {rep.executor}, {secs:.1f} s -> {rep.out}",
         {"command": "sweep", "experiment": exp.name, "points": len(exp.points), "replicates": exp.spec.replicates,
          "ok": rep.ok, "failed": rep.failed, "skipped": rep.skipped, "executor": rep.executor,
          "seconds": round(secs, 3), "out": str(rep.out)})
    return rep.exit_code


def cmd_sensitivity(args) -> int:
    from ..io.atomic import prepare_out_dir
    from ..workflows.sensitivity import prepare_sensitivity, sensitivity

    path = experiment_input(args, ("sensitivity-experiment",), "sensitivity",
                            "sensitivity needs [design] method 'sobol' or 'oat'")
    clear_out(args.out, args.overwrite, args.resume)
    caps = budget(args)
    exp = prepare_sensitivity(path, args.workers, args.scheduler, caps)
    out = args.out or prepare_out_dir(None, Path("results") / path.stem, False)
    try:
        rep = sensitivity(exp, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                          by=args.level, fmt=args.format or "parquet", metric=args.metric, key=args.key,
                          progress=make_progress(args.quiet), budget=caps)
    except KeyboardInterrupt:
        return interrupted(out)
    print_damaged(rep.sweep, rep.sweep.out)
    print_failures(rep.sweep.errors)
    what = "Sobol' indices" if rep.method == "sobol" else "OAT tornado"
    emit(args, f"{exp.name}: {what} over {len(exp.factor_paths)} factor(s), {rep.sweep.runs} run(s) "
               f"({rep.sweep.ok} ok, {rep.sweep.failed} failed, {rep.sweep.skipped} already stored) "
               f"in {waited(args):.1f} s -> {rep.out}",
         {"command": "sensitivity", "experiment": exp.name, "method": rep.method, "factors": len(exp.factor_paths),
          "runs": rep.sweep.runs, "ok": rep.sweep.ok, "failed": rep.sweep.failed, "skipped": rep.sweep.skipped,
          "seconds": round(waited(args), 3), "out": str(rep.out)})
    return rep.exit_code


def cmd_calibrate(args) -> int:
    from ..io.atomic import prepare_out_dir
    from ..workflows.calibration import calibrate
    from ..workflows.kinds import expect_kind

    spec = find_input(args.spec, ("calibration",))
    expect_kind(spec, ("calibration-spec",), "calibrate")
    clear_out(args.out, args.overwrite, args.resume)
    out = args.out or prepare_out_dir(None, Path("results") / spec.stem, False)
    try:
        rep = calibrate(spec, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                        scenario_out=args.scenario_out, fmt=args.format or "parquet",
                        progress=make_progress(args.quiet), budget=budget(args), posterior_out=args.posterior_out)
    except KeyboardInterrupt:
        return interrupted(out)
    emit(args, rep.summary(), {"command": "calibrate", "out": str(rep.out), "scenario": str(rep.scenario_path),
                               "accepted": rep.accepted, "rule": rep.rule, "distance": rep.distance,
                               "seconds": round(waited(args), 3)})
    return 0


def cmd_target(args) -> int:
    from ..io.atomic import prepare_out_dir
    from ..workflows.checks import check_executor
    from ..workflows.target import run_target

    path = experiment_input(args, ("target-experiment",), "target")
    check_executor(args.workers, args.scheduler)
    out = prepare_out_dir(args.out, Path("results") / path.stem, args.overwrite)
    bar = make_progress(args.quiet)(0, f"{path.stem}: candidates", "candidate")
    with bar:
        res = run_target(path, out, args.workers, args.scheduler, args.format or "parquet",
                         progress=lambda n: bar.update(n - bar.n))
    for w in res["warnings"]:
        warn(args, w)
    emit(args, f"{res['status']}: {res['message']} -> {out}", {"command": "target", **res, "out": str(out),
                                                                "seconds": round(waited(args), 3)})
    return 0 if res["status"] == "found" else 4


def compare_form(args) -> str:
    """``figure`` (two folders, no --out or --out FILE.png|svg|pdf) or ``folder``; flags that
    belong to the other form are errors."""
    as_file = args.out is not None and args.out.suffix.lower() in FIGURE_SUFFIXES
    if len(args.results) < 2:
        raise AdoptsimError("compare: give at least two results folders (the first is the reference)")
    if len(args.results) == 2 and (args.out is None or as_file):
        why = "to the two-folder figure; give --out DIR for tables"
        not_applicable({"--format": args.format, "--key": args.key}, why)
        if as_file:
            not_applicable({"--overwrite": args.overwrite}, "to a figure file (--out FILE is replaced)")
            if args.figure_format != "png" and args.out.suffix.lower() != "." + args.figure_format:
                raise AdoptsimError(f"--figure-format {args.figure_format}: --out {args.out} names another format")
        return "figure"
    if as_file:
        raise AdoptsimError(f"--out {args.out}: with {len(args.results)} results folders --out is a folder")
    return "folder"


def cmd_compare(args) -> int:
    from ..workflows.kinds import expect_kind

    for r in args.results:
        expect_kind(r, ("run",), "compare")
    form = compare_form(args)
    level, ids = where(args, need_id=True, many=False)
    if form == "figure":
        from ..workflows.compare import compare_pair

        heads: list = []
        path = compare_pair(args.results[0], args.results[1], args.metric, level, ids[0], args.figure_format,
                            args.out, report=heads)
        emit(args, "\n".join([*(h["text"] for h in heads), str(path)]),
             {"command": "compare", "figure": str(path), "headlines": heads, "seconds": round(waited(args), 3)})
        return 0
    from ..io.atomic import prepare_out_dir
    from ..workflows.compare import compare_folders

    out = prepare_out_dir(args.out, Path("results") / "compare", args.overwrite)
    heads = []
    out = compare_folders(args.results, out, args.metric, level, ids[0], args.key, args.format or "parquet",
                          args.figure_format, report=heads)
    emit(args, "\n".join([*(h["text"] for h in heads), str(out)]),
         {"command": "compare", "out": str(out), "headlines": heads, "seconds": round(waited(args), 3)})
    return 0


def box_text(box: dict) -> str:
    """The restricted factors of a discovery box, one ``factor in lo..hi`` (or ``{a, b}``) each."""
    return "; ".join(f"{k} in {v[0]:.4g}..{v[1]:.4g}" if isinstance(v[0], float) else f"{k} in {{{', '.join(v)}}}"
                     for k, v in box.items()) or "no factor restricted"


def cmd_discover(args) -> int:
    from ..io.atomic import prepare_out_dir
    from ..workflows.discovery import run_discovery
    from ..workflows.kinds import expect_kind

    expect_kind(args.sweep, ("sweep",), "discover")
    level, ids = where(args, need_id=True, many=False)
    out = prepare_out_dir(args.out, Path(args.sweep) / "discovery", args.overwrite)
    status(args.quiet, f"discovery over the runs of {args.sweep}")
    s = run_discovery(args.sweep, out, args.metric, level, None if level == "world" else ids[0], args.key,
                      args.date, args.above, args.below, args.alpha, args.min_mass, args.min_density,
                      args.format or "parquet")
    for w in s.get("warnings", []):
        warn(args, w)
    emit(args, f"{s['condition']}: {s['hits']} of {s['cases']} runs; chosen box (step {s['chosen_step']}, "
               f"{s['chosen_because']}): {box_text(s['box'])}; coverage {s['coverage']:.0%}, "
               f"density {s['density']:.0%}, mass {s['mass']:.0%} -> {out}",
         {"command": "discover", **s, "out": str(out), "seconds": round(waited(args), 3)})
    return 0
