"""``adoptsim validate``: check input files of every kind — scenario, experiment, target
experiment, calibration spec, calibration target file, calibration prior file (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path

from ..core.schema import parse_scenario
from ..errors import AdoptsimError
from ..io.scenario_files import load_raw, read_toml
from .kinds import KINDS, SCENARIO_KEYS, file_kind


def validate_file(file: str | Path) -> str:
    """Load and check one input file as its kind (:func:`adoptsim.workflows.kinds.file_kind`)
    requires; return the kind. Raises AdoptsimError (an InputError lists every problem) when the
    file is not valid, or is no adoptsim input at all.

    The loaders of experiments are imported only for their kind: checking a scenario does not
    load the runner (Mesa), which keeps ``adoptsim validate scenario.toml`` fast."""
    f = str(file)
    if Path(f).is_dir():
        raise AdoptsimError(f"{f}: this is a folder; 'adoptsim validate' checks input TOML files")
    kind = file_kind(read_toml(Path(f), f))
    if kind in ("target-experiment",):
        from ..experiments.target import load_target

        load_target(f)
    elif kind in ("experiment", "sensitivity-experiment"):
        from ..experiments.loader import load_experiment

        load_experiment(f)
    elif kind == "calibration-spec":
        from ..experiments.calibration.spec import load_spec

        load_spec(f)
    elif kind == "calibration-targets":
        from ..experiments.calibration.targets import load_targets

        load_targets(f)
    elif kind == "calibration-priors":
        from ..experiments.calibration.priors import load_priors

        load_priors(f)
    elif kind == "scenario":
        sc = parse_scenario(load_raw(f), f)
        if sc.meta.ensemble not in (None, "none"):  # the posterior it names: readable, its paths known
            from .run import plan_run

            plan_run(f)
    else:
        raise AdoptsimError(f"{f}: {KINDS[kind][0]}: none of a scenario's tables "
                            f"({', '.join(sorted(SCENARIO_KEYS))}), nor an experiment's 'scenario' and "
                            "'factors', nor a calibration spec's 'parameters'")
    return kind
