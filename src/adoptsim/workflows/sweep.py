"""``adoptsim sweep``: run an experiment into a sweep folder (docs/experiments.md)."""

from __future__ import annotations

from pathlib import Path

from ..experiments.budget import Budget
from ..experiments.loader import load_experiment
from ..experiments.runner import SweepReport, run_sweep
from ..experiments.spec import Experiment
from ..io.atomic import prepare_out_dir
from .checks import check_executor


def prepare_sweep(experiment_file: str | Path, out: Path | None = None, resume: bool = False,
                  workers: int | None = None, scheduler: str | None = None,
                  budget: Budget | None = None) -> tuple[Experiment, Path]:
    """Load and check an experiment and choose its sweep folder: ``out``, or by default
    ``results/<experiment>`` (``-2``, ``-3``... if it exists, unless resuming the default folder)."""
    exp = load_experiment(experiment_file, budget)
    check_executor(workers, scheduler)
    if out is None:
        default = Path("results") / Path(experiment_file).stem
        out = default if resume else prepare_out_dir(None, default, False)
    return exp, Path(out)


def sweep(exp: Experiment, out: Path, workers: int | None = None, scheduler: str | None = None,
          resume: bool = False, progress=None, budget: Budget | None = None) -> SweepReport:
    """Run (or resume) the experiment into ``out``; the report says how many runs failed.
    ``progress`` is a factory ``(total, desc, unit, initial) -> bar`` (default: tqdm on a terminal)."""
    return run_sweep(exp, out, workers=workers, scheduler=scheduler, resume=resume, progress=progress, budget=budget)
