"""Vendor dynamics (adoptsim.core.vendor_dynamics): the production function, spillovers, compute
from chip supply, derivatives, the open lag; policy effects that do not depend on policy order;
and every [dynamics] parameter acting on some output."""

from __future__ import annotations

from pathlib import Path

import itertools

import numpy as np
import pandas as pd
import pytest

from adoptsim.core import vendor_dynamics as vd
from adoptsim.core.metrics import tidy
from adoptsim.core.model import AdoptionModel, replicate_seed, simulate
from adoptsim.core.schema import Dynamics, parse_scenario
from adoptsim.io.scenario_files import load_raw, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
EXAMPLES = SCENARIOS / "examples"

LIBRARY = ("baseline", "chip_ban_tightening", "chip_ban_lifted", "diffusion_rule_restored", "us_open_source_push",
           "digital_silk_road", "trust_shock", "deepseek_shock", "meta_closes_llama", "sovereign_ai",
           "retaliation_escalation")


# ---- the equations ------------------------------------------------------------------------

def test_capability_ceiling_is_log_linear_in_effective_compute():
    E = np.array([10.0, 10.0 / np.e, 10.0 / np.e ** 2, 0.0])
    c = vd.capability_ceiling(E, E_ref=10.0, C_ref=84.0, compute_returns=4.0)
    np.testing.assert_allclose(c[:3], [84.0, 80.0, 76.0])
    assert c[3] == -np.inf
    # capability closes a share of its gap and never falls
    C = vd.advance_capability(np.array([70.0, 90.0]), np.array([82.0, 80.0]), np.array([1.2, 1.2]))
    np.testing.assert_allclose(C, [70.0 + 0.1 * 12.0, 90.0])


def test_spillover_is_faster_from_open_releases():
    log_eff = np.log(np.array([4.0, 1.0, 1.0]))
    E = np.array([1.0, 1.0, 1.0])
    supply = np.ones(3)
    kw = dict(efficiency_growth=0.0, train_smarter=0.0, spillover_open=2.0, spillover_closed=0.3)
    from_open = vd.advance_efficiency(log_eff, E, supply, np.array([True, False, False]), **kw)
    from_closed = vd.advance_efficiency(log_eff, E, supply, np.array([False, True, True]), **kw)
    gap = np.log(4.0)
    np.testing.assert_allclose(from_open[1:], gap * 2.0 / 12.0)  # toward the open leader at 2/yr
    np.testing.assert_allclose(from_closed[1:], gap * 0.3 / 12.0)  # toward the closed leader at 0.3/yr
    assert from_open[0] == from_closed[0] == log_eff[0]  # the leader does not move


def test_train_smarter_acts_only_under_chip_constraint_and_while_behind():
    log_eff = np.zeros(3)
    E = np.array([10.0, 1.0, 1.0])
    supply = np.array([1.0, 1.0, 0.5])
    out = vd.advance_efficiency(log_eff, E, supply, np.zeros(3, bool), efficiency_growth=0.12, train_smarter=1.2,
                                spillover_open=0.0, spillover_closed=0.0)
    np.testing.assert_allclose(out, [0.01, 0.01, 0.01 + 0.1 * 0.5 * 0.9])


def test_compute_flow_follows_world_growth_and_supply():
    base = np.array([10.0, 2.0])
    flow = vd.compute_flow(base, 1.5, 12, np.ones(2), np.array([1.0, 0.2]), np.array([1.0, 0.4]))
    new = 2.5 - 2.5 ** (11 / 12)
    np.testing.assert_allclose(flow, [10.0 * new, 2.0 * new * 0.5])
    # a year of flows at the start's supply multiplies the stock by 1 + g
    K = base.copy()
    for t in range(1, 13):
        K = K + vd.compute_flow(base, 1.5, t, np.ones(2), np.array([1.0, 0.4]), np.array([1.0, 0.4]))
    np.testing.assert_allclose(K, base * 2.5)


def test_derivatives_grow_with_developers_fine_tunability_and_licence():
    inc = vd.derivative_increment(np.array([True, True, False]), 0.5, np.ones(3), np.array([10.0, 4.0, 5.0]),
                                  np.array([1.0, 0.3, 1.0]), np.array([2000.0, 2000.0, 2000.0]))
    np.testing.assert_allclose(inc, [10.0, 1.2, 0.0])


