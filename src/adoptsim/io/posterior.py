"""Posterior files: the ensembles of parameter sets a scenario can run over (docs/outputs.md,
"Posterior files"; docs/experiments.md, "Ensembles").

A posterior is one Parquet table, one row per member: ``member`` (int32, 0..n-1), ``weight``
(float64, >= 0, summing to 1), then one numeric column per parameter named by its factor path
(``choice.trust``, ``vendors.qwen.capability_growth``...). The Parquet key-value metadata key
``adoptsim.posterior`` holds JSON: ``format`` (1), ``scenario``, ``scenario_sha256``, ``base``
(each path's value in the calibrated scenario), ``priors``, ``method``, ``seed``,
``generations``, ``created_by``.

:func:`read_posterior` reads and checks one; every problem is one line naming the scenario file
that declared it, the field (``meta.ensemble`` or ``--ensemble``) and what was expected.
Whether a column names a field of the scenario is checked where members are applied
(:mod:`adoptsim.experiments.ensemble`). :func:`write_posterior` writes one atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError, Problem
from .atomic import atomic_write_with

#: The key of the posterior's metadata in the Parquet key-value metadata.
META_KEY = b"adoptsim.posterior"
FORMAT = 1
#: The largest posterior read (members): a guard against a wrong file, not a modelling limit.
MAX_MEMBERS = 1_000_000
#: How far the weights may sum from 1.
WEIGHT_TOLERANCE = 1e-6


@dataclass
class Posterior:
    """A checked posterior: its file, SHA-256, members table (``member, weight, <paths>``),
    parameter paths (column order) and metadata."""

    path: Path
    sha256: str
    members: pd.DataFrame
    params: list[str]
    meta: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def base(self) -> dict:
        return dict(self.meta.get("base", {}))

    def point(self, row: int) -> dict:
        """The parameter values of member row ``row`` as plain Python numbers (ints for integer
        columns)."""
        rec = self.members.iloc[row]
        out = {}
        for p in self.params:
            v = rec[p]
            out[p] = int(v) if pd.api.types.is_integer_dtype(self.members[p].dtype) else float(v)
        return out


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_posterior(path: str | Path, declared_by: str, where: str = "meta.ensemble") -> Posterior:
    """Read and check the posterior at ``path`` (declared by ``declared_by``, a scenario file or
    ``--ensemble``, in the field ``where``); raise :class:`InputError` with one line otherwise."""
    path = Path(path)

    def bad(message: str) -> InputError:
        return InputError([Problem(declared_by, where, f"{path}: {message}")])

    expected = "expected a posterior .parquet file (adoptsim calibrate; docs/outputs.md, 'Posterior files')"
    if not path.exists():
        raise bad(f"file not found; {expected}")
    if not path.is_file():
        raise bad(f"not a regular file; {expected}")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # not Parquet, truncated, unreadable
        raise bad(f"unreadable as Parquet ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                  f"{expected}") from None
    meta_raw = (table.schema.metadata or {}).get(META_KEY)
    if meta_raw is None:
        raise bad(f"no 'adoptsim.posterior' metadata; {expected}")
    try:
        meta = json.loads(meta_raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad("the 'adoptsim.posterior' metadata is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise bad(f"posterior format {meta.get('format') if isinstance(meta, dict) else None!r}; "
                  f"this adoptsim reads format {FORMAT}")
    if not isinstance(meta.get("base", {}), dict):
        raise bad("the metadata's 'base' is not a table of path -> value")
    names = table.column_names
    for col in ("member", "weight"):
        if col not in names:
            raise bad(f"no column {col!r}; a posterior has columns member, weight and one per parameter path")
    n = table.num_rows
    if n < 1:
        raise bad("no members (0 rows)")
    if n > MAX_MEMBERS:
        raise bad(f"{n} members, more than {MAX_MEMBERS}")
    params = [c for c in names if c not in ("member", "weight")]
    if not params:
        raise bad("no parameter columns (one per factor path, such as choice.trust)")
    frame = table.to_pandas()
    if not pd.api.types.is_integer_dtype(frame["member"]) or list(frame["member"]) != list(range(n)):
        raise bad(f"column 'member' must be the whole numbers 0..{n - 1} in order")
    w = frame["weight"]
    if not pd.api.types.is_float_dtype(w) or not np.isfinite(w).all() or (w < 0).any():
        raise bad("column 'weight' must hold finite numbers >= 0")
    if not math.isclose(float(w.sum()), 1.0, abs_tol=WEIGHT_TOLERANCE):
        raise bad(f"the weights sum to {float(w.sum()):.9g}, expected 1")
    for p in params:
        s = frame[p]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            raise bad(f"column {p!r} is {s.dtype}, expected numbers (float64, or int64 for whole-number fields)")
        if not np.isfinite(s.to_numpy(dtype=float)).all():
            raise bad(f"column {p!r} holds a missing or infinite value")
    frame["member"] = frame["member"].astype(np.int32)
    return Posterior(path=path, sha256=file_sha256(path), members=frame, params=params, meta=meta)


def write_posterior(path: str | Path, members: pd.DataFrame, meta: dict) -> Path:
    """Write a posterior atomically: ``members`` (``member``, ``weight``, parameter columns)
    with ``meta`` (``format`` added) under :data:`META_KEY`. Returns the path."""
    frame = members.copy()
    frame["member"] = frame["member"].astype(np.int32)
    frame["weight"] = frame["weight"].astype(np.float64)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {"format": FORMAT, **meta}
    schema_meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"pandas"}
    schema_meta[META_KEY] = json.dumps(meta, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(schema_meta)
    return atomic_write_with(Path(path), lambda tmp: pq.write_table(table, tmp))
