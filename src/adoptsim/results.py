"""Results folders: tidy tables, summary, manifest, atomic writes, loading results back.

A results folder (DESIGN §2) holds ``timeseries.parquet`` (or ``.csv``), ``summary.parquet``
(or ``.csv``), ``manifest.json``, ``scenario.resolved.toml`` and ``plots/``. It is written into
a hidden temporary folder beside its destination and renamed into place only when complete,
so an interrupted run never leaves a half-written results folder.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import __version__
from .errors import AdoptsimError
from .scenario import Scenario

QUANTILES = (0.1, 0.5, 0.9)
FORMATS = ("parquet", "csv")


# ---- atomic file operations --------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _public(path: str | Path, folder: bool = False) -> None:
    """Give a temporary file or folder the permissions a plain open()/mkdir would (mkstemp and
    mkdtemp make them private to the user)."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _public(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_table(df: pd.DataFrame, path_stem: Path, fmt: str) -> Path:
    """Write a table as ``<stem>.parquet`` or ``<stem>.csv`` atomically; return the path."""
    path = path_stem.with_suffix("." + fmt)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            out = df.copy()
            if "date" in out:
                out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m")
            out.to_csv(tmp, index=False)
        _public(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_table(path_stem: Path) -> pd.DataFrame:
    for fmt in FORMATS:
        p = path_stem.with_suffix("." + fmt)
        if p.exists():
            if fmt == "parquet":
                return pd.read_parquet(p)
            df = pd.read_csv(p, keep_default_na=False, na_values=[])
            for col in df.columns.difference(["date", "scope", "scope_id", "metric", "key"]):
                if not pd.api.types.is_numeric_dtype(df[col]):  # "" = undefined (the first month's open lag)
                    df[col] = pd.to_numeric(df[col].astype(object).replace("", np.nan))
            if "date" in df:
                df["date"] = pd.to_datetime(df["date"], format="%Y-%m")
            for col in ("scope", "scope_id", "metric", "key"):
                if col in df:
                    df[col] = df[col].astype(str).astype("category")
            return df
    raise FileNotFoundError(path_stem)


def check_out_dir(out: Path, allowed: bool, hint: str) -> bool:
    """Check an ``--out`` folder before anything is written: it must be a folder (or not exist
    yet; missing parents are created later), and an existing non-empty one is an error unless
    ``allowed`` (``--overwrite``, ``--resume``); ``hint`` says how to allow it. Returns whether
    the folder already holds something."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AdoptsimError(f"{out}: --out: exists and is not a folder")
    busy = out.exists() and any(out.iterdir())
    if busy and not allowed:
        raise AdoptsimError(f"{out}: --out: folder exists and is not empty; {hint}, or choose another --out")
    return busy


def prepare_out_dir(out: Path | None, default: Path, overwrite: bool) -> Path:
    """Where to write: ``out`` if given (an existing non-empty folder needs ``overwrite``),
    else ``default``, or ``default-2``, ``-3``… if it exists: never silently overwrite."""
    if out is not None:
        check_out_dir(out, overwrite, "pass --overwrite to replace it")
        return Path(out)
    candidate, k = Path(default), 2
    while candidate.exists():
        candidate = Path(f"{default}-{k}")
        k += 1
    return candidate


def publish_dir(build: Callable[[Path], None], out: Path) -> Path:
    """Build a folder with ``build(tmp)`` in a temporary folder beside ``out`` and move it into
    place atomically (an existing ``out`` is replaced only after the new one is complete)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        build(tmp)
        _public(tmp, folder=True)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# ---- content -----------------------------------------------------------------------------

def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Quantiles across replicates at each December and at the final month.

    Columns: ``date, scope, scope_id, metric, key, n, mean, q10, q50, q90``.
    """
    dates = pd.to_datetime(frame["date"])
    final = dates.max()
    pick = (dates.dt.month == 12) | (dates == final)
    sub = frame.loc[pick]
    g = sub.groupby(["date", "scope", "scope_id", "metric", "key"], observed=True, sort=True)["value"]
    out = g.agg(n="count", mean="mean").reset_index()
    qs = g.quantile(list(QUANTILES)).unstack(-1)
    qs.columns = [f"q{int(round(q * 100)):02d}" for q in QUANTILES]
    out = out.merge(qs.reset_index(), on=["date", "scope", "scope_id", "metric", "key"])
    for col in ("scope", "scope_id", "metric", "key"):
        out[col] = out[col].astype(str)
    return out


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"adoptsim": __version__, "python": platform.python_version()}
    for pkg in ("mesa", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "matplotlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def manifest(scenario: Scenario, scenario_file: str, seed: int, replicates: int, fmt: str,
             elapsed: float) -> dict:
    return {
        "kind": "run",
        "scenario": scenario.meta.name,
        "description": scenario.meta.description,
        "scenario_file": str(scenario_file),
        "scenario_hash": scenario.digest(),
        "seed": int(seed),
        "replicates": int(replicates),
        "start": scenario.meta.start,
        "months": scenario.meta.months,
        "format": fmt,
        "policies": [{"name": p.name, "type": p.type, "start": p.start, "end": p.end} for p in scenario.policies],
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_seconds": round(float(elapsed), 3),
        "versions": versions(),
    }


def write_run(tmp: Path, frame: pd.DataFrame, scenario: Scenario, meta: dict, fmt: str) -> None:
    """Fill a (temporary) results folder."""
    if fmt not in FORMATS:
        raise AdoptsimError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    write_table(frame, tmp / "timeseries", fmt)
    write_table(summarise(frame), tmp / "summary", fmt)
    atomic_write_text(tmp / "scenario.resolved.toml", scenario.to_toml())
    atomic_write_text(tmp / "manifest.json", json.dumps(meta, indent=2) + "\n")


@dataclass
class Results:
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
    return Results(path=path, frame=frame, manifest=meta)
