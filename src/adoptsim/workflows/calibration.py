"""``adoptsim calibrate``: fit a scenario's assumed parameters to observed targets (ABC
rejection over a Latin hypercube), write the calibrated scenario and draw the fit
(docs/experiments.md)."""

from __future__ import annotations

from pathlib import Path

from ..experiments.budget import Budget
from ..experiments.calibration.abc import CalibrationReport, run_calibration
from ..viz.analysis_figures import calibration_figure, posterior_figure
from .checks import check_executor


def calibrate(spec: str | Path, out: str | Path, workers: int | None = None, scheduler: str | None = None,
              resume: bool = False, scenario_out: str | Path | None = None, fmt: str = "parquet",
              plot: bool = True, progress=None, budget: Budget | None = None) -> CalibrationReport:
    """Run the calibration of ``spec`` into ``out`` and draw ``plots/calibration.png``
    (simulated vs observed) and ``plots/posterior.png`` (prior and ABC posterior)."""
    check_executor(workers, scheduler)
    rep = run_calibration(spec, out, workers=workers, scheduler=scheduler, resume=resume,
                          scenario_out=scenario_out, fmt=fmt, progress=progress, budget=budget)
    if plot:
        plots = Path(rep.out) / "plots"
        rep.figures.append(calibration_figure(rep.targets, plots / "calibration.png", rep.calibration_title))
        rep.figures.append(posterior_figure(rep.samples, rep.fit, plots / "posterior.png", rep.posterior_title))
    return rep
