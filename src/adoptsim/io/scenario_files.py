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
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..core.schema import Scenario, parse_scenario
from ..errors import InputError, Problem

#: Lists merged entry by entry under ``extends``, and the key that identifies an entry.
MERGE_KEYS = {"nations": "id", "vendors": "id", "policies": "name"}


def read_toml(path: Path, display: str | None = None) -> dict:
    """Read one TOML file, turning every failure into an :class:`InputError` naming the file."""
    name = display or str(path)
    if not path.exists():
        raise InputError([Problem(name, "", "file not found")])
    if path.is_dir():
        raise InputError([Problem(name, "", "is a directory, expected a TOML file")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(name, "", f"cannot read file: {exc.strerror}")]) from None
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


def load_raw(path: str | Path, _stack: tuple[Path, ...] = ()) -> dict:
    """Read a scenario file with its ``extends`` chain merged, as plain data (not validated)."""
    path = Path(path)
    display = str(path)
    data = read_toml(path, display)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent.strip():
        raise InputError([Problem(display, "extends", f"expected a relative path string, got {parent!r}")])
    target = (path.parent / parent)
    key = target.resolve()
    chain = _stack + (path.resolve(),)
    if key in chain:
        cycle = " -> ".join(p.name for p in chain + (key,))
        raise InputError([Problem(display, "extends", f"extends cycle: {cycle}")])
    if not target.exists():
        raise InputError([Problem(display, "extends", f"file not found: {parent!r} (looked for {target})")])
    return deep_merge(load_raw(target, chain), data)




def load_scenario(path: str | Path) -> Scenario:
    """Load, merge (``extends``) and validate a scenario file."""
    return parse_scenario(load_raw(path), str(path))
