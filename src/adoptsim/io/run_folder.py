"""Results folders of ``adoptsim run``: writing one, loading one back.

A results folder (docs/outputs.md) holds ``timeseries.parquet`` (or ``.csv``),
``summary.parquet`` (or ``.csv``), ``members.parquet`` (an ensemble run's members), ``manifest.json``, ``scenario.resolved.toml`` and
``plots/``. It is written into a hidden temporary folder beside its destination and renamed into
place only when complete (:func:`adoptsim.io.atomic.publish_dir`), so an interrupted run never
leaves a half-written results folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.schema import Scenario
from ..errors import AdoptsimError
from .atomic import atomic_write_text
from .manifest import write_manifest
from .tables import FORMATS, read_table, write_table


def check_format(fmt: str) -> None:
    """A table format of results folders (``parquet``, ``csv``), else a one-line error."""
    if fmt not in FORMATS:
        raise AdoptsimError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")


def write_run(tmp: Path, frame: pd.DataFrame, summary: pd.DataFrame, scenario: Scenario, manifest: dict,
              fmt: str, members: pd.DataFrame | None = None, timeseries: bool = True) -> None:
    """Fill a (temporary) results folder with the tables (``members`` too, for an ensemble run),
    the resolved scenario and the manifest (``timeseries=False``: all but the time series, which
    the caller writes itself, e.g. in a thread while it writes the rest)."""
    check_format(fmt)
    if timeseries:
        write_table(frame, tmp / "timeseries", fmt)
    write_table(summary, tmp / "summary", fmt)
    if members is not None:
        write_table(members, tmp / "members", fmt)
    atomic_write_text(tmp / "scenario.resolved.toml", scenario.to_toml())
    write_manifest(tmp, manifest)


@dataclass
class Results:
    """A loaded results folder: its path, tidy time series and manifest."""

    path: Path
    frame: pd.DataFrame
    manifest: dict


def load_results(path: str | Path) -> Results:
    """Load a results folder written by ``adoptsim run``; clear errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise AdoptsimError(f"{path}: results folder not found")
    if not path.is_dir():
        raise AdoptsimError(f"{path}: expected a results folder (made by 'adoptsim run'), got a file")
    mpath = path / "manifest.json"
    if not mpath.exists():
        raise AdoptsimError(f"{path}: not a results folder: manifest.json is missing")
    try:
        meta = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdoptsimError(f"{mpath}: unreadable manifest: {exc}") from None
    try:
        frame = read_table(path / "timeseries")
    except FileNotFoundError:
        raise AdoptsimError(f"{path}: not a results folder: timeseries.parquet (or .csv) is missing") from None
    except Exception as exc:  # a corrupt table: say which file
        raise AdoptsimError(f"{path}: cannot read timeseries table: {exc}") from None
    if "member" not in frame:  # a folder written before ensembles: one member
        frame.insert(0, "member", np.zeros(len(frame), dtype=np.int32))
    return Results(path=path, frame=frame, manifest=meta)
