"""The data contract of docs/outputs.md, checked on real folders (run, CSV run, sweep, compare)
with pandas, polars and DuckDB: months are date32 (ISO dates in CSV), nulls are nulls (never
''), numbers are numbers, each column has a description in the Parquet schema, and sweep
shards name their run in every row."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adoptsim.cli import main

duckdb = pytest.importorskip("duckdb", reason="the data contract test needs duckdb (pip install -e '.[test]')")
pl = pytest.importorskip("polars", reason="the data contract test needs polars (pip install -e '.[test]')")
import pandas as pd  # noqa: E402

EXPERIMENT = """
scenario = "small.toml"
replicates = 2
seed = 7
metrics = ["adoption", "share_origin", "hhi"]
dates = ["2025-12"]
[design]
method = "list"
[[factors]]
path = "choice.trust"
values = [1.0, 3.0]
"""
NUMERIC = {"value", "mean", "q10", "q50", "q90", "n", "step", "replicate", "point", "member", "run", "duration",
           "cpu", "seed", "choice.trust", "sd_between", "sd_within", "median", "p_positive"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory, small_text):
    d = tmp_path_factory.mktemp("contract")
    (d / "small.toml").write_text(small_text)
    (d / "exp.toml").write_text(EXPERIMENT)
    q = ["--quiet"]
    assert main(["run", str(d / "small.toml"), "--replicates", "2", "--no-plots", "--out", str(d / "run"), *q]) == 0
    assert main(["run", str(d / "small.toml"), "--replicates", "2", "--no-plots", "--seed", "4", "--format", "csv",
                 "--out", str(d / "csv"), *q]) == 0
    assert main(["sweep", str(d / "exp.toml"), "--workers", "1", "--out", str(d / "sweep"), *q]) == 0
    assert main(["compare", str(d / "run"), str(d / "csv"), "--out", str(d / "cmp"), *q]) == 0
    return d


def one(sql: str) -> tuple:
    """The first row of a DuckDB query."""
    return duckdb.sql(sql).fetchall()[0]


def check_parquet(path) -> None:
    schema = pq.read_schema(path)
    for f in schema:
        assert f.metadata and f.metadata.get(b"description"), (path.name, f.name, "no description")
        if f.name == "date":
            assert f.type == pa.date32(), (path.name, f.type)
        if f.name in NUMERIC:
            assert pa.types.is_integer(f.type) or pa.types.is_floating(f.type), (path.name, f.name, f.type)
    table = pq.read_table(path)
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            assert "" not in set(col.to_pylist()), (path.name, name, "'' instead of null")
    frame = pd.read_parquet(path)
    polars_frame = pl.read_parquet(path)
    n = one(f"SELECT count(*) FROM read_parquet('{path}')")[0]
    assert len(frame) == polars_frame.height == n
    if "date" in frame:
        assert polars_frame.schema["date"] == pl.Date
        first = one(f"SELECT min(date), max(day(date)) FROM read_parquet('{path}')")
        assert first[1] == 1  # the first of the month, in every row


def test_every_parquet_output_follows_the_contract(folders):
    files = sorted(folders.rglob("*.parquet"))
    assert len(files) >= 8
    for path in files:
        check_parquet(path)


def test_keyless_metrics_have_null_keys_and_shards_name_their_run(folders):
    ts = pq.read_table(folders / "run" / "timeseries.parquet").to_pandas()
    assert ts.loc[ts["metric"] == "adoption", "key"].isna().all()
    runs = pd.read_parquet(folders / "sweep" / "runs.parquet")
    assert runs["error"].isna().all()  # no error: null, not ''
    for row in runs.itertuples(index=False):
        shard = duckdb.sql(f"SELECT DISTINCT run_key, point, replicate, run FROM "
                           f"read_parquet('{folders / 'sweep' / 'runs' / (row.run_key + '.parquet')}')").fetchall()
        assert shard == [(row.run_key, row.point, row.replicate, row.point * 2 + row.replicate)]
    every = one(f"SELECT count(DISTINCT run_key) FROM read_parquet('{folders / 'sweep' / 'runs'}/*.parquet')")
    assert every[0] == 4  # the shards join without parsing file names


def test_csv_tables_hold_iso_dates_and_nulls(folders):
    path = folders / "csv" / "timeseries.csv"
    head = path.read_text().splitlines()[1]
    assert ",2025-01-01," in head
    frame = pl.read_csv(path, try_parse_dates=True)
    assert frame.schema["date"] == pl.Date and frame.schema["value"] == pl.Float64
    assert frame.filter(pl.col("metric") == "adoption")["key"].null_count() == frame.filter(
        pl.col("metric") == "adoption").height
    rows = one(f"SELECT typeof(date) FROM read_csv_auto('{path}') LIMIT 1")
    assert rows[0] == "DATE"


def test_compare_tables_say_what_they_compare(folders):
    curves = pl.read_parquet(folders / "cmp" / "compare.parquet")
    assert curves["metric"].unique().to_list() == ["share_origin"]
    assert curves["scope"].unique().to_list() == ["world"] and curves["scope_id"].unique().to_list() == ["world"]


def test_every_column_is_in_outputs_md(folders, repo):
    text = (repo.root / "docs" / "outputs.md").read_text()
    for path in sorted(folders.rglob("*.parquet")):
        for name in pq.read_schema(path).names:
            if "." in name:  # a factor, named by its path
                continue
            assert f"`{name}`" in text or f"{name}," in text or f", {name}" in text, (path.name, name)
