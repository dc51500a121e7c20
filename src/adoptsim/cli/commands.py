"""The commands: each takes the parsed arguments, calls one workflow and prints (docs/cli.md).

Heavy modules (pandas, matplotlib, the experiments) are imported inside the commands, so
``adoptsim --help`` and a typo answer at once.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from ..core import SCOPES
from ..errors import AdoptsimError

FIGURE_FORMATS = ("png", "svg", "pdf")
TABLE_FORMATS = ("parquet", "csv")


def bundled_roots() -> list[Path]:
    """Folders that hold the bundled scenarios/ and experiments/ (installed wheel or checkout)."""
    here = Path(__file__).resolve().parent.parent
    return [p for p in (here / "bundled", here.parent.parent) if (p / "scenarios").is_dir()]


def progress_bar(total: int, desc: str):
    """A progress bar of months on stderr, shown only on a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="month", disable=not sys.stderr.isatty(), leave=False)


def interrupted(out) -> int:
    print(f"interrupted: finished runs are stored in {out}; continue with --out {out} --resume", file=sys.stderr)
    return 130


def print_damaged(rep, out) -> None:
    """Say that damaged run files found on resume were run again (docs/cli.md)."""
    if rep.damaged:
        print(f"note: {out}: {rep.damaged} truncated or unreadable run file(s) found and run again", file=sys.stderr)


def print_failures(errors: list[str], out: Path | None = None) -> None:
    """The first ten failed runs on stderr (and, for a sweep, where the rest are listed)."""
    for line in errors[:10]:
        print(f"failed: {line}", file=sys.stderr)
    if out is not None and len(errors) > 10:
        print(f"failed: ... and {len(errors) - 10} more (see {out / 'runs.parquet'})", file=sys.stderr)


def budget(args):
    """The size caps of ``--max-memory`` and ``--max-runs`` (docs/cli.md, "Size caps")."""
    from ..experiments.budget import MAX_RUNS, Budget, parse_size

    if args.max_runs is not None and args.max_runs < 1:
        raise AdoptsimError(f"--max-runs: expected a whole number >= 1, got {args.max_runs}")
    return Budget(max_memory=None if args.max_memory is None else parse_size(args.max_memory),
                  max_runs=MAX_RUNS if args.max_runs is None else args.max_runs)


def cmd_run(args) -> int:
    from ..workflows.run import run_scenario

    rep = run_scenario(args.scenario, seed=args.seed, replicates=args.replicates, out=args.out,
                       overwrite=args.overwrite, fmt=args.format, plots=not args.no_plots, progress=progress_bar,
                       budget=budget(args))
    print(f"{rep.name}: {rep.replicates} replicate(s) x {rep.months} months in {rep.elapsed:.2f} s -> {rep.out}")
    return 0


def cmd_validate(args) -> int:
    from ..workflows.validate import validate_file

    bad = 0
    for f in args.files:
        try:
            validate_file(f)
            print(f"{f}: OK")
        except AdoptsimError as exc:
            bad += 1
            print(str(exc))
    return 2 if bad else 0


def cmd_sweep(args) -> int:
    from ..workflows.sweep import prepare_sweep, sweep

    caps = budget(args)
    exp, out = prepare_sweep(args.experiment, args.out, args.resume, args.workers, args.scheduler, caps)
    try:
        rep = sweep(exp, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, budget=caps)
    except KeyboardInterrupt:
        return interrupted(out)
    print_damaged(rep, rep.out)
    print_failures(rep.errors, rep.out)
    print(f"{exp.name}: {len(exp.points)} point(s) x {exp.spec.replicates} replicate(s): {rep.ok} ok, "
          f"{rep.failed} failed, {rep.skipped} already stored; {rep.executor}, {rep.elapsed:.1f} s -> {rep.out}")
    return rep.exit_code


def cmd_plot(args) -> int:
    from ..workflows.plot import plot

    for p in plot(args.results, metric=args.metric, by=args.by, scope=args.scope, key=args.key, figure=args.figure,
                  date=args.date, fmt=args.format, against=args.against):
        print(p)
    return 0


def cmd_validation_report(args) -> int:
    from ..validation.report import write_report

    rep = write_report(args.out)
    for c in rep.checks:
        print(c.line())
    print(rep.path)
    return 0


def compare_scope(args) -> tuple[str, str | None]:
    """The scope level and id of ``compare``: ``--by LEVEL --scope ID`` (two-folder form) or
    ``--scope LEVEL --scope-id ID``."""
    if args.by is not None:
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
    return level, sid


