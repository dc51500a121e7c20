"""Calibration (``adoptsim calibrate``): fit a scenario's assumed parameters to observed targets
by ABC rejection over a Latin hypercube (docs/experiments.md).

:mod:`.targets` (target files and the distance), :mod:`.spec` (calibration specs),
:mod:`.abc` (the fit: :func:`~.abc.run_calibration`), :mod:`.scenario_file` (the calibrated
scenario). Figures are drawn by :mod:`adoptsim.workflows.calibration`.
"""
