"""What every command shares: finding inputs (paths or bundled names) and checking their kind,
the ``--level``/``--scope`` grammar, ``--out``/``--overwrite``/``--resume`` of growing folders,
and printing a summary as text or ``--json``."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from ..errors import AdoptsimError, did_you_mean


def bundled_roots() -> list[Path]:
    """Folders that hold the bundled scenarios/ and experiments/ (installed wheel or checkout)."""
    here = Path(__file__).resolve().parent.parent
    return [p for p in (here / "bundled", here.parent.parent) if (p / "scenarios").is_dir()]


def bundled_names(folder: str) -> dict[str, Path]:
    """The bundled files of ``folder`` (scenarios, experiments, calibration) by name: file stem
    and path relative to the folder, with and without ``.toml``."""
    names: dict[str, Path] = {}
    for root in reversed(bundled_roots()):
        base = root / folder
        for f in sorted(base.rglob("*.toml")) if base.is_dir() else []:
            rel = f.relative_to(base).as_posix()
            names.update({rel: f, rel[:-5]: f})
            names.setdefault(f.stem, f)
    return names


def find_input(name: str, folders: tuple[str, ...]) -> Path:
    """``name`` as a path if it exists, else the bundled file of that name in ``folders``
    (``adoptsim run baseline``); one line with a did-you-mean otherwise."""
    p = Path(name)
    if p.exists():
        return p
    pool: dict[str, Path] = {}
    for folder in folders:
        pool = {**bundled_names(folder), **pool}
    if name in pool:
        return pool[name]
    if len(p.parts) > 1:  # a path, not a name
        raise AdoptsimError(f"{name}: file not found")
    hint = did_you_mean(p.stem if p.suffix == ".toml" else name,
                        sorted({k for k in pool if "/" not in k and not k.endswith(".toml")}), list_all=False)
    kinds = " or ".join(f[:-1] if f.endswith("s") else f + " spec" for f in folders)
    raise AdoptsimError(f"{name}: file not found, nor a bundled {kinds} of that name{hint} (see 'adoptsim list')")


def where(args, need_id: bool, many: bool) -> tuple[str, list[str]]:
    """``--level`` and ``--scope`` checked together: the level and the ids (``["world"]`` for the
    world). ``--scope`` without ``--level`` and a scope at world level are errors, never ignored."""
    level = args.level
    ids = args.scope if isinstance(args.scope, list) else ([args.scope] if args.scope is not None else [])
    if ids and level is None:
        raise AdoptsimError(f"--scope {' '.join(ids)}: say which level with --level region or --level nation")
    level = level or "world"
    if level == "world":
        if ids:
            raise AdoptsimError(f"--scope {' '.join(ids)}: does not apply at --level world")
        return level, ["world"]
    if need_id and not ids:
        raise AdoptsimError(f"--scope: name the {level} with --level {level} --scope ID")
    if not many and len(ids) > 1:
        raise AdoptsimError(f"--scope: give one {level}, got {len(ids)}")
    return level, ids


def not_applicable(flags: dict[str, object], why: str) -> None:
    """Raise for the first flag of ``flags`` (name -> value) that was given: it does not apply."""
    for name, value in flags.items():
        if value not in (None, False, []):
            raise AdoptsimError(f"{name}: does not apply {why}")


def clear_out(out: Path | None, overwrite: bool, resume: bool) -> None:
    """``--overwrite`` of a folder that fills run by run (sweep, sensitivity, calibrate): delete
    the old folder first, but only one adoptsim wrote (it has manifest.json or fit.json) or an
    empty one."""
    if overwrite and resume:
        raise AdoptsimError("--overwrite and --resume: give one or the other")
    if not overwrite or out is None or not out.exists():
        return
    if not out.is_dir():
        raise AdoptsimError(f"--out {out}: exists and is not a folder")
    if any(out.iterdir()) and not ((out / "manifest.json").exists() or (out / "fit.json").exists()):
        raise AdoptsimError(f"--out {out}: --overwrite: not a folder adoptsim wrote (no manifest.json); "
                            "not deleting it")
    shutil.rmtree(out)


def waited(args) -> float:
    """Seconds since the command started: the time the user waited."""
    return time.perf_counter() - getattr(args, "t0", time.perf_counter())


def emit(args, text: str, data: dict) -> None:
    """The summary of a command: ``text`` on stdout, or ``data`` as one JSON line with
    ``--json``; nothing with ``--quiet`` (``--json`` wins)."""
    if getattr(args, "json", False):
        print(json.dumps(data, default=str, sort_keys=True))
    elif not getattr(args, "quiet", False):
        print(text)


def warn(args, text: str) -> None:
    """A warning on stderr (also under ``--quiet``: warnings are never silenced)."""
    print(f"warning: {text}", file=sys.stderr)


def interrupted(out) -> int:
    print(f"interrupted: finished runs are stored in {out}; continue with --out {out} --resume", file=sys.stderr)
    return 130


def print_failures(errors: list[str], out: Path | None = None) -> None:
    """The first ten failed runs on stderr (and, for a sweep, where the rest are listed)."""
    for line in errors[:10]:
        print(f"failed: {line}", file=sys.stderr)
    if out is not None and len(errors) > 10:
        print(f"failed: ... and {len(errors) - 10} more (see {out / 'runs.parquet'})", file=sys.stderr)