def test_open_lag_is_gap_over_recent_closed_growth():
    closed = np.array([80.0 + 0.5 * k for k in range(20)])  # +0.5 points a month
    assert vd.open_lag_months(closed, closed[-1] - 1.75) == pytest.approx(3.5)
    assert np.isnan(vd.open_lag_months(closed[:1], 70.0))  # no growth measured yet
    assert np.isnan(vd.open_lag_months(closed, float("nan")))  # no open model on the market
    assert vd.open_lag_months(closed, closed[-1] + 1.0) == pytest.approx(-2.0)  # open ahead


def test_frontier_is_the_best_lab_in_a_run():
    m = AdoptionModel(load_scenario(SCENARIOS / "baseline.toml"), create_community_agents=False).run()
    cap = np.stack([s["capability"] for s in m.datacollector.model_vars["vendors"]])
    closed = ~np.array([v.license == "open" for v in m.spec.vendors])
    np.testing.assert_allclose(m.vendors.closed_best, cap[:, closed].max(axis=1))  # all closed on market


def test_frontier_growth_is_an_outcome_of_compute_and_efficiency_growth():
    """Frontier growth follows the production function: ≈ compute_returns·(log(1 + compute_growth)
    + efficiency_growth) points per year once the labs track their ceilings."""
    def growth(**dyn):
        raw = load_raw(EXAMPLES / "world.toml")
        raw["communities"] = {"per_nation": 10}
        raw["dynamics"].update(dyn, train_smarter=0.0, spillover_open=0.0, spillover_closed=0.0)
        m = AdoptionModel(parse_scenario(raw, "w"), create_community_agents=False).run()
        best = np.array(m.vendors.closed_best)
        return (best[-1] - best[-13])  # points in the last year

    base = growth(compute_growth=1.0, efficiency_growth=0.5, compute_returns=3.0)
    assert base == pytest.approx(3.0 * (np.log(2.0) + 0.5), rel=0.05)
    assert growth(compute_growth=3.0, efficiency_growth=0.5, compute_returns=3.0) == pytest.approx(
        3.0 * (np.log(4.0) + 0.5), rel=0.05)
    assert growth(compute_growth=1.0, efficiency_growth=1.0, compute_returns=3.0) == pytest.approx(
        3.0 * (np.log(2.0) + 1.0), rel=0.05)


# ---- policy order -------------------------------------------------------------------------

def _state_after(model, policies, month):
    state = model.base.copy()
    for p in policies:
        e = p.elapsed(month)
        if e is not None:
            p.apply(state, model.index, e)
    return state


@pytest.mark.parametrize("name", LIBRARY)
def test_policy_effects_do_not_depend_on_order(name):
    """Applying the policies in force in any order gives the same world, at every policy month."""
    model = AdoptionModel(load_scenario(SCENARIOS / f"{name}.toml"), create_community_agents=False)
    pols = list(model.policies)
    months = sorted({p.start_month for p in pols} | {p.end_month for p in pols if p.end_month} | {model.month0 + 83})
    rng = np.random.default_rng(0)
    orders = [pols[::-1]] + [[pols[i] for i in rng.permutation(len(pols))] for _ in range(6)]
    for month in months:
        ref = _state_after(model, pols, month)
        for order in orders:
            st = _state_after(model, order, month)
            for field, a in ref.__dict__.items():
                b = getattr(st, field)
                if a.dtype == bool:
                    assert np.array_equal(a, b), (name, month, field)
                else:
                    np.testing.assert_allclose(b, a, rtol=1e-12, atol=0, err_msg=f"{name} {month} {field}")
        np.testing.assert_allclose(st.chip_supply, ref.chip_supply, rtol=1e-12)


