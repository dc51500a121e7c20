"""Experiments: many runs of the model and what is learnt from them — parameter sweeps,
sensitivity analysis, target-seeking, scenario discovery and calibration (docs/experiments.md).

Experiments draw no figures: functions that used to draw return the data a figure needs, and
:mod:`adoptsim.workflows` draws them.
"""
