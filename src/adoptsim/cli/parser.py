"""The argument parser of ``adoptsim``: every command, option and default (docs/cli.md).

One grammar for every command: ``--level world|region|nation`` and ``--scope ID...`` choose
where, ``--out`` and ``--overwrite`` where a command writes, ``--format`` a file format;
``--debug``, ``--quiet`` and ``--json`` go before or after the command; no option may be
abbreviated (``--replicate`` is not ``--replicates``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from ..core import SCOPES
from ..errors import did_you_mean
from .commands import cmd_list, cmd_plot, cmd_predict, cmd_rerun, cmd_run, cmd_validate, cmd_validation_report
from .analysis_commands import cmd_calibrate, cmd_compare, cmd_discover, cmd_sensitivity, cmd_sweep, cmd_target
from .app_commands import cmd_app, cmd_report

FIGURE_FORMATS = ("png", "svg", "pdf")
TABLE_FORMATS = ("parquet", "csv")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``error: MESSAGE (see adoptsim COMMAND --help)``,
    with exit code 2."""

    def error(self, message: str):
        print(f"error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


def global_flags(p: argparse.ArgumentParser, default) -> None:
    """--debug, --quiet, --json; in the subcommands with ``default=SUPPRESS`` so that a flag
    given before the command is not reset after it."""
    p.add_argument("--debug", action="store_true", default=default, help="show tracebacks of internal errors")
    p.add_argument("-q", "--quiet", action="store_true", default=default,
                   help="no progress and no summary line (errors and warnings are still printed)")
    p.add_argument("--json", action="store_true", default=default,
                   help="print the summary as one JSON object on stdout")


def where_flags(p: argparse.ArgumentParser, one: bool, default_level: str | None = "world") -> None:
    p.add_argument("--level", choices=list(SCOPES), default=None,
                   help=f"scope level world|region|nation (default {default_level or 'world'})")
    if one:
        p.add_argument("--scope", default=None, metavar="ID", help="the region or nation (with --level region|nation)")
    else:
        p.add_argument("--scope", nargs="+", default=None, metavar="ID",
                       help="only these regions or nations (with --level region|nation)")


def out_flags(p: argparse.ArgumentParser, default: str, resume: str | None = None) -> None:
    p.add_argument("--out", type=Path, default=None,
                   help=f"output folder (default {default}, or -2, -3... if it exists)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    if resume:
        p.add_argument("--resume", action="store_true", help=resume)


def executor_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a Dask cluster, e.g. tcp://host:8786 (needs adoptsim[dask])")


def table_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=list(TABLE_FORMATS), default=None, help="table format (default parquet)")


# ---- size caps (docs/cli.md, "Size caps"): one helper, added to run, sweep, sensitivity, calibrate ----

def add_size_caps(p) -> None:
    """``--max-memory SIZE`` and ``--max-runs N``: the caps a job's size estimate must fit."""
    g = p.add_argument_group("size caps")
    g.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="refuse a job estimated to need more memory, e.g. 40G (default: the available memory)")
    g.add_argument("--max-runs", type=int, default=None, metavar="N",
                   help="refuse a job of more runs (default 1000000)")


def add_run_commands(sub, common) -> None:
    """run, rerun, validate and plot: one scenario and its results folder."""
    r = sub.add_parser("run", help="run a scenario and write a results folder", parents=[common], allow_abbrev=False)
    r.add_argument("scenario", help="scenario TOML file, or the name of a bundled scenario (adoptsim list)")
    r.add_argument("--seed", type=int, default=None, help="random seed (default: [meta] seed)")
    r.add_argument("--replicates", type=int, default=None,
                   help="replicates (per member with an ensemble; default 2 with an ensemble, else 10)")
    r.add_argument("--ensemble", default=None, metavar="FILE|none",
                   help="posterior file to run over (default: the scenario's [meta] ensemble); "
                        "'none' runs the point scenario")
    r.add_argument("--members", type=int, default=None, metavar="K",
                   help="ensemble members drawn by weight (default: all, up to 50)")
    executor_flags(r)
    out_flags(r, "results/<scenario>")
    table_format(r)
    r.add_argument("--no-plots", action="store_true", help="do not draw figures")
    add_size_caps(r)
    r.set_defaults(func=cmd_run)

    rr = sub.add_parser("rerun", help="run again what a results or sweep folder holds; check it is identical",
                        parents=[common], allow_abbrev=False)
    rr.add_argument("results", help="a results folder (adoptsim run) or a sweep folder (adoptsim sweep)")
    out_flags(rr, "RESULTS-rerun")
    executor_flags(rr)
    rr.set_defaults(func=cmd_rerun)

    v = sub.add_parser("validate", help="check scenario, experiment and calibration files", parents=[common],
                       allow_abbrev=False)
    v.add_argument("files", nargs="+", help="TOML files")
    v.set_defaults(func=cmd_validate)

    pl = sub.add_parser("plot", help="redraw figures from a results or sweep folder", parents=[common],
                        allow_abbrev=False)
    pl.add_argument("results", help="results folder (adoptsim run) or sweep folder (adoptsim sweep)")
    pl.add_argument("--metric", default=None, help="metric to draw (default: the adoption figure)")
    where_flags(pl, one=False)
    pl.add_argument("--key", default=None, help="sweep folders: the metric's key (vendor, licence, origin)")
    pl.add_argument("--figure", choices=["adoption", "regions", "vendors", "heatmap", "dependency", "all"],
                    default=None, help="results folders: one of the standard figures ('all' draws every one)")
    pl.add_argument("--date", default=None, help="month YYYY-MM (heat map of a results folder; a sweep's dates)")
    pl.add_argument("--format", choices=list(FIGURE_FORMATS), default=None, help="figure format (default png)")
    pl.add_argument("--against", default=None, metavar="BASELINE",
                    help="results folders: compare with another results folder (same as 'compare BASELINE RESULTS')")
    pl.set_defaults(func=cmd_plot)


