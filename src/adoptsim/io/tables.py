"""Tables on disk, one data contract for all (docs/outputs.md): Parquet or CSV, written
atomically; months as ``date32`` (the first of the month) in Parquet and ISO dates
(``2025-01-01``) in CSV; a missing value is null, never ``''``; numbers are numbers; each
column's description and unit sit in the Parquet schema (field metadata ``description``,
``unit``). Read back, the frame is as it was written (dates as datetime64, keyless metrics with
key ``''`` in memory)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_write_with
from .columns import describe

FORMATS = ("parquet", "csv")
#: Text columns that are categories in memory; a null there reads back as ''.
LABELS = ("scope", "scope_id", "metric", "key")


def on_disk(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as stored: dates as datetime64 (first of the month), '' as null in text columns.
    (A shallow copy: columns are replaced, never changed in place, so ``df`` is untouched and a
    table of tens of millions of rows is not copied whole.)"""
    out = df.copy(deep=False)
    if "date" in out:
        out["date"] = pd.to_datetime(out["date"])
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            # stays a category ('' dropped: null), decoded to strings by Arrow (to_arrow), which
            # is far faster than Python strings for the tens of millions of rows of an ensemble
            out[col] = s.cat.remove_categories([""]) if "" in s.cat.categories else s
        elif s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out[col] = s.astype(object).where(~s.map(lambda v: isinstance(v, str) and v == ""), None)
    return out


def to_arrow(df: pd.DataFrame, meta: dict | None = None) -> pa.Table:
    """An Arrow table of ``df`` under the contract: ``date`` as date32, nulls for '', each
    field's description and unit, and ``meta`` as JSON under the schema key ``adoptsim``."""
    table = pa.Table.from_pandas(on_disk(df), preserve_index=False)
    fields = []
    for f in table.schema:
        if pa.types.is_dictionary(f.type):  # a category: stored as plain strings
            f = f.with_type(pa.string() if pa.types.is_large_string(f.type.value_type) else f.type.value_type)
        if f.name == "date" and pa.types.is_timestamp(f.type):
            f = f.with_type(pa.date32())
        text, unit = describe(f.name)
        fields.append(f.with_metadata({"description": text, "unit": unit}))
    schema_meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"pandas"}
    if meta is not None:
        schema_meta[b"adoptsim"] = json.dumps(meta, sort_keys=True, default=str).encode()
    schema = pa.schema(fields, metadata=schema_meta)
    return pa.Table.from_arrays([c.cast(f.type) for c, f in zip(table.columns, schema)], schema=schema)


#: Rows converted to Arrow at a time when writing a large Parquet table (a multiple of the
#: default row group, 1 Mi rows, so the row groups are those of one write): the peak memory of
#: writing an ensemble's time series is one chunk's Arrow copy, not the whole table's.
CHUNK_ROWS = 2 * 1024 * 1024


def write_table(df: pd.DataFrame, path_stem: Path, fmt: str, meta: dict | None = None) -> Path:
    """Write a table as ``<stem>.parquet`` or ``<stem>.csv`` atomically; return the path."""
    path = Path(path_stem).with_suffix("." + fmt)

    def write(tmp: str) -> None:
        if fmt == "parquet" and len(df) > CHUNK_ROWS:
            first = to_arrow(df.iloc[:CHUNK_ROWS], meta)
            with pq.ParquetWriter(tmp, first.schema) as writer:
                writer.write_table(first)
                del first
                for start in range(CHUNK_ROWS, len(df), CHUNK_ROWS):
                    part = to_arrow(df.iloc[start:start + CHUNK_ROWS], meta)
                    writer.write_table(part if part.schema.equals(writer.schema, check_metadata=True)
                                       else part.cast(writer.schema))
        elif fmt == "parquet":
            pq.write_table(to_arrow(df, meta), tmp)
        else:
            out = on_disk(df)
            if "date" in out:
                out["date"] = out["date"].dt.strftime("%Y-%m-%d")
            out.to_csv(tmp, index=False)

    return atomic_write_with(path, write)


def from_arrow(table: pa.Table) -> pd.DataFrame:
    """A frame of a table written under the contract: dates as datetime64[ms], labels as
    categories with '' for null."""
    import pyarrow.compute as pc

    for col in LABELS:  # dictionary-encoded by Arrow: categories without Python strings per row
        if col in table.column_names and (pa.types.is_string(table.schema.field(col).type)
                                          or pa.types.is_large_string(table.schema.field(col).type)):
            i = table.column_names.index(col)
            table = table.set_column(i, col, pc.dictionary_encode(pc.fill_null(table.column(col), "")))
    df = table.to_pandas(date_as_object=False)
    for col in LABELS:
        if col in df:
            s = df[col]
            if not isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype(object).where(s.notna(), "").astype(str).astype("category")
            cats = s.cat.categories
            df[col] = s.cat.set_categories(pd.Index(sorted(map(str, cats)), dtype=str)) if len(cats) else s
    return df


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one Parquet table of adoptsim (see :func:`from_arrow`)."""
    return from_arrow(pq.read_table(path, columns=columns))


def read_table(path_stem: Path) -> pd.DataFrame:
    """Read ``<stem>.parquet`` or ``<stem>.csv`` (raise FileNotFoundError if neither exists)."""
    for fmt in FORMATS:
        p = Path(path_stem).with_suffix("." + fmt)
        if p.exists():
            if fmt == "parquet":
                return read_parquet(p)
            df = pd.read_csv(p, keep_default_na=False, na_values=[""])
            for col in df.columns.difference(["date", *LABELS]):
                if not pd.api.types.is_numeric_dtype(df[col]) and df[col].dtype != bool:
                    converted = pd.to_numeric(df[col].astype(object).replace("", np.nan), errors="coerce")
                    if converted.notna().sum() == df[col].notna().sum():
                        df[col] = converted
            if "date" in df:
                df["date"] = pd.to_datetime(df["date"], format="ISO8601").astype("datetime64[ms]")
            for col in LABELS:
                if col in df:
                    df[col] = df[col].fillna("").astype(str).astype("category")
            return df
    raise FileNotFoundError(path_stem)
