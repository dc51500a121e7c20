"""Sweep folders (``adoptsim sweep``): reading them back, their run index, folder kinds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import AdoptsimError
from .manifest import read_manifest
from .tables import read_parquet

#: Folder kinds recorded in ``manifest.json`` (``kind``) by the commands that write them.
FOLDER_KINDS = ("run", "sweep", "compare", "sensitivity", "target", "calibration", "discovery")


@dataclass
class SweepResults:
    """A finished sweep folder: manifest and the runs, summary and endpoints tables."""

    path: Path
    manifest: dict
    runs: pd.DataFrame
    summary: pd.DataFrame
    endpoints: pd.DataFrame

    def shard(self, key: str) -> pd.DataFrame:
        """The stored time series of one run."""
        return read_parquet(self.path / "runs" / f"{key}.parquet")


def folder_kind(path: str | Path) -> str | None:
    """The kind of an output folder (``run``, ``sweep``, ...) from its manifest, or None."""
    man = read_manifest(Path(path))
    kind = man.get("kind") if isinstance(man, dict) else None
    return kind if isinstance(kind, str) else None


def is_sweep_folder(path: str | Path) -> bool:
    return folder_kind(path) == "sweep"


def load_sweep(path: str | Path) -> SweepResults:
    """Load a finished sweep folder; clear errors otherwise."""
    path = Path(path)
    try:
        meta = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise AdoptsimError(f"{path}: not a sweep folder: {exc}") from None
    if meta.get("status") != "complete":
        raise AdoptsimError(f"{path}: the sweep stored there did not finish; run 'adoptsim sweep "
                            f"{meta.get('experiment_file', 'EXPERIMENT')} --out {path} --resume' first")
    try:
        return SweepResults(path=path, manifest=meta, runs=read_parquet(path / "runs.parquet"),
                            summary=read_parquet(path / "summary.parquet"),
                            endpoints=read_parquet(path / "endpoints.parquet"))
    except (OSError, ValueError) as exc:
        raise AdoptsimError(f"{path}: cannot read sweep tables: {exc}") from None


def read_index(path: Path) -> dict[str, dict]:
    """The run index of a sweep (``runs.index.jsonl``): run key -> its last record. Lines cut
    short by a kill are skipped."""
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
            out[rec["key"]] = rec
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return out