def cmd_compare(args) -> int:
    level, sid = compare_scope(args)
    image_out = args.out is not None and args.out.suffix.lower().lstrip(".") in FIGURE_FORMATS
    if (len(args.results) == 2 and (args.out is None or image_out) and args.key is None
            and args.format in FIGURE_FORMATS):  # as before: one figure into SCENARIO/plots/
        from ..workflows.compare import compare_pair

        print(compare_pair(args.results[0], args.results[1], args.metric, level, sid, args.format, args.out))
        return 0
    if image_out:
        raise AdoptsimError(f"--out: with {len(args.results)} results folders --out is a folder, got {args.out}")
    from ..io.atomic import prepare_out_dir
    from ..workflows.compare import compare_folders

    out = prepare_out_dir(args.out, Path("results") / "compare", args.overwrite)
    table_fmt = args.format if args.format in TABLE_FORMATS else "parquet"
    fig_fmt = args.format if args.format in FIGURE_FORMATS else "png"
    print(compare_folders(args.results, out, args.metric, level, sid, args.key, table_fmt, fig_fmt))
    return 0


def cmd_sensitivity(args) -> int:
    from ..workflows.sensitivity import prepare_sensitivity, sensitivity

    caps = budget(args)
    exp = prepare_sensitivity(args.experiment, args.workers, args.scheduler, caps)
    try:
        rep = sensitivity(exp, args.out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                          by=args.by, fmt=args.format, metric=args.metric, key=args.key, budget=caps)
    except KeyboardInterrupt:
        return interrupted(args.out)
    print_damaged(rep.sweep, rep.sweep.out)
    print_failures(rep.sweep.errors)
    what = "Sobol' indices" if rep.method == "sobol" else "OAT tornado"
    print(f"{exp.name}: {what} over {len(exp.factor_paths)} factor(s), {rep.sweep.runs} run(s) "
          f"({rep.sweep.ok} ok, {rep.sweep.failed} failed, {rep.sweep.skipped} already stored) -> {rep.out}")
    return rep.exit_code


def cmd_calibrate(args) -> int:
    from ..workflows.calibration import calibrate

    try:
        rep = calibrate(args.spec, args.out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                        scenario_out=args.scenario_out, fmt=args.format, budget=budget(args))
    except KeyboardInterrupt:
        return interrupted(args.out)
    print(rep.summary())
    return 0


def box_text(box: dict) -> str:
    """The restricted factors of a discovery box, one ``factor in lo..hi`` (or ``{a, b}``) each."""
    return "; ".join(f"{k} in {v[0]:.4g}..{v[1]:.4g}" if isinstance(v[0], float) else f"{k} in {{{', '.join(v)}}}"
                     for k, v in box.items()) or "no factor restricted"


def cmd_discover(args) -> int:
    from ..io.atomic import prepare_out_dir
    from ..workflows.discovery import run_discovery

    out = prepare_out_dir(args.out, Path(args.sweep) / "discovery", args.overwrite)
    s = run_discovery(args.sweep, out, args.metric, args.scope, args.scope_id, args.key, args.date, args.above,
                      args.below, args.alpha, args.min_mass, args.min_density, args.format)
    print(f"{s['condition']}: {s['hits']} of {s['cases']} runs; chosen box (step {s['chosen_step']}, "
          f"{s['chosen_because']}): {box_text(s['box'])}; coverage {s['coverage']:.0%}, density {s['density']:.0%}, "
          f"mass {s['mass']:.0%} -> {out}")
    return 0


def cmd_target(args) -> int:
    from ..io.atomic import prepare_out_dir
    from ..workflows.checks import check_executor
    from ..workflows.target import run_target

    check_executor(args.workers, args.scheduler)
    out = prepare_out_dir(args.out, Path("results") / Path(args.experiment).stem, args.overwrite)
    res = run_target(args.experiment, out, args.workers, args.scheduler, args.format)
    for w in res["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{res['status']}: {res['message']} -> {out}")
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
        print("no bundled scenarios found")
        return 0
    root = roots[0]
    for kind in ("scenarios", "experiments"):
        files = sorted((root / kind).rglob("*.toml"))
        print(f"{kind} ({root / kind}):")
        if not files:
            print("  (none)")
        for f in files:
            print(f"  {str(f.relative_to(root / kind)):<40} {description(f)}")
    return 0
