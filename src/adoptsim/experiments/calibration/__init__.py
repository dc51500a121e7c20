"""Calibration (``adoptsim calibrate``): fit a scenario's assumed parameters to observed targets
by ABC rejection over a Latin hypercube, or by ABC-SMC into a weighted posterior ensemble
(docs/experiments.md, docs/calibration.md).

:mod:`.targets` (target files, calibration window and the distance), :mod:`.priors` (prior
files), :mod:`.spec` (calibration specs), :mod:`.abc` (ABC rejection:
:func:`~.abc.run_calibration`, which also dispatches ABC-SMC), :mod:`.smc` (the ABC-SMC
algorithm), :mod:`.smc_run` (ABC-SMC on the sweep runner: :func:`~.smc_run.run_smc`),
:mod:`.posterior` (the posterior file: :func:`~.posterior.read_posterior`,
:func:`~.posterior.write_posterior`), :mod:`.scenario_file` (the calibrated scenario). Figures
are drawn by :mod:`adoptsim.workflows.calibration`.
"""