def add_analysis_commands(sub, common) -> None:
    """compare, discover and target: analyses of results and sweeps."""
    cp = sub.add_parser("compare", help="compare results folders: curves, paired differences, figure",
                        parents=[common], allow_abbrev=False)
    cp.add_argument("results", nargs="+", metavar="RESULTS", help="results folders; the first is the reference")
    cp.add_argument("--metric", default="share_origin", help="metric (default share_origin)")
    where_flags(cp, one=True)
    cp.add_argument("--key", default=None, help="only this key (vendor, licence, origin); needs --out DIR")
    table_format(cp)
    cp.add_argument("--figure-format", choices=list(FIGURE_FORMATS), default="png", help="figure format (default png)")
    cp.add_argument("--out", type=Path, default=None,
                    help="output folder for tables and figure (default: two folders -> one figure in "
                         "SCENARIO/plots/; more -> results/compare), or FILE.png|svg|pdf for the figure alone")
    cp.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    cp.set_defaults(func=cmd_compare)

    dc = sub.add_parser("discover", help="scenario discovery (PRIM): factor ranges where a condition holds",
                        parents=[common], allow_abbrev=False)
    dc.add_argument("sweep", help="sweep folder (made by 'adoptsim sweep')")
    dc.add_argument("--metric", required=True, help="metric (one the sweep kept)")
    where_flags(dc, one=True)
    dc.add_argument("--key", default=None, help="the metric's key (vendor, licence, origin)")
    dc.add_argument("--date", default=None, help="month YYYY-MM (default: each run's final month)")
    th = dc.add_mutually_exclusive_group(required=True)
    th.add_argument("--above", type=float, default=None, help="condition: value > X (in the metric's unit)")
    th.add_argument("--below", type=float, default=None, help="condition: value < X (in the metric's unit)")
    dc.add_argument("--alpha", type=float, default=0.05, help="share of the box peeled per step (default 0.05)")
    dc.add_argument("--min-mass", type=float, default=0.05, help="smallest box, share of runs (default 0.05)")
    dc.add_argument("--min-density", type=float, default=None,
                    help="choose the largest box with at least this density (default: the knee)")
    table_format(dc)
    out_flags(dc, "SWEEP/discovery")
    dc.set_defaults(func=cmd_discover)

    tg = sub.add_parser("target", help="smallest factor value that makes a metric reach a threshold",
                        parents=[common], allow_abbrev=False)
    tg.add_argument("experiment", help="target experiment file (one [[factors]] range and a [target] table) or name")
    executor_flags(tg)
    table_format(tg)
    out_flags(tg, "results/<experiment>")
    tg.set_defaults(func=cmd_target)


