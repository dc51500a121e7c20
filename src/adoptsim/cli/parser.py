"""The argument parser of ``adoptsim``: every command, option and default (docs/cli.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from ..core import SCOPES
from .commands import (FIGURE_FORMATS, cmd_calibrate, cmd_compare, cmd_discover, cmd_list, cmd_plot,
                       cmd_run, cmd_sensitivity, cmd_sweep, cmd_target, cmd_validate, cmd_validation_report)


# ---- size caps (docs/cli.md, "Size caps"): one helper, added to run, sweep, sensitivity, calibrate ----

def add_size_caps(p) -> None:
    """``--max-memory SIZE`` and ``--max-runs N``: the caps a job's size estimate must fit."""
    g = p.add_argument_group("size caps")
    g.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="refuse a job estimated to need more memory, e.g. 40G (default: the available memory)")
    g.add_argument("--max-runs", type=int, default=None, metavar="N",
                   help="refuse a job of more runs (default 1000000)")


def add_run_commands(sub) -> None:
    """run, validate and plot: one scenario and its results folder."""
    r = sub.add_parser("run", help="run a scenario and write a results folder")
    r.add_argument("scenario", help="scenario TOML file")
    r.add_argument("--seed", type=int, default=None, help="random seed (default: [meta] seed)")
    r.add_argument("--replicates", type=int, default=10, help="replicates (default 10)")
    r.add_argument("--out", type=Path, default=None, help="results folder (default results/<scenario>)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    r.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="table format")
    r.add_argument("--no-plots", action="store_true", help="do not draw figures")
    add_size_caps(r)
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check scenario and experiment files")
    v.add_argument("files", nargs="+", help="TOML files")
    v.set_defaults(func=cmd_validate)

    pl = sub.add_parser("plot", help="redraw figures from a results folder")
    pl.add_argument("results", help="results folder")
    pl.add_argument("--metric", default=None, help="metric to draw (default: the adoption figure)")
    pl.add_argument("--by", choices=list(SCOPES), default="world", help="scope level")
    pl.add_argument("--scope", nargs="+", default=None, help="only these region or nation ids")
    pl.add_argument("--key", default=None, help="sweep folders: the metric's key (vendor, licence, origin)")
    pl.add_argument("--figure", choices=["adoption", "regions", "vendors", "heatmap", "dependency", "all"],
                    default=None, help="one of the standard figures (default: adoption; 'all' draws every one)")
    pl.add_argument("--date", default=None, help="month YYYY-MM of the nation x origin heat map (default: last)")
    pl.add_argument("--format", choices=["png", "svg", "pdf"], default="png", help="figure format (default png)")
    pl.add_argument("--against", default=None, metavar="BASELINE",
                    help="compare with another results folder (same as 'compare BASELINE RESULTS')")
    pl.set_defaults(func=cmd_plot)


def add_analysis_commands(sub) -> None:
    """compare, discover and target: analyses of results and sweeps."""
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
    dc.add_argument("--scope", choices=list(SCOPES), default="world", help="scope level")
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


def add_experiment_commands(sub) -> None:
    """sweep, sensitivity and calibrate: many runs of an experiment."""
    sw = sub.add_parser("sweep", help="run an experiment: many scenario variants and replicates")
    sw.add_argument("experiment", help="experiment TOML file")
    sw.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    sw.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run on a Dask cluster, e.g. tcp://host:8786 (needs adoptsim[dask])")
    sw.add_argument("--resume", action="store_true", help="continue a sweep in --out, skipping stored runs")
    sw.add_argument("--out", type=Path, default=None, help="sweep folder (default results/<experiment>)")
    add_size_caps(sw)
    sw.set_defaults(func=cmd_sweep)

    se = sub.add_parser("sensitivity", help="Sobol' indices or an OAT tornado of an experiment's factors")
    se.add_argument("experiment", help="experiment TOML file with [design] method = 'sobol' or 'oat'")
    se.add_argument("--out", type=Path, required=True, help="output folder")
    se.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    se.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on a Dask cluster")
    se.add_argument("--resume", action="store_true", help="continue an analysis in --out, skipping stored runs")
    se.add_argument("--by", choices=list(SCOPES), default="world",
                    help="scope level of the outcomes analysed (default world)")
    se.add_argument("--metric", default=None, help="outcome drawn in the figure (default: first metric)")
    se.add_argument("--key", default=None, help="its key (vendor, licence, origin)")
    se.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="table format")
    add_size_caps(se)
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
    add_size_caps(ca)
    ca.set_defaults(func=cmd_calibrate)


def add_other_commands(sub) -> None:
    """list and validation-report."""
    ls = sub.add_parser("list", help="list bundled scenarios and experiments")
    ls.set_defaults(func=cmd_list)

    vr = sub.add_parser("validation-report", help="rerun the theory checks; write figures and report")
    vr.add_argument("--out", type=Path, default=Path("docs/validation"),
                    help="folder for the figures (default docs/validation); the report is <out>.md")
    vr.set_defaults(func=cmd_validation_report)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adoptsim", description="Agent-based simulator of AI model adoption.")
    p.add_argument("--version", action="version", version=f"adoptsim {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_run_commands(sub)
    add_analysis_commands(sub)
    add_experiment_commands(sub)
    add_other_commands(sub)
    return p
