"""What an input is: every input file and output folder of adoptsim is recognised by kind, and a
command given the wrong kind says in one line what it got and which command takes it
(docs/cli.md, "Inputs by kind")."""

from __future__ import annotations

from pathlib import Path

from ..errors import AdoptsimError, InputError
from ..io.manifest import read_manifest
from ..io.scenario_files import read_toml

#: Top-level tables or keys of a scenario file (core.schema.Scenario and ``extends``).
SCENARIO_KEYS = {"meta", "adoption", "choice", "network", "communities", "dynamics", "sectors", "nations",
                 "vendors", "policies", "extends"}

#: Each kind in words, and the command(s) that take it.
KINDS: dict[str, tuple[str, str]] = {
    "scenario": ("a scenario file", "adoptsim run FILE"),
    "experiment": ("an experiment file", "adoptsim sweep FILE"),
    "sensitivity-experiment": ("a sensitivity experiment file", "adoptsim sensitivity FILE (or adoptsim sweep FILE)"),
    "target-experiment": ("a target experiment file", "adoptsim target FILE"),
    "calibration-spec": ("a calibration spec", "adoptsim calibrate FILE"),
    "calibration-targets": ("a calibration targets file",
                            "a calibration spec's 'targets' (check it with adoptsim validate FILE)"),
    "calibration-priors": ("a calibration prior file",
                           "a calibration spec's 'priors' (check it with adoptsim validate FILE)"),
    "unknown-toml": ("a TOML file that is no adoptsim input", "adoptsim validate FILE to see why"),
    "run": ("a run results folder", "adoptsim plot / compare / rerun / report FOLDER"),
    "sweep": ("a sweep folder", "adoptsim plot / discover / rerun FOLDER"),
    "running-sweep": ("a sweep folder that did not finish", "adoptsim sweep EXPERIMENT --out FOLDER --resume"),
    "compare": ("a compare folder", "its tables and compare.png (nothing reads it back)"),
    "sensitivity": ("a sensitivity folder", "adoptsim plot / discover FOLDER/sweep"),
    "target": ("a target folder", "adoptsim plot / discover FOLDER/evaluations/NN"),
    "calibration": ("a calibration folder", "adoptsim run FOLDER/calibrated.toml"),
    "discovery": ("a discovery folder", "its tables and discovery.png (nothing reads it back)"),
    "folder": ("a folder that adoptsim did not write (no manifest.json)", "adoptsim run / sweep on an input file"),
}
FILE_KINDS = ("scenario", "experiment", "sensitivity-experiment", "target-experiment", "calibration-spec",
              "calibration-targets", "calibration-priors", "unknown-toml")


def file_kind(raw: dict) -> str:
    """What an input TOML file is: scenario, experiment (sensitivity-experiment when its design is
    sobol or oat), target-experiment (an experiment with [target]), calibration-spec,
    calibration-targets, calibration-priors, or unknown-toml."""
    if isinstance(raw.get("priors"), list) and not SCENARIO_KEYS & set(raw):
        return "calibration-priors"
    if "scenario" in raw and ("parameters" in raw or isinstance(raw.get("priors"), str)):
        return "calibration-spec"
    if "scenario" in raw and ("factors" in raw or "design" in raw or "replicates" in raw):
        if "target" in raw:
            return "target-experiment"
        method = raw.get("design", {}).get("method") if isinstance(raw.get("design"), dict) else None
        return "sensitivity-experiment" if method in ("sobol", "oat") else "experiment"
    if isinstance(raw.get("targets"), list) and not SCENARIO_KEYS & set(raw):
        return "calibration-targets"
    if SCENARIO_KEYS & set(raw):
        return "scenario"
    return "unknown-toml"


def folder_kind(path: Path) -> str:
    """The kind of an output folder: its manifest's ``kind`` (``running-sweep`` for an
    unfinished sweep; ``calibration`` from ``fit.json``), else ``folder``."""
    man = read_manifest(path)
    if isinstance(man, dict) and isinstance(man.get("kind"), str):
        if man["kind"] == "sweep" and man.get("status") != "complete":
            return "running-sweep"
        return man["kind"]
    return "calibration" if (path / "fit.json").exists() else "folder"


def input_kind(path: str | Path) -> str:
    """The kind of a file or folder (see :data:`KINDS`); raises AdoptsimError when it does not
    exist and InputError when a file is no readable TOML."""
    p = Path(path)
    if not p.exists():
        raise AdoptsimError(f"{p}: not found")
    if p.is_dir():
        return folder_kind(p)
    return file_kind(read_toml(p, str(p)))


def expect_kind(path: str | Path, accepted: tuple[str, ...], command: str, hint: str = "") -> str:
    """Check that ``path`` is one of the ``accepted`` kinds for ``adoptsim command``; otherwise
    raise one line: what it is, which command takes it (and ``hint``). Returns the kind."""
    try:
        kind = input_kind(path)
    except InputError:
        if Path(path).suffix.lower() == ".toml" or not Path(path).is_file():  # a device, FIFO, socket: say so
            raise
        raise AdoptsimError(f"{path}: not a TOML file or an adoptsim folder; "
                            f"'adoptsim {command}' takes {' or '.join(KINDS[a][0] for a in accepted)}") from None
    if kind in accepted:
        return kind
    what, use = KINDS[kind]
    takes = " or ".join(KINDS[a][0] for a in accepted)
    use = use.replace("FILE", str(path)).replace("FOLDER", str(path))
    raise AdoptsimError(f"{path}: this is {what}, not {takes}{f' ({hint})' if hint else ''}: use {use}")