def add_experiment_commands(sub, common) -> None:
    """sweep, sensitivity and calibrate: many runs of an experiment."""
    sw = sub.add_parser("sweep", help="run an experiment: many scenario variants and replicates", parents=[common],
                        allow_abbrev=False)
    sw.add_argument("experiment", help="experiment TOML file, or the name of a bundled experiment")
    executor_flags(sw)
    out_flags(sw, "results/<experiment>", "continue the sweep stored in --out, skipping stored runs")
    add_size_caps(sw)
    sw.set_defaults(func=cmd_sweep)

    se = sub.add_parser("sensitivity", help="Sobol' indices or an OAT tornado of an experiment's factors",
                        parents=[common], allow_abbrev=False)
    se.add_argument("experiment", help="experiment file with [design] method = 'sobol' or 'oat', or its name")
    executor_flags(se)
    out_flags(se, "results/<experiment>", "continue the analysis stored in --out, skipping stored runs")
    se.add_argument("--level", choices=list(SCOPES), default="world",
                    help="scope level of the outcomes analysed (default world)")
    se.add_argument("--metric", default=None, help="outcome drawn in the figure (default: first metric)")
    se.add_argument("--key", default=None, help="its key (vendor, licence, origin)")
    table_format(se)
    add_size_caps(se)
    se.set_defaults(func=cmd_sensitivity)

    ca = sub.add_parser("calibrate", help="fit a scenario's assumed parameters to observed targets (ABC)",
                        parents=[common], allow_abbrev=False)
    ca.add_argument("spec", help="calibration spec TOML file (see calibration/baseline.toml)")
    executor_flags(ca)
    out_flags(ca, "results/<spec>", "continue the calibration stored in --out, skipping stored runs")
    ca.add_argument("--scenario-out", type=Path, default=None,
                    help="where to write the calibrated scenario (default OUT/calibrated.toml)")
    ca.add_argument("--posterior-out", type=Path, default=None,
                    help="ABC-SMC: also write the posterior ensemble here (e.g. calibration/baseline-posterior.parquet)")
    table_format(ca)
    add_size_caps(ca)
    ca.set_defaults(func=cmd_calibrate)


def add_other_commands(sub, common) -> None:
    """list and validation-report."""
    ls = sub.add_parser("list", help="list bundled scenarios and experiments", parents=[common], allow_abbrev=False)
    ls.set_defaults(func=cmd_list)

    vr = sub.add_parser("validation-report", help="rerun the theory checks; write figures and report",
                        parents=[common], allow_abbrev=False)
    vr.add_argument("--out", type=Path, default=Path("docs/verification"),
                    help="folder for the figures (default docs/verification); the report is <out>.md (both replaced)")
    vr.set_defaults(func=cmd_validation_report)

    pr = sub.add_parser("predict", help="pre-registered out-of-sample predictions of the baseline ensemble "
                                        "(docs/predictions.md)", parents=[common], allow_abbrev=False)
    pr.add_argument("scenario", nargs="?", default="scenarios/baseline.toml",
                    help="scenario naming a calibrated ensemble (default scenarios/baseline.toml)")
    pr.add_argument("--out", type=Path, default=Path("docs/predictions.md"),
                    help="the page to write (default docs/predictions.md; replaced)")
    pr.add_argument("--targets", type=Path, default=Path("calibration/targets.toml"),
                    help="targets file whose calibration_window the page states (default calibration/targets.toml)")
    pr.add_argument("--members", type=int, default=100, help="members drawn from the posterior (default 100)")
    pr.add_argument("--replicates", type=int, default=2, help="replicates per member (default 2)")
    pr.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's [meta] seed)")
    pr.add_argument("--workers", type=int, default=None, help="worker processes (default: every core)")
    pr.set_defaults(func=cmd_predict)


def add_analyst_commands(sub, common) -> None:
    """report and app: a brief to forward, a page to explore."""
    rp = sub.add_parser("report", help="one-page HTML brief of a results folder (figures inline, prints to PDF)",
                        parents=[common], allow_abbrev=False)
    rp.add_argument("results", help="results folder (adoptsim run)")
    rp.add_argument("--against", default=None, metavar="BASELINE",
                    help="a results folder to compare with: effects and their robustness share in the headline")
    rp.add_argument("--out", type=Path, default=None, help="the brief, FILE.html (default RESULTS.html beside the folder)")
    rp.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    rp.set_defaults(func=cmd_report)

    ap = sub.add_parser("app", help="the web explorer: choose a scenario, move its levers, run, download "
                                    "(needs adoptsim[app])", parents=[common], allow_abbrev=False)
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    ap.set_defaults(func=cmd_app)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="adoptsim", description="Agent-based simulator of AI model adoption.", allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"adoptsim {__version__}")
    global_flags(p, False)
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    global_flags(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    add_run_commands(sub, common)
    add_analysis_commands(sub, common)
    add_experiment_commands(sub, common)
    add_other_commands(sub, common)
    add_analyst_commands(sub, common)
    return p


def commands(parser: argparse.ArgumentParser) -> list[str]:
    """The names of the subcommands."""
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - argparse offers no public accessor
        return list(action.choices)
    return []


def unknown_command(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """One line for a mistyped command (``adoptsim rnu``), with a did-you-mean; else None."""
    names = commands(parser)
    for a in argv:
        if a.startswith("-"):
            continue
        if a in names:
            return None
        return f"error: unknown command {a!r}{did_you_mean(a, names)} (see 'adoptsim --help')"
    return None
