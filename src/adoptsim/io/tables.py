"""Tables on disk: Parquet or CSV, written atomically, read back with the same dtypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_write_with

FORMATS = ("parquet", "csv")


def write_table(df: pd.DataFrame, path_stem: Path, fmt: str) -> Path:
    """Write a table as ``<stem>.parquet`` or ``<stem>.csv`` atomically; return the path."""
    path = Path(path_stem).with_suffix("." + fmt)

    def write(tmp: str) -> None:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            out = df.copy()
            if "date" in out:
                out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m")
            out.to_csv(tmp, index=False)

    return atomic_write_with(path, write)


def read_table(path_stem: Path) -> pd.DataFrame:
    """Read ``<stem>.parquet`` or ``<stem>.csv`` (raise FileNotFoundError if neither exists)."""
    for fmt in FORMATS:
        p = Path(path_stem).with_suffix("." + fmt)
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
