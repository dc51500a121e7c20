"""Turning pydantic validation errors into :class:`~adoptsim.errors.Problem` lines.

Used for every input file: scenarios (:func:`adoptsim.core.schema.parse_scenario`), and the
experiment, target and calibration files of :mod:`adoptsim.experiments`. A problem names the file,
the field (with ids instead of list positions where the entry has one: ``nations.BR.optimism``)
and what was expected; an unknown key gets a did-you-mean from the fields of the model that holds it.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import Problem, did_you_mean


def _label(raw: Any, loc: tuple) -> str:
    """Render a pydantic location with ids instead of list positions: nations.BR.optimism."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int) and isinstance(node, list):
            entry = node[item] if item < len(node) else None
            ident = None
            if isinstance(entry, dict):
                ident = entry.get("id", entry.get("name"))
            parts.append(str(ident) if isinstance(ident, str) and ident else f"[{item}]")
            node = entry
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts).replace(".[", "[")


def _model_in(ann: Any) -> Any:
    """The pydantic model inside an annotation: M, list[M], dict[str, M] -> ("dict", M), Optional[M]."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is dict and len(args) == 2:
        return ("dict", _model_in(args[1]))
    for a in args:
        found = _model_in(a)
        if found is not None:
            return found
    return None


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model that holds the key at ``loc`` (for did-you-mean)."""
    node: Any = model
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        if isinstance(node, tuple):  # the values of a dict of models (sectors)
            node = node[1]
            continue
        field = node.model_fields.get(item) if node is not None else None
        if field is None:
            return []
        node = _model_in(field.annotation)
    return list(node.model_fields) if isinstance(node, type) else []


def pydantic_message(err: dict, allowed: list[str]) -> str:
    """One pydantic error as a message: unknown keys with a did-you-mean from ``allowed``."""
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        return f"unknown key {key!r}{did_you_mean(key, allowed)}"
    if kind == "missing":
        return "required field is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    got = err.get("input")
    if kind not in ("model_type",) and not isinstance(got, (dict, list)) and repr(got) not in msg:
        msg += f" (got {got!r})"
    return msg


def problems_from(exc: ValidationError, file: str, raw: Any, model: type[BaseModel],
                  prefix: tuple = ()) -> list[Problem]:
    """Problems of a scenario-like document: list entries labelled by their id (``nations.BR``)."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        label = _label(raw, loc)
        out.append(Problem(file, ".".join(str(p) for p in prefix + (label,)) if prefix else label,
                           pydantic_message(err, _allowed_keys(model, loc))))
    return out


def indexed_problems(exc: ValidationError, file: str, model: type[BaseModel]) -> list[Problem]:
    """Problems of a non-scenario input file (experiment, calibration spec, target file): list
    entries are labelled by position (``factors[0].path``), did-you-mean from the model that
    holds the key."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        label = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        out.append(Problem(file, label, pydantic_message(err, _allowed_keys(model, loc))))
    return out


