"""The scenario library: every scenario extends the baseline, states its question, and moves the
metrics it is about in the direction it claims (median of replicates against the baseline run
with the same seeds, so common random numbers make the policy's effect visible)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

from adoptsim.core.model import simulate
from adoptsim.io.scenario_files import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
LIBRARY = ("chip_ban_tightening", "chip_ban_lifted", "diffusion_rule_restored", "us_open_source_push",
           "digital_silk_road", "trust_shock", "deepseek_shock", "meta_closes_llama", "sovereign_ai",
           "retaliation_escalation")
REPLICATES = 6
CN_VENDORS = ["deepseek", "qwen", "kimi", "glm", "minimax", "hunyuan"]
GLOBAL_SOUTH = ["Sub-Saharan Africa", "Latin America", "Southeast Asia", "South Asia", "Middle East and North Africa"]

# (scenario, scope, scope ids, metric, keys summed, date, direction: +1 higher than baseline, -1 lower)
CLAIMS = [
    ("chip_ban_tightening", "world", ["world"], "compute", CN_VENDORS, "2028-12", -1),
    ("chip_ban_tightening", "world", ["world"], "efficiency", CN_VENDORS, "2028-12", +1),
    ("chip_ban_tightening", "world", ["world"], "capability", CN_VENDORS, "2030-12", -1),
    ("chip_ban_tightening", "world", ["world"], "open_lag_months", [""], "2030-12", +1),
    ("chip_ban_lifted", "world", ["world"], "compute", CN_VENDORS, "2028-12", +1),
    ("chip_ban_lifted", "world", ["world"], "efficiency", CN_VENDORS, "2028-12", -1),
    ("diffusion_rule_restored", "world", ["world"], "compute", CN_VENDORS, "2028-12", -1),
    ("us_open_source_push", "world", ["world"], "share_vendor", ["llama", "gpt_oss"], "2028-12", +1),
    ("us_open_source_push", "region", GLOBAL_SOUTH, "share_origin", ["CN"], "2028-12", -1),
    ("digital_silk_road", "region", GLOBAL_SOUTH, "share_origin", ["CN"], "2028-12", +1),
    ("trust_shock", "world", ["world"], "share_origin", ["CN"], "2027-06", -1),
    ("deepseek_shock", "world", ["world"], "share_vendor", ["deepseek"], "2027-12", +1),
    ("deepseek_shock", "world", ["world"], "share_license", ["closed"], "2027-12", -1),
    ("meta_closes_llama", "world", ["world"], "share_license", ["open"], "2027-12", -1),
    ("meta_closes_llama", "world", ["world"], "share_vendor", ["llama"], "2027-12", -1),
    ("sovereign_ai", "nation", ["EU"], "share_origin", ["EU"], "2030-12", +1),
    ("sovereign_ai", "nation", ["IN"], "share_origin", ["IN"], "2028-12", +1),
    ("sovereign_ai", "nation", ["EU", "IN"], "critical_dependency", [""], "2028-12", -1),
    ("retaliation_escalation", "world", ["world"], "compute", ["openai", "google", "anthropic"], "2028-12", -1),
    ("retaliation_escalation", "world", ["world"], "capability", ["openai", "google", "anthropic"], "2028-12", -1),
]


def _median(frame: pd.DataFrame, scope: str, ids: list[str], metric: str, keys: list[str], date: str) -> float:
    """Median across replicates of the metric summed over keys and averaged over scope ids."""
    sel = frame[(frame["scope"] == scope) & frame["scope_id"].isin(ids) & (frame["metric"] == metric)
                & frame["key"].isin(keys) & (frame["date"] == pd.Timestamp(date + "-01"))]
    if sel.empty:  # e.g. an origin that has no vendor in the baseline: a share of 0
        return 0.0
    per_rep = sel.groupby(["replicate", "scope_id"], observed=True)["value"].sum().groupby("replicate").mean()
    return float(per_rep.median())


@pytest.fixture(scope="module")
def runs():
    cache: dict[str, pd.DataFrame] = {}

    def get(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = simulate(load_scenario(SCENARIOS / f"{name}.toml"), replicates=REPLICATES,
                                   create_community_agents=False)
        return cache[name]
    return get


@pytest.mark.parametrize("name", LIBRARY)
def test_library_scenario_extends_baseline_and_states_its_question(name):
    raw = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    assert raw["extends"] == "baseline.toml"
    assert raw["meta"]["name"] == name
    assert "?" in raw["meta"]["description"] and len(raw["meta"]["description"]) > 60
    sc = load_scenario(SCENARIOS / f"{name}.toml")
    base = load_scenario(SCENARIOS / "baseline.toml")
    assert sc.meta.seed == base.meta.seed and sc.meta.start == base.meta.start
    assert sc.digest() != base.digest()


def test_every_library_scenario_has_a_claim():
    assert {c[0] for c in CLAIMS} == set(LIBRARY)


@pytest.mark.slow
@pytest.mark.parametrize("claim", CLAIMS, ids=[f"{c[0]}:{c[3]}:{'+'.join(c[4]) or 'all'}" for c in CLAIMS])
def test_scenario_moves_its_metrics(runs, claim):
    name, scope, ids, metric, keys, date, sign = claim
    base = _median(runs("baseline"), scope, ids, metric, keys, date)
    alt = _median(runs(name), scope, ids, metric, keys, date)
    assert sign * (alt - base) > 0, f"{name}: {metric} {keys} in {ids} at {date}: baseline {base:.4g}, scenario {alt:.4g}"


def test_figures_and_compare_from_the_cli(tmp_path, capsys):
    """`run` draws the standard set; `plot --figure/--date/--format` and `compare` draw the others."""
    from adoptsim.cli import main

    base, alt = tmp_path / "base", tmp_path / "alt"
    assert main(["run", str(SCENARIOS / "baseline.toml"), "--replicates", "2", "--out", str(base)]) == 0
    assert main(["run", str(SCENARIOS / "trust_shock.toml"), "--replicates", "2", "--out", str(alt),
                 "--no-plots"]) == 0
    for name in ("adoption", "regions", "vendors", "heatmap", "dependency"):
        assert (base / "plots" / f"{name}.png").stat().st_size > 10_000
    assert main(["plot", str(base), "--figure", "vendors", "--format", "svg"]) == 0
    assert (base / "plots" / "vendors.svg").read_text().lstrip().startswith("<?xml")
    assert main(["plot", str(base), "--date", "2025-11", "--format", "pdf"]) == 0
    assert (base / "plots" / "heatmap_2025-11.pdf").read_bytes()[:4] == b"%PDF"
    assert main(["compare", str(base), str(alt), "--level", "region", "--scope", "Latin America"]) == 0
    assert list((alt / "plots").glob("compare_base_share_origin_Latin America.png"))
    capsys.readouterr()
    assert main(["plot", str(base), "--date", "2031-01"]) == 2
    assert "no month 2031-01" in capsys.readouterr().err
    assert main(["compare", str(base), str(alt), "--metric", "nope"]) == 2
