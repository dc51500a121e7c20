"""``adoptsim validate``: check input files of every kind — scenario, experiment, target
experiment, calibration spec, calibration target file (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path

from ..core.schema import parse_scenario
from ..io.scenario_files import load_raw, read_toml


def file_kind(raw: dict) -> str:
    """What an input TOML file is: scenario, experiment, target (experiment with [target]),
    calibration (spec) or targets (a calibration target file)."""
    if "scenario" in raw and "parameters" in raw:
        return "calibration"
    if "scenario" in raw and ("factors" in raw or "design" in raw or "replicates" in raw):
        return "target" if "target" in raw else "experiment"
    if isinstance(raw.get("targets"), list) and not {"nations", "vendors", "extends"} & set(raw):
        return "targets"
    return "scenario"


def validate_file(file: str | Path) -> str:
    """Load and check one input file as its kind (:func:`file_kind`) requires; return the kind.
    Raises AdoptsimError (an InputError lists every problem) when the file is not valid.

    The loaders of experiments are imported only for their kind: checking a scenario does not
    load the runner (Mesa), which keeps ``adoptsim validate scenario.toml`` fast."""
    f = str(file)
    kind = file_kind(read_toml(Path(f), f))
    if kind == "target":
        from ..experiments.target import load_target

        load_target(f)
    elif kind == "experiment":
        from ..experiments.loader import load_experiment

        load_experiment(f)
    elif kind == "calibration":
        from ..experiments.calibration.spec import load_spec

        load_spec(f)
    elif kind == "targets":
        from ..experiments.calibration.targets import load_targets

        load_targets(f)
    else:
        parse_scenario(load_raw(f), f)
    return kind
