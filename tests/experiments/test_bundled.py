"""Each bundled experiment answers its own question: run cheaply (one replicate, Latin hypercube
and Sobol' designs cut down) and check that the answer is not degenerate — outcomes vary across
the design, the discovery example's threshold splits the runs, the tornado has a swing, the
Sobol' indices are not all zero, and the target lies inside its factor's range."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

from adoptsim.cli import main

pytestmark = pytest.mark.slow
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def cheap(name: str, folder: Path, replicates: int = 1, samples: int | None = None) -> Path:
    """A copy of a bundled experiment with fewer replicates (and samples), its scenario absolute."""
    src = EXPERIMENTS / name
    raw = tomllib.loads(src.read_text())
    raw["scenario"] = str((src.parent / raw["scenario"]).resolve())
    raw["replicates"] = replicates
    if samples is not None:
        raw["design"]["samples"] = samples
    path = folder / name
    path.write_text(tomli_w.dumps(raw))
    return path


def final_world(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    s = summary[(summary["metric"] == metric) & (summary["scope"] == "world")]
    return s[pd.to_datetime(s["date"]) == pd.to_datetime(s["date"]).max()]


@pytest.mark.parametrize("name, samples", [("chip_ban_intensity.toml", None), ("open_push_vs_buildout.toml", None),
                                           ("global_uncertainty.toml", 16)])
def test_sweeps_vary_across_their_design(name, samples, tmp_path):
    exp = cheap(name, tmp_path, samples=samples)
    assert main(["sweep", str(exp), "--workers", "2", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    summary = pd.read_parquet(tmp_path / "s" / "summary.parquet")
    metric = tomllib.loads(exp.read_text())["metrics"][1]
    spread = final_world(summary, metric).groupby("key", dropna=False)["mean"].agg(lambda v: v.max() - v.min())
    assert spread.max() > 0.01, (name, metric, spread.to_dict())


def test_discovery_example_answers_its_question(tmp_path, capsys):
    """The README's discovery command, on the experiment as bundled (2 replicates: 128 runs),
    finds a box resting on enough runs (discover refuses fewer than 10 on a side)."""
    exp = cheap("discovery_cn_africa.toml", tmp_path, replicates=2)
    assert main(["sweep", str(exp), "--workers", "2", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    assert main(["discover", str(tmp_path / "s"), "--metric", "share_origin", "--key", "CN", "--level", "region",
                 "--scope", "Sub-Saharan Africa", "--above", "0.20", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["cases"] == 128 and 10 <= res["hits"] <= 118 and res["box"], res


def test_tornado_has_a_swing(tmp_path):
    exp = cheap("sensitivity_baseline_oat.toml", tmp_path)
    assert main(["sensitivity", str(exp), "--workers", "2", "--out", str(tmp_path / "t"), "--quiet",
                 "--metric", "share_origin", "--key", "CN"]) == 0
    tornado = pd.read_parquet(tmp_path / "t" / "tornado.parquet")
    assert tornado["swing"].max() > 0.01


def test_sobol_indices_are_not_all_zero(tmp_path):
    exp = cheap("sensitivity_baseline_sobol.toml", tmp_path, samples=8)
    assert main(["sensitivity", str(exp), "--workers", "2", "--out", str(tmp_path / "t"), "--quiet"]) == 0
    table = pd.read_parquet(tmp_path / "t" / "sensitivity.parquet")
    assert table["ST"].max() > 0.05


def test_target_lies_inside_its_range(tmp_path, capsys):
    exp = cheap("target_open_push.toml", tmp_path, replicates=2)
    assert main(["target", str(exp), "--workers", "2", "--out", str(tmp_path / "g"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["status"] == "found" and 0.0 < res["value"] < 0.9