def test_export_control_does_not_cut_domestic_build_out():
    """A control multiplies imports; a build-out adds domestic supply: either order, same supply."""
    from adoptsim.core.policies import ComputeInvestment, ExportControl

    model = AdoptionModel(load_scenario(SCENARIOS / "baseline.toml"), create_community_agents=False)
    ctrl = ExportControl(name="c", type="export_control", issuer="US", targets=["CN"], chip_access=0.4,
                         domestic=0.5, start="2026-01")
    inv = ComputeInvestment(name="i", type="compute_investment", issuer="CN", annual_growth=0.2,
                            domestic_gain=0.12, start="2025-01")
    cn = model.index.nation_pos["CN"]
    month = ctrl.start_month + 11
    s1, s2 = _state_after(model, [ctrl, inv], month), _state_after(model, [inv, ctrl], month)
    base = model.base
    assert s1.chip_access[cn] == pytest.approx(base.chip_access[cn] * 0.4)
    assert s1.domestic[cn] == pytest.approx(base.domestic[cn] + 0.12 * 24 / 12)
    assert s1.chip_supply[cn] == pytest.approx(base.chip_access[cn] * 0.4 + 0.5 * (base.domestic[cn] + 0.24))
    for f in ("chip_access", "domestic", "domestic_mult", "compute_mult"):
        assert getattr(s1, f)[cn] == pytest.approx(getattr(s2, f)[cn], rel=1e-15)


def test_reversed_policy_order_changes_no_number():
    """The whole baseline run, with the policies applied in reverse order every month."""
    sc = load_scenario(SCENARIOS / "baseline.toml")
    frames = []
    for reverse in (False, True):
        m = AdoptionModel(sc, replicate_seed(sc.meta.seed, 0), create_community_agents=False)
        if reverse:
            m.policies = m.policies[::-1]
        m.run()
        frames.append(tidy(m))
    a, b = frames
    assert a[["scope", "scope_id", "metric", "key", "step"]].equals(b[["scope", "scope_id", "metric", "key", "step"]])
    np.testing.assert_allclose(b["value"].to_numpy(), a["value"].to_numpy(), rtol=1e-12, atol=0, equal_nan=True)


# ---- every [dynamics] parameter acts ------------------------------------------------------

def _world(months: int = 24) -> dict:
    raw = load_raw(EXAMPLES / "world.toml")
    raw["meta"]["months"] = months
    raw["communities"] = {"per_nation": 20}
    # self-hosting cheap enough to be chosen, so that its parameters act
    raw.setdefault("dynamics", {}).update({"compute_growth": 1.0, "price_share_response": 0.2,
                                          "self_host_cost": 0.3})
    for v in raw["vendors"]:
        if v["id"] == "openai":
            v["efficiency"] = 3.0  # a closed efficiency leader, so that the closed spillover acts
            v["open_below_share"] = 0.9  # a strategy switch, so that switch_after acts
    return raw


# parameter -> (new value, metric whose world values must change)
DYNAMICS_EFFECTS = {
    "frontier_gap": (8.0, "capability"),
    "compute_growth": (2.0, "compute"),
    "compute_returns": (3.0, "capability"),
    "efficiency_growth": (0.6, "efficiency"),
    "train_smarter": (1.5, "efficiency"),
    "spillover_open": (4.0, "efficiency"),
    "spillover_closed": (1.5, "efficiency"),
    "price_share_response": (1.0, "price"),
    "derivative_rate": (3.0, "derivatives"),
    "self_host_cost": (0.8, "share_host"),
    "self_host_penalty": (5.0, "share_host"),
    "hardware_cost_decline": (0.5, "share_host"),
    "tokens_per_developer": (5.0, "revenue"),
    "switch_after": (2, "share_license"),
}


def test_every_dynamics_parameter_is_covered():
    assert set(DYNAMICS_EFFECTS) == set(Dynamics.model_fields)


@pytest.mark.parametrize("param", sorted(DYNAMICS_EFFECTS))
def test_dynamics_parameter_changes_an_output(param):
    value, metric = DYNAMICS_EFFECTS[param]
    raw = _world()
    base = simulate(parse_scenario(raw, "w"), replicates=1, metrics=(metric,))
    raw["dynamics"][param] = value
    alt = simulate(parse_scenario(raw, "w"), replicates=1, metrics=(metric,))
    a, b = (f[f["scope"] == "world"]["value"].to_numpy() for f in (base, alt))
    assert not np.allclose(a, b, rtol=1e-9, atol=0), f"{param} = {value} left {metric} unchanged"
