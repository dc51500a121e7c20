"""Sweep shards are written straight from the metric arrays; the table is the one the tidy frame
would give (the data contract of docs/outputs.md, tests/cli/test_outputs_contract.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adoptsim.core.metrics import METRICS, tidy, tidy_columns
from adoptsim.core.model import AdoptionModel, replicate_seed
from adoptsim.experiments.runner import SHARD_COLUMNS, SHARD_IDS, shard_table
from adoptsim.io.scenario_files import load_scenario
from adoptsim.io.tables import to_arrow

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, metrics, ids", [
    ("scenarios/baseline.toml", tuple(METRICS), {"run_key": "ab12", "point": 3, "replicate": 1, "run": 7}),
    ("tests/data/small.toml", ("adoption", "price", "share_host", "open_lag_months"),
     {"run_key": "", "point": -1, "replicate": 0, "run": -1}),
])
def test_shard_from_arrays_equals_shard_from_frame(name, metrics, ids):
    sc = load_scenario(ROOT / name)
    model = AdoptionModel(sc, replicate_seed(4, ids["replicate"]), create_community_agents=False).run()
    meta = {"key": ids["run_key"], "point": ids["point"], "run": ids["run"]}
    frame = tidy(model, replicate=ids["replicate"], metrics=metrics)
    want = to_arrow(frame[SHARD_COLUMNS].assign(**ids)[[*SHARD_IDS, *SHARD_COLUMNS]], meta)
    got = shard_table(tidy_columns(model, metrics=metrics), ids, meta)
    assert got.schema.equals(want.schema, check_metadata=True)
    assert got.equals(want, check_metadata=True)
    assert got.num_rows == len(frame) > 0
