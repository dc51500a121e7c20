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
#: Values the Parquet writer encodes at a time (its default, 1024, spends more time per batch —
#: statistics of the label columns, page checks — than on the values; pages stay near their
#: 1 MB target: one batch of floats is 512 kB).
WRITE_BATCH = 64 * 1024


def _label_columns(df: pd.DataFrame) -> list[str]:
    """The columns written from their category codes (:func:`write_parquet`): categories of
    text with at least one label besides ''."""
    out = []
    for col in df.columns:
        dtype = df[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            cats = dtype.categories
            if (len(cats) and (cats.dtype == object or pd.api.types.is_string_dtype(cats.dtype))
                    and all(isinstance(c, str) for c in cats) and any(c != "" for c in cats)):
                out.append(col)
    return out


def _dictionary(cat: pd.Series) -> pa.DictionaryArray:
    """A category column as an Arrow dictionary array of its labels, '' (and missing) as null."""
    cats = [str(c) for c in cat.cat.categories]
    codes = cat.cat.codes.to_numpy()
    if "" in cats or (codes < 0).any():
        keep = [c for c in cats if c != ""]
        remap = np.array([keep.index(c) if c != "" else -1 for c in cats] + [-1], dtype=codes.dtype)
        codes = remap[codes]  # code -1 (missing) picks the appended -1
        cats = keep
        indices = pa.array(codes, mask=codes < 0)
    else:
        indices = pa.array(codes)
    return pa.DictionaryArray.from_arrays(indices, pa.array(cats, type=pa.string()))


def write_parquet(df: pd.DataFrame, where, meta: dict | None = None) -> None:
    """Write ``df`` as Parquet under the contract (:func:`to_arrow`: the same schema, field and
    file metadata, the same values read back), fast for tens of millions of rows: label columns
    go to the Parquet writer as dictionaries of their categories (no Python or Arrow string per
    row; Parquet stores such columns dictionary-encoded anyway), the rows in chunks of
    :data:`CHUNK_ROWS`, and float columns are not dictionary-encoded (hashing every value of an
    ensemble's time series costs more than it saves). The schema stored for Arrow readers
    (``ARROW:schema``) is the contract's — label columns as plain strings."""
    import base64

    labels = _label_columns(df)
    rest = [c for c in df.columns if c not in labels]
    schema = None
    writer = None
    try:
        for start in range(0, max(len(df), 1), CHUNK_ROWS):
            part = df.iloc[start:start + CHUNK_ROWS]
            plain = to_arrow(part[rest], meta)
            if schema is None:
                fields = {f.name: f for f in plain.schema}
                for col in labels:
                    text, unit = describe(col)
                    fields[col] = pa.field(col, pa.string()).with_metadata({"description": text, "unit": unit})
                schema = pa.schema([fields[c] for c in df.columns], metadata=plain.schema.metadata)
            arrays = {c: plain.column(c) for c in rest}
            arrays.update({c: _dictionary(part[c]) for c in labels})
            for f in plain.schema:  # a column whose type differs in a later chunk (say all-null)
                if not f.type.equals(schema.field(f.name).type):
                    arrays[f.name] = arrays[f.name].cast(schema.field(f.name).type)
            table = pa.Table.from_arrays([arrays[c] for c in df.columns],
                                         names=[str(c) for c in df.columns])
            if writer is None:
                floats = [f.name for f in schema if pa.types.is_floating(f.type)]
                writer = pq.ParquetWriter(where, table.schema, store_schema=False, write_batch_size=WRITE_BATCH,
                                          use_dictionary=[f.name for f in schema if f.name not in floats])
            writer.write_table(table if table.schema.equals(writer.schema) else table.cast(writer.schema))
        metadata = dict(schema.metadata or {})
        metadata[b"ARROW:schema"] = base64.b64encode(schema.serialize().to_pybytes())
        writer.add_key_value_metadata(metadata)
    finally:
        if writer is not None:
            writer.close()


def write_table(df: pd.DataFrame, path_stem: Path, fmt: str, meta: dict | None = None) -> Path:
    """Write a table as ``<stem>.parquet`` or ``<stem>.csv`` atomically; return the path."""
    path = Path(path_stem).with_suffix("." + fmt)

    def write(tmp: str) -> None:
        if fmt == "parquet":
            write_parquet(df, tmp, meta)
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
