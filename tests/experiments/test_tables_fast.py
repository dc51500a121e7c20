"""Issue 17, the work outside the simulation: an ensemble's table assembled from the runs'
(values, layout), the summary grouped by one integer cell, Parquet written from category codes
and the default workers of a point run — each the same table as the plain way, exactly.

Real runs of the small test scenario (3 nations, 24 months)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from adoptsim.analysis.bands import summarise_plain, summarise_run
from adoptsim.experiments.ensemble import RunResult, concat_results, concat_runs, run_member
from adoptsim.io import tables
from adoptsim.io.scenario_files import load_scenario
from adoptsim.workflows.run import POOL_MIN_COMMUNITY_MONTHS, default_workers


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_text, write_toml):
    sc = load_scenario(write_toml(tmp_path_factory.mktemp("small"), "small.toml", small_text))
    return [run_member(sc, 5, k, r, True) for k in range(3) for r in range(2)]


def test_ensemble_table_is_the_concatenation_of_the_runs_tables(runs):
    frames = [r.frame() for r in runs]
    whole = concat_results(runs)
    assert_frame_equal(whole, concat_runs(frames), check_exact=True)
    assert whole["member"].tolist()[:: len(frames[0])] == [0, 0, 1, 1, 2, 2]
    # runs of another layout (fewer metrics): the plain concatenation, still exact
    few = RunResult(9, 0, runs[0].value[:10], runs[0].layout)
    few.layout = type(runs[0].layout)(runs[0].layout.step[:10], runs[0].layout.date[:10],
                                      {c: v[:10] for c, v in runs[0].layout.labels.items()})
    assert_frame_equal(concat_results(runs + [few]), concat_runs(frames + [few.frame()]), check_exact=True)


def test_summary_by_cells_is_the_group_by_on_five_columns(runs):
    frame = concat_results(runs)
    frame.loc[frame.index[:50], "value"] = np.nan  # missing values are left out of both alike
    fast = summarise_run(frame)
    assert_frame_equal(fast, summarise_plain(frame), check_exact=True)
    assert fast["sd_within"].notna().any() and fast["sd_between"].notna().any()


def _plain(df: pd.DataFrame, path, meta=None) -> None:
    """The contract's Parquet file the simple way: every label as a string."""
    pq.write_table(tables.to_arrow(df, meta), path)


def test_parquet_from_codes_is_the_contract_table(runs, tmp_path, monkeypatch):
    frame = concat_results(runs)
    frame["key"] = frame["key"].cat.add_categories(["unused"])  # '' among the keys, an unused one
    frame.loc[3, "scope_id"] = np.nan  # a missing label: null, as the plain way
    monkeypatch.setattr(tables, "CHUNK_ROWS", len(frame) // 3 + 1)  # several chunks
    for name, df, meta in (("ts", frame, None), ("summary", summarise_run(frame), {"run": 1}),
                           ("empty", frame.iloc[:0], None)):
        fast, plain = tmp_path / f"fast_{name}.parquet", tmp_path / f"plain_{name}.parquet"
        tables.write_parquet(df, fast, meta)
        _plain(df, plain, meta)
        assert pq.read_schema(fast).equals(pq.read_schema(plain), check_metadata=True)
        assert pq.read_metadata(fast).metadata == pq.read_metadata(plain).metadata
        assert pq.read_table(fast).equals(pq.read_table(plain))
        assert_frame_equal(tables.read_parquet(fast), tables.read_parquet(plain), check_exact=True)
    assert pa.types.is_string(pq.read_schema(tmp_path / "fast_ts.parquet").field("key").type)


def test_point_runs_use_a_pool_only_when_their_work_pays_for_it(small_text, tmp_path, write_toml):
    sc = load_scenario(write_toml(tmp_path, "small.toml", small_text))
    per_run = sc.communities.per_nation * len(sc.nations) * sc.meta.months
    assert default_workers(sc, 10, None) == 1
    assert default_workers(sc, 1, None) == 1
    big = -(-POOL_MIN_COMMUNITY_MONTHS // per_run)
    assert default_workers(sc, big, None) == (__import__("os").cpu_count() or 1)
