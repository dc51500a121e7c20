"""The commands of one scenario and its folder: run, rerun, validate, plot, list and
validation-report. Each takes the parsed arguments, checks that its inputs are of the right kind
and that every flag given applies, calls one workflow and prints (docs/cli.md).

Heavy modules (pandas, matplotlib, the experiments) are imported inside the commands, so
``adoptsim --help`` and a typo answer at once.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from ..errors import AdoptsimError
from .common import bundled_roots, emit, find_input, not_applicable, waited, where
from .progress import make_progress, status


def budget(args):
    """The size caps of ``--max-memory`` and ``--max-runs`` (docs/cli.md, "Size caps")."""
    from ..experiments.budget import MAX_RUNS, Budget, parse_size

    if args.max_runs is not None and args.max_runs < 1:
        raise AdoptsimError(f"--max-runs: expected a whole number >= 1, got {args.max_runs}")
    return Budget(max_memory=None if args.max_memory is None else parse_size(args.max_memory),
                  max_runs=MAX_RUNS if args.max_runs is None else args.max_runs)


def print_damaged(rep, out) -> None:
    """Say that damaged run files found on resume were run again (docs/cli.md)."""
    if rep.damaged:
        print(f"note: {out}: {rep.damaged} truncated or unreadable run file(s) found and run again", file=sys.stderr)


def cmd_run(args) -> int:
    from ..workflows.kinds import expect_kind
    from ..workflows.run import run_scenario

    scenario = find_input(args.scenario, ("scenarios",))
    expect_kind(scenario, ("scenario",), "run")
    if args.workers is not None and args.scheduler:
        raise AdoptsimError("--workers and --scheduler: give one (local processes or a Dask cluster)")
    rep = run_scenario(scenario, seed=args.seed, replicates=args.replicates, out=args.out,
                       overwrite=args.overwrite, fmt=args.format or "parquet", plots=not args.no_plots,
                       progress=make_progress(args.quiet), on_stage=lambda s: status(args.quiet, s),
                       budget=budget(args), ensemble=args.ensemble, members=args.members, workers=args.workers,
                       scheduler=args.scheduler)
    secs = waited(args)
    runs = (f"{rep.members} member(s) x {rep.replicates} replicate(s)" if rep.ensemble
            else f"{rep.replicates} replicate(s)")
    text = f"{rep.name}: {runs} x {rep.months} months in {secs:.1f} s -> {rep.out}"
    emit(args, text + (f"\n{rep.note}" if rep.note else ""),
         {"command": "run", "scenario": rep.name, "replicates": rep.replicates, "members": rep.members,
          "ensemble": rep.ensemble, "months": rep.months, "seconds": round(secs, 3), "out": str(rep.out),
          "note": rep.note})
    return 0


def cmd_rerun(args) -> int:
    from ..workflows.kinds import expect_kind
    from ..workflows.rerun import rerun

    kind = expect_kind(args.results, ("run", "sweep"), "rerun")
    if kind == "run":
        not_applicable({"--workers": args.workers, "--scheduler": args.scheduler}, "to a run results folder")
    rep = rerun(args.results, args.out, args.overwrite, args.workers, args.scheduler,
                progress=make_progress(args.quiet))
    same = "identical" if rep.identical else "DIFFERENT"
    emit(args, f"{args.results}: rerun as {kind} -> {rep.out}: {same} ({'; '.join(rep.checked)})",
         {"command": "rerun", "kind": kind, "results": str(args.results), "out": str(rep.out),
          "identical": rep.identical, "checked": rep.checked, "differences": rep.differences,
          "seconds": round(waited(args), 3)})
    if not rep.identical:
        raise AdoptsimError(f"{args.results}: rerun differs: {'; '.join(rep.differences)}")
    return 0


def cmd_validate(args) -> int:
    from ..workflows.validate import validate_file

    bad, kinds = 0, {}
    for f in args.files:
        try:
            kinds[f] = validate_file(f)
            if not args.json and not args.quiet:
                print(f"{f}: OK ({kinds[f]})")
        except AdoptsimError as exc:
            bad += 1
            kinds[f] = None
            print(str(exc))
    if args.json:
        emit(args, "", {"command": "validate", "files": kinds, "invalid": bad})
    return 2 if bad else 0


def check_plot_flags(args, kind: str) -> None:
    """The flags of ``plot`` that apply to the kind of folder given."""
    if kind == "sweep":
        not_applicable({"--figure": args.figure, "--format": args.format, "--against": args.against},
                       f"to a sweep folder ({args.results}); sweep figures take --metric, --key, --level, "
                       "--scope and --date")
        return
    not_applicable({"--key": args.key}, f"to a run results folder ({args.results}); it draws every key")
    if args.metric is not None:
        not_applicable({"--figure": args.figure}, "with --metric: draw one or the other")
    if args.against is not None:
        not_applicable({"--figure": args.figure, "--date": args.date}, "with --against")
    elif args.metric is None and (args.level is not None or args.scope):
        raise AdoptsimError("--level/--scope: apply with --metric or --against (the standard figures "
                            "show fixed scopes)")


def cmd_plot(args) -> int:
    from ..workflows.kinds import expect_kind
    from ..workflows.plot import plot

    kind = expect_kind(args.results, ("run", "sweep"), "plot")
    check_plot_flags(args, kind)
    level, ids = where(args, need_id=kind == "sweep" or args.against is not None, many=args.against is None)
    status(args.quiet, f"drawing figures of {args.results}")
    scope = None if level == "world" else (ids or None)
    paths = plot(args.results, metric=args.metric, by=level, scope=scope, key=args.key, figure=args.figure,
                 date=args.date, fmt=args.format or "png", against=args.against)
    if args.json:
        emit(args, "", {"command": "plot", "figures": [str(p) for p in paths], "seconds": round(waited(args), 3)})
    elif not args.quiet:
        for p in paths:
            print(p)
    return 0


def cmd_validation_report(args) -> int:
    from ..validation.report import write_report

    rep = write_report(args.out)
    if args.json:
        emit(args, "", {"command": "validation-report", "report": str(rep.path),
                        "checks": [c.line() for c in rep.checks]})
        return 0
    for c in rep.checks:
        print(c.line())
    print(rep.path)
    return 0


def cmd_predict(args) -> int:
    from ..workflows.predict import predict

    if args.workers is not None and args.workers < 1:
        raise AdoptsimError(f"--workers: expected a whole number >= 1, got {args.workers}")
    targets = args.targets if args.targets.is_file() else None
    if targets is None and args.targets != Path("calibration/targets.toml"):
        raise AdoptsimError(f"--targets: no file {args.targets}")
    seed_part = f" --seed {args.seed}" if args.seed is not None else ""
    command = (f"adoptsim predict {args.scenario} --out {args.out} --members {args.members} "
               f"--replicates {args.replicates}{seed_part}")
    rep = predict(args.scenario, args.out, args.members, args.replicates, args.seed, args.workers, targets, command)
    if args.json:
        emit(args, "", {"command": "predict", "out": str(rep.out), "members": rep.members,
                        "replicates": rep.replicates, "predictions": rep.table.to_dict(orient="records")})
        return 0
    for _, r in rep.table.iterrows():
        print(f"{r['quantity']} {r['period']}: {100 * r['q50']:.1f}% (10-90%: {100 * r['q10']:.1f}-{100 * r['q90']:.1f}%)")
    print(rep.out)
    return 0


def description(file: Path) -> str:
    """The first line of a bundled file's description (``description`` or ``[meta] description``)."""
    try:
        raw = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raw = {}
    desc = raw.get("description") or raw.get("meta", {}).get("description", "")
    return desc.strip().splitlines()[0] if desc.strip() else ""


def cmd_list(args) -> int:
    roots = bundled_roots()
    if not roots:
        emit(args, "no bundled scenarios found", {"command": "list"})
        return 0
    root = roots[0]
    listing = {}
    for kind in ("scenarios", "experiments", "calibration"):
        files = sorted((root / kind).rglob("*.toml")) if (root / kind).is_dir() else []
        listing[kind] = {str(f.relative_to(root / kind)): description(f) for f in files}
    if args.json:
        emit(args, "", {"command": "list", "root": str(root), **listing})
        return 0
    for kind, files in listing.items():
        print(f"{kind} ({root / kind}):")
        if not files:
            print("  (none)")
        for name, desc in files.items():
            print(f"  {name:<40} {desc}")
    return 0
