"""``adoptsim calibrate``: fit a scenario's assumed parameters to observed targets (ABC
rejection over a Latin hypercube), write the calibrated scenario and draw the fit
(docs/experiments.md)."""

from __future__ import annotations

from pathlib import Path

from ..experiments.budget import Budget
from ..experiments.calibration.abc import CalibrationReport, run_calibration
from ..experiments.calibration.smc_run import SmcReport
from ..viz.analysis_figures import calibration_figure, posterior_figure, smc_posterior_figure

#: The rows of the simulated-vs-observed figure of an ABC-SMC calibration.
SMC_ROWS = [("prior", "prior (generation 0)", "#999999"), ("accepted", "posterior (weighted)", "#3b4cc0")]
from .checks import check_executor


def calibrate(spec: str | Path, out: str | Path, workers: int | None = None, scheduler: str | None = None,
              resume: bool = False, scenario_out: str | Path | None = None, fmt: str = "parquet",
              plot: bool = True, progress=None, budget: Budget | None = None,
              posterior_out: str | Path | None = None) -> CalibrationReport | SmcReport:
    """Run the calibration of ``spec`` into ``out`` and draw ``plots/calibration.png``
    (simulated vs observed) and ``plots/posterior.png`` (prior and posterior); ABC-SMC
    (``kind = "smc"``) also writes the posterior ensemble (``--posterior-out``)."""
    check_executor(workers, scheduler)
    rep = run_calibration(spec, out, workers=workers, scheduler=scheduler, resume=resume,
                          scenario_out=scenario_out, fmt=fmt, progress=progress, budget=budget,
                          posterior_out=posterior_out)
    if plot and isinstance(rep, SmcReport):
        plots = Path(rep.out) / "plots"
        rep.figures.append(calibration_figure(rep.targets, plots / "calibration.png", rep.calibration_title,
                                              rows=SMC_ROWS))
        rep.figures.append(smc_posterior_figure(rep.posterior, rep.fit, plots / "posterior.png", rep.posterior_title))
    elif plot:
        plots = Path(rep.out) / "plots"
        rep.figures.append(calibration_figure(rep.targets, plots / "calibration.png", rep.calibration_title))
        rep.figures.append(posterior_figure(rep.samples, rep.fit, plots / "posterior.png", rep.posterior_title))
    return rep
