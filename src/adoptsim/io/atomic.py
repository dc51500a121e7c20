"""Atomic writes: files via a temporary file and a rename, folders via a temporary folder.

Every output of adoptsim is written so that an interrupted command never leaves a
half-written file or results folder behind (docs/outputs.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import AdoptsimError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_public(path: str | Path, folder: bool = False) -> None:
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
        make_public(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: Path, write: Callable[[str], None]) -> Path:
    """Write ``path`` by calling ``write(tmp_name)`` on a temporary file beside it, then an
    atomic rename; the temporary file is removed on any failure."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        make_public(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
        make_public(tmp, folder=True)
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
