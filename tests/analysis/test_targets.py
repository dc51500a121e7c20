"""The targets file and its mapping to the model (docs/model.md, "Views" and "Mapping the model to
the targets"): the conversion of ../shared/data/targets.toml, the calibration window, the
crossover rule on constructed series and the views on a small run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adoptsim.analysis.targets import QUANTITY_VIEWS, crossover_month, view_series, view_shares
from adoptsim.core.metrics import view_weights
from adoptsim.core.model import AdoptionModel, simulate
from adoptsim.core.schema import parse_scenario
from adoptsim.errors import InputError
from adoptsim.experiments.calibration.targets import (calibration_targets, load_target_file,
                                                      out_of_sample_targets)
from adoptsim.io.scenario_files import load_raw, load_scenario

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ROOT / "calibration" / "targets.toml"
SHARED = ROOT.parent / "shared" / "data"
SMALL = ROOT / "tests" / "data" / "small.toml"


def _months(n: int, start: str = "2024-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


# ---- the target file ---------------------------------------------------------------------

@pytest.mark.skipif(not (SHARED / "targets.toml").exists(), reason="compares with ../shared/data/targets.toml, "
                    "which lives outside this repository (in the project workspace only)")
def test_every_shared_target_is_converted_with_its_window():
    """Every target of the shared file is in calibration/targets.toml with the same value, band,
    month, source and quality, and a window that covers its `when`; a target that is not in the
    shared file says where it comes from (`added`) and names its source."""
    shared = tomllib.loads((SHARED / "targets.toml").read_text())["targets"]
    tf = load_target_file(TARGETS)
    ours = {t.id: t for t in tf.targets}
    for s in shared:
        t = ours[s["id"]]
        assert (t.when, t.source, t.quality, t.description) == (s["when"], s["source"], s["quality"], s["metric"])
        if "range_months" in s:
            assert (t.value, t.range) == (s["when"], s["range_months"]) and t.window == s["range_months"]
        else:
            assert t.value == s.get("value") and t.values == s.get("values")
            assert t.range == (list(map(float, s["range"])) if "range" in s else None)
            first, _, last = s["when"].partition("..")
            assert t.window == [first, last or first]
    extra = [t for t in tf.targets if t.id not in {s["id"] for s in shared} and "." not in t.id]
    assert [t.id for t in extra] == ["enterprise_open_share_mid_2025"]
    assert all(t.added for t in extra) and all("Menlo Ventures" in t.source for t in extra)
    assert all(not t.added for t in tf.targets if t.id in {s["id"] for s in shared})


def test_every_used_target_has_a_window_and_a_view():
    tf = load_target_file(TARGETS)
    assert tf.calibration_window == "2025-12"
    for t in tf.targets:
        assert t.window is not None, t.id
        if t.use and t.quantity:
            assert t.view == QUANTITY_VIEWS[t.quantity]["view"], t.id
    # every observation today ends by 2025-12: all used targets calibrate, none is out of sample
    assert {t.id for t in calibration_targets(tf)} == {t.id for t in tf.targets if t.use}
    assert out_of_sample_targets(tf) == []


def test_calibration_window_splits_targets(tmp_path):
    text = '''calibration_window = "2025-12"
[[targets]]
id = "in"
quantity = "open_weight_share_2025_11"
value = 0.3
range = [0.2, 0.4]
window = ["2025-11", "2025-11"]
[[targets]]
id = "later"
quantity = "open_weight_share_2025_11"
value = 0.3
range = [0.2, 0.4]
when = "2026-01..2026-06"
'''
    (tmp_path / "t.toml").write_text(text)
    tf = load_target_file(tmp_path / "t.toml")
    assert [t.id for t in calibration_targets(tf)] == ["in"]
    assert [t.id for t in out_of_sample_targets(tf)] == ["later"]  # window from `when` when not given
    (tmp_path / "bad.toml").write_text(text.replace('"2025-12"', '"December"')
                                       .replace('["2025-11", "2025-11"]', '["2025-11", "2025-10"]'))
    with pytest.raises(InputError) as err:
        load_target_file(tmp_path / "bad.toml")
    assert "calibration_window" in str(err.value) and "first <= last" in str(err.value)


# ---- the crossover rule ------------------------------------------------------------------

def test_crossover_needs_a_lead_of_three_months():
    idx = _months(12)
    cn = pd.Series([0, 0, 0, 5, 5, 0, 0, 5, 5, 5, 5, 5], index=idx, dtype=float)
    us = pd.Series(2.0, index=idx)
    assert crossover_month(cn, us) == idx[7]  # the two-month lead in months 3-4 does not count
    assert crossover_month(cn, us, hold=2) == idx[3]


def test_crossover_has_no_date_filter_and_may_not_happen():
    idx = _months(6)
    us = pd.Series(1.0, index=idx)
    assert crossover_month(pd.Series(2.0, index=idx), us) == idx[0]  # a lead from the start counts
    assert pd.isna(crossover_month(pd.Series(0.5, index=idx), us))
    assert pd.isna(crossover_month(pd.Series([2.0, 2.0, 0.0, 0.0, 2.0, 2.0], index=idx), us))  # never 3 in a row
    assert pd.isna(crossover_month(pd.Series([2.0, 2.0], index=idx[:2]), us[:2]))  # too short
    tied = pd.Series(1.0, index=idx)
    assert pd.isna(crossover_month(tied, us))  # equal is not ahead


# ---- the views ---------------------------------------------------------------------------

def test_view_weights_follow_the_sector_mix():
    sc = load_scenario(ROOT / "scenarios" / "baseline.toml")
    m = AdoptionModel(sc, create_community_agents=False)
    W = view_weights(sc, m.index)  # (N, S, views)
    cn = m.index.nation_pos["CN"]
    assert (W[cn] == 0).all()
    us = m.index.nation_pos["US"]
    sec = {name: i for i, name in enumerate(m.index.sectors)}
    # openrouter (tokens): general 1 x 1, enterprise 0.1 x 3; huggingface (downloads): enterprise 0.2
    assert W[us, sec["general"], 0] == 1.0 and W[us, sec["enterprise"], 0] == pytest.approx(0.3)
    assert W[us, sec["enterprise"], 1] == pytest.approx(0.2) and W[us, sec["general"], 2] == 0.0


@pytest.fixture(scope="module")
def small_runs():
    raw = load_raw(SMALL)
    base = parse_scenario(raw, str(SMALL))
    mixed = dict(raw)
    mixed["sectors"] = {"general": {"share": 0.7, "tokens": 2.0, "platforms": {"enterprise": 0.0}},
                        "government": {"share": 0.3, "platforms": {"openrouter": 0.0}}}
    return (simulate(base, replicates=2, create_community_agents=False),
            simulate(parse_scenario(mixed, str(SMALL)), replicates=2, create_community_agents=False))


def test_default_views_are_developer_shares_outside_china(small_runs):
    """With the default mix (every view sees every sector alike) each view is the share of
    adopting developers outside China, computed here from the nation-level share metrics."""
    frame, _ = small_runs
    sc = load_scenario(SMALL)
    devs = {n.id: n.developers for n in sc.nations if n.id != "CN"}
    nat = frame[(frame["scope"] == "nation") & frame["scope_id"].astype(str).isin(devs)]
    w = nat["scope_id"].astype(str).map(devs).to_numpy() * nat["value"].to_numpy()
    nat = nat.assign(w=w)
    den = nat[nat["metric"] == "adoption"].groupby(["replicate", "date"])["w"].sum()
    lic = nat[(nat["metric"] == "share_license") & (nat["key"] == "open")].groupby(["replicate", "date"])["w"].sum()
    expected = (lic / den).fillna(0.0)
    for view in ("openrouter", "huggingface", "enterprise"):
        got = view_series(frame, view, license="open").reindex(expected.index)
        assert np.allclose(got.to_numpy(), expected.to_numpy(), atol=1e-12), view


def test_views_weight_sectors_and_sum_to_one(small_runs):
    base, mixed = small_runs
    for frame in small_runs:
        for view in ("openrouter", "huggingface", "enterprise"):
            tot = view_shares(frame, view).groupby(["replicate", "date"])["value"].sum().to_numpy()
            # 1, or 0 in a month where the view has no user (`mixed`: a government-only view, month 1)
            assert np.allclose(tot, 1.0) if frame is base else np.isclose(tot, 1.0).mean() > 0.9, view
            assert (np.isclose(tot, 1.0) | (tot == 0.0)).all(), view
    # the same world (the mix weights only the views): same developers, different views
    dev = lambda f: f[f["metric"] == "share_vendor"]["value"].to_numpy()  # noqa: E731
    assert np.array_equal(dev(base), dev(mixed))
    a = view_series(base, "openrouter", origin="US")
    b = view_series(mixed, "openrouter", origin="US")
    assert not np.allclose(a.to_numpy(), b.to_numpy())  # the government sector is out of the mixed view
    # tokens scale a token view's sectors together: general alone is seen by openrouter in `mixed`,
    # and enterprise sees only government; huggingface (downloads) is unchanged by tokens
    hf = lambda f: view_series(f, "huggingface", origin="US").to_numpy()  # noqa: E731
    assert np.allclose(hf(base), hf(mixed))
