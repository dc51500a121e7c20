"""``adoptsim rerun``: run again what a results folder (``adoptsim run``) or a sweep folder
(``adoptsim sweep``) holds — from its own files only (``scenario.resolved.toml``, the manifest's
seed, replicates and format; ``experiment.toml``) — into a new folder, and check that every
number is identical (docs/cli.md)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import AdoptsimError
from ..experiments.loader import load_experiment
from ..experiments.runner import run_sweep
from ..io.atomic import prepare_out_dir
from ..io.manifest import read_manifest
from ..io.tables import read_parquet, read_table
from .run import run_scenario

#: Columns that record how long a run took, not what it computed: not compared.
TIMING = ("duration", "cpu")


@dataclass
class RerunReport:
    """Where the rerun went, what was compared, and what differed (empty when identical)."""

    out: Path
    checked: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def same_table(rep: RerunReport, name: str, a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Compare two tables exactly (values, dtypes, order), timing columns left out."""
    a, b = a.drop(columns=[c for c in TIMING if c in a]), b.drop(columns=[c for c in TIMING if c in b])
    rep.checked.append(f"{name} ({len(a)} rows)")
    try:
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)
    except AssertionError as exc:
        rep.differences.append(f"{name}: {str(exc).splitlines()[0]}")


def rerun_run(folder: Path, out: Path, progress=None) -> RerunReport:
    man = read_manifest(folder) or {}
    fmt = man.get("format", "parquet")
    scen = folder / "scenario.resolved.toml"
    if not scen.exists() or "seed" not in man or "replicates" not in man:
        raise AdoptsimError(f"{folder}: cannot rerun: scenario.resolved.toml or the manifest's seed/replicates missing")
    ens = man.get("ensemble")  # the same ensemble file and members, or none
    run_scenario(scen, seed=man["seed"], replicates=man["replicates"], out=out, fmt=fmt,
                 plots=(folder / "plots").is_dir(), progress=progress,
                 ensemble=ens["file"] if ens else "none", members=ens["members"] if ens else None)
    rep = RerunReport(out)
    new = read_manifest(out) or {}
    if new.get("scenario_hash") != man.get("scenario_hash"):
        rep.differences.append("scenario_hash: the resolved scenario does not hash as the original")
    if ens and (new.get("ensemble") or {}).get("sha256") != ens.get("sha256"):
        rep.differences.append(f"ensemble: {ens['file']} is not the posterior file the original ran (SHA-256 differs)")
    for name in ("timeseries", "summary", *(("members",) if ens else ())):
        same_table(rep, name, read_table(folder / name), read_table(out / name))
    return rep


def rerun_sweep(folder: Path, out: Path, workers: int | None, scheduler: str | None, progress=None) -> RerunReport:
    exp = load_experiment(folder / "experiment.toml")
    run_sweep(exp, out, workers=workers, scheduler=scheduler, progress=progress)
    rep = RerunReport(out)
    for name in ("runs", "endpoints", "summary"):
        same_table(rep, name, read_parquet(folder / f"{name}.parquet"), read_parquet(out / f"{name}.parquet"))
    old = sorted(p.name for p in (folder / "runs").glob("*.parquet"))
    if old != sorted(p.name for p in (out / "runs").glob("*.parquet")):
        rep.differences.append("runs/: the run keys differ")
        return rep
    for name in old:
        a, b = read_parquet(folder / "runs" / name), read_parquet(out / "runs" / name)
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        except AssertionError as exc:
            rep.differences.append(f"runs/{name}: {str(exc).splitlines()[0]}")
    rep.checked.append(f"{len(old)} run shards")
    return rep


def rerun(folder: str | Path, out: str | Path | None = None, overwrite: bool = False, workers: int | None = None,
          scheduler: str | None = None, progress=None) -> RerunReport:
    """Rerun a results or sweep folder into ``out`` (default ``FOLDER-rerun``, or ``-2``... if
    it exists) and compare; a sweep folder that did not finish is refused."""
    folder = Path(folder)
    man = read_manifest(folder) or {}
    kind = man.get("kind")
    target = prepare_out_dir(Path(out) if out is not None else None, Path(f"{folder}-rerun"), overwrite)
    if kind == "run":
        return rerun_run(folder, target, progress)
    if kind == "sweep" and man.get("status") == "complete":
        if target.exists():  # --overwrite of a sweep folder: a sweep fills its folder run by run
            shutil.rmtree(target)
        return rerun_sweep(folder, target, workers, scheduler, progress)
    raise AdoptsimError(f"{folder}: adoptsim rerun takes a run results folder or a finished sweep folder")
