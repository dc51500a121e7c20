"""``adoptsim sensitivity``: Sobol' indices or an OAT tornado of an experiment's factors, with
the figure of one outcome (docs/experiments.md)."""

from __future__ import annotations

from pathlib import Path

from ..experiments.budget import Budget
from ..experiments.loader import load_experiment
from ..experiments.sensitivity import SensitivityReport, run_sensitivity
from ..experiments.spec import Experiment
from ..viz.analysis_figures import sensitivity_figure, tornado_figure
from .checks import check_executor


def prepare_sensitivity(experiment_file: str | Path, workers: int | None = None,
                        scheduler: str | None = None, budget: Budget | None = None) -> Experiment:
    """Load and check the experiment and the executor options."""
    exp = load_experiment(experiment_file, budget)
    check_executor(workers, scheduler)
    return exp


def draw_sensitivity(rep: SensitivityReport) -> list[Path]:
    """Draw the report's chosen outcome (Sobol' bars or tornado) into ``OUT/plots``."""
    if rep.selection is None:
        return []
    if rep.method == "sobol":
        path = sensitivity_figure(rep.selection, rep.figure_path, rep.title, n=rep.samples,
                                  replicates=rep.replicates)
    else:
        path = tornado_figure(rep.selection, rep.figure_path, rep.title)
    return [path]


def sensitivity(exp: Experiment, out: str | Path, workers: int | None = None, scheduler: str | None = None,
                resume: bool = False, by: str | tuple[str, ...] = "world", fmt: str = "parquet",
                metric: str | None = None, key: str | None = None, plot: bool = True,
                progress=None, budget: Budget | None = None) -> SensitivityReport:
    """Run the analysis into ``out`` (tables, manifest, ``sweep/``) and draw its figure; the
    report's ``exit_code`` is 3 when some runs failed."""
    rep = run_sensitivity(exp, out, workers=workers, scheduler=scheduler, resume=resume, by=by, fmt=fmt,
                          plot=plot, metric=metric, key=key, progress=progress, budget=budget)
    rep.figures.extend(draw_sensitivity(rep))
    return rep
