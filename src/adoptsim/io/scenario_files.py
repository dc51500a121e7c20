"""Reading scenario files: TOML, ``extends`` chains, merging, then validation.

Loading a scenario file (docs/scenarios.md):

1. reads the file (missing, empty, binary and malformed files are reported with the line);
2. resolves ``extends`` (a path relative to the file): the parent is loaded first, tables are
   merged key by key, and ``[[nations]]``/``[[vendors]]``/``[[policies]]`` are merged by
   ``id``/``id``/``name`` (an entry with ``remove = true`` deletes the inherited one);
   cycles are detected;
3. validates the merged data with :func:`adoptsim.core.schema.parse_scenario`.

All problems are raised together as one :class:`~adoptsim.errors.InputError`, each rendered
``file: path.to.field: message``.

**Bounded reading.** Only regular files are read (a device, FIFO or socket is refused by its
kind, without opening it for a blocking read), at most :data:`MAX_FILE_BYTES` bytes each, and an
``extends`` chain is at most :data:`MAX_EXTENDS_DEPTH` files deep (docs/scenarios.md).
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

from ..core.schema import Scenario, parse_scenario
from ..errors import InputError, Problem

#: Lists merged entry by entry under ``extends``, and the key that identifies an entry.
MERGE_KEYS = {"nations": "id", "vendors": "id", "policies": "name"}
#: The largest input file read (scenario, experiment, spec, targets): 16 MiB.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: The longest ``extends`` chain: a file and at most this many ancestors.
MAX_EXTENDS_DEPTH = 32

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def _kind_problem(mode: int) -> str | None:
    """Why a file of this mode is not read, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, expected a TOML file"
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"is {kind}, expected a regular TOML file"


def read_bytes_bounded(path: Path, display: str | None = None, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; anything else (missing, a folder,
    a device, FIFO or socket, unreadable, too large) is an :class:`InputError` naming the file."""
    name = display or str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError([Problem(name, "", "file not found")]) from None
    except OSError as exc:
        raise InputError([Problem(name, "", f"cannot read file: {exc.strerror}")]) from None
    why = _kind_problem(st.st_mode)
    if why is None and st.st_size > limit:
        why = f"file is too large ({st.st_size} bytes; input files are at most {limit} bytes)"
    if why:
        raise InputError([Problem(name, "", why)])
    try:  # O_NONBLOCK: a file swapped for a FIFO after the stat cannot block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError([Problem(name, "", f"cannot read file: {exc.strerror}")]) from None
    with os.fdopen(fd, "rb") as fh:
        why = _kind_problem(os.fstat(fd).st_mode)
        if why:
            raise InputError([Problem(name, "", why)])
        try:
            raw = fh.read(limit + 1)
        except OSError as exc:
            raise InputError([Problem(name, "", f"cannot read file: {exc.strerror}")]) from None
    if len(raw) > limit:
        raise InputError([Problem(name, "", f"file is too large (input files are at most {limit} bytes)")])
    return raw


def read_toml(path: Path, display: str | None = None) -> dict:
    """Read one TOML file, turning every failure into an :class:`InputError` naming the file."""
    name = display or str(path)
    raw = read_bytes_bounded(Path(path), name)
    if not raw.strip():
        raise InputError([Problem(name, "", "file is empty, expected a TOML document")])
    if b"\x00" in raw:
        raise InputError([Problem(name, "", "binary file, expected a UTF-8 TOML document")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(name, "", f"not UTF-8 text (byte {exc.start}), expected a TOML document")]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([Problem(name, "", f"malformed TOML: {exc}")]) from None


def _merge_lists(parent: list, child: list, key: str) -> list:
    out = [dict(e) if isinstance(e, dict) else e for e in parent]
    pos = {e.get(key): i for i, e in enumerate(out) if isinstance(e, dict) and key in e}
    for entry in child:
        if isinstance(entry, dict) and entry.get(key) in pos:
            i = pos[entry[key]]
            if entry.get("remove") is True:
                out[i] = None
            else:
                out[i] = deep_merge(out[i], entry)
        elif isinstance(entry, dict) and entry.get("remove") is True:
            continue
        else:
            out.append(entry)
    return [e for e in out if e is not None]


def deep_merge(parent: dict, child: dict) -> dict:
    """Merge ``child`` over ``parent``: tables key by key, nations/vendors/policies by id/name."""
    out = dict(parent)
    for k, v in child.items():
        if k in MERGE_KEYS and isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = _merge_lists(out[k], v, MERGE_KEYS[k])
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def resolve_ensemble(data: dict, path: Path, display: str) -> None:
    """``[meta] ensemble`` is a path relative to the file that declares it: make it absolute
    here, before merging, so that a scenario that ``extends`` this one inherits the right file.
    ``"none"`` (any case) is kept: it switches an inherited ensemble off. Whether the file is a
    posterior is checked where it is read (:mod:`adoptsim.io.posterior`)."""
    meta = data.get("meta")
    if not isinstance(meta, dict) or "ensemble" not in meta:
        return
    value = meta["ensemble"]
    if not isinstance(value, str) or not value.strip():
        raise InputError([Problem(display, "meta.ensemble", f"expected the path of a posterior .parquet file "
                                  f"(relative to this file) or \"none\", got {value!r}")])
    if value.strip().lower() == "none":
        meta["ensemble"] = "none"
        return
    meta["ensemble"] = os.path.abspath(path.parent / value)


def load_raw(path: str | Path, _stack: tuple[Path, ...] = ()) -> dict:
    """Read a scenario file with its ``extends`` chain merged, as plain data (not validated)."""
    path = Path(path)
    display = str(path)
    data = read_toml(path, display)
    resolve_ensemble(data, path, display)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent.strip():
        raise InputError([Problem(display, "extends", f"expected a relative path string, got {parent!r}")])
    target = (path.parent / parent)
    key = target.resolve()
    chain = _stack + (path.resolve(),)
    if len(chain) > MAX_EXTENDS_DEPTH:
        raise InputError([Problem(display, "extends", f"extends chain deeper than {MAX_EXTENDS_DEPTH} files "
                                  f"(starting at {chain[0]})")])
    if key in chain:
        cycle = " -> ".join(p.name for p in chain + (key,))
        raise InputError([Problem(display, "extends", f"extends cycle: {cycle}")])
    if not os.path.lexists(target):
        raise InputError([Problem(display, "extends", f"file not found: {parent!r} (looked for {target})")])
    return deep_merge(load_raw(target, chain), data)


def load_scenario(path: str | Path) -> Scenario:
    """Load, merge (``extends``) and validate a scenario file."""
    return parse_scenario(load_raw(path), str(path))
