"""Each policy type moves what it should: example scenario vs its world, same seeds (CRN)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from adoptsim.core.model import AdoptionModel, base_world, simulate
from adoptsim.core.policies import REGISTRY, ComputeInvestment, InfrastructureBuildout, Policy, TrustShock
from adoptsim.core.policy_plan import PolicyPlan
from adoptsim.core.schema import parse_scenario
from adoptsim.core.state import WorldIndex
from adoptsim.io.scenario_files import load_raw, load_scenario
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
EXAMPLES = SCENARIOS / "examples"

REPS = 5
_cache: dict[str, object] = {}


def example(name: str, per_nation: int = 200):
    """An example scenario with more communities than it ships with (less sampling noise)."""
    raw = load_raw(EXAMPLES / f"{name}.toml")
    raw.setdefault("communities", {})["per_nation"] = per_nation
    return parse_scenario(raw, name)


def run(name: str):
    if name not in _cache:
        _cache[name] = simulate(example(name), replicates=REPS)
    return _cache[name]


def value(df, metric, key="", scope="world", scope_id="world", date=None):
    sel = df[(df.metric == metric) & (df.key == key) & (df.scope == scope) & (df.scope_id == scope_id)]
    if date is not None:
        sel = sel[sel.date == date]
    else:
        sel = sel[sel.step == sel.step.max()]
    return float(sel.groupby("replicate").value.mean().median())


def test_registry_names():
    assert set(REGISTRY) == {"export_control", "retaliation", "open_source_push", "infrastructure_buildout",
                             "model_ban", "service_restriction", "trust_shock", "compute_investment",
                             "price_change", "education", "license_change"}


@pytest.mark.parametrize("example", ["export_control", "export_control_tiers"])
def test_export_control_cuts_compute_and_raises_efficiency(example):
    base, pol = run("world"), run(example)
    for v in ("deepseek", "qwen"):
        assert value(pol, "compute", v) < 0.5 * value(base, "compute", v)
        assert value(pol, "efficiency", v) > value(base, "efficiency", v)  # train smarter
        assert value(pol, "capability", v) < value(base, "capability", v)
    # US vendors are not targeted
    assert value(pol, "compute", "openai") == value(base, "compute", "openai")
    # before the start (2026-01) the runs are identical
    assert value(pol, "share_origin", "CN", date="2025-12-01") == value(base, "share_origin", "CN", date="2025-12-01")


def test_tiers_cap_second_tier():
    base, pol = run("world"), run("export_control_tiers")
    m0 = AdoptionModel(load_scenario(EXAMPLES / "export_control_tiers.toml"), 0, create_community_agents=False)
    st = m0._policy_state(m0.month0 + 24)  # 2027-01
    i = m0.index.nation_pos
    assert st.chip_access[i["CN"]] == pytest.approx(0.4 * 0.1) and st.chip_access[i["BR"]] == pytest.approx(0.6)
    assert st.chip_access[i["US"]] == 1.0
    assert value(pol, "compute", "qwen") < 0.2 * value(base, "compute", "qwen")


def test_retaliation_bans_targets_in_issuer_sector_and_cuts_their_chips():
    pol = load_scenario(EXAMPLES / "retaliation.toml")
    m = AdoptionModel(pol, 1, create_community_agents=False).run()
    c, idx = m.communities, m.index
    us_vendors = np.flatnonzero(idx.vendor_origin == idx.nation_pos["US"])
    cn_gov = (c.nation == idx.nation_pos["CN"]) & (c.sector == idx.sector_pos["government"])
    assert not np.isin(c.current[cn_gov], us_vendors).any()
    base = run("world")
    assert value(run("retaliation"), "compute", "openai") < value(base, "compute", "openai")


def test_open_source_push_raises_issuer_open_share():
    base, pol = run("world"), run("open_source_push")
    us_open = lambda df: value(df, "share_vendor", "llama")  # noqa: E731  the US open vendor
    assert us_open(pol) > us_open(base) + 0.02
    assert value(pol, "derivatives", "llama") > value(base, "derivatives", "llama")


def test_infrastructure_buildout_raises_builder_share_in_partner():
    """The builder's clouds serve more of the partner's developers (share_host); open models
    are served by the best host present, so the build-out helps every open model it serves,
    not only the builder's (adoptsim.core.market)."""
    base, pol = run("world"), run("infrastructure_buildout")
    assert value(pol, "share_host", "CN", "nation", "BR") > value(base, "share_host", "CN", "nation", "BR") + 0.1
    assert value(pol, "share_license", "open", "nation", "BR") >= value(base, "share_license", "open", "nation", "BR")
    # and not elsewhere: the US's own market is not a partner
    assert abs(value(pol, "share_host", "CN", "nation", "US") - value(base, "share_host", "CN", "nation", "US")) < 0.02


def test_model_ban_removes_chinese_models_from_government():
    def cn_in_government(name):
        m = AdoptionModel(example(name), 0, create_community_agents=False).run()
        c, idx = m.communities, m.index
        cn = np.flatnonzero(idx.vendor_origin == idx.nation_pos["CN"])
        return [np.isin(c.current[(c.nation == idx.nation_pos[n]) & (c.sector == idx.sector_pos["government"])],
                        cn).sum() for n in ("US", "FR")]

    assert all(k > 0 for k in cn_in_government("world"))  # without the ban some do use them
    assert cn_in_government("model_ban") == [0, 0]


def test_service_restriction_empties_issuer_vendors_in_target():
    pol = run("service_restriction")
    for v in ("openai", "llama"):
        assert value(pol, "share_vendor", v, "nation", "CN") == 0.0
    assert value(pol, "share_vendor", "openai", "nation", "BR") > 0


def test_trust_shock_lowers_share_and_decays():
    base, pol = run("world"), run("trust_shock")
    # a year after the shock (half-life 12 months), while it is still half its size
    assert value(pol, "share_origin", "CN", date="2026-12-01") < value(base, "share_origin", "CN", date="2026-12-01") - 0.02
    shock = TrustShock(name="t", type="trust_shock", origin="CN", delta=-0.3, half_life=12, start="2026-01")
    assert shock.elapsed(parse_month_("2025-12")) is None and shock.elapsed(parse_month_("2026-01")) == 0


def test_compute_investment_raises_issuer_compute_and_persists():
    base, pol = run("world"), run("compute_investment")
    assert value(pol, "compute", "qwen") > 2 * value(base, "compute", "qwen")
    assert value(pol, "compute", "openai") == value(base, "compute", "openai")
    ci = ComputeInvestment(name="c", type="compute_investment", issuer="CN", start="2025-01", end="2026-01")
    assert ci.elapsed(parse_month_("2027-06")) == 11  # keeps the level reached at the end
    bo = InfrastructureBuildout(name="b", type="infrastructure_buildout", issuer="CN", targets=["BR"],
                                start="2025-01", end="2025-07")
    assert bo.elapsed(parse_month_("2030-01")) == 5


def test_price_change_lowers_price_and_raises_share():
    base, pol = run("world"), run("price_change")
    mid = "2026-09-01"
    assert value(pol, "share_origin", "CN", date=mid) > value(base, "share_origin", "CN", date=mid)


def test_education_speeds_first_adoption():
    base, pol = run("world"), run("education")
    d = "2025-12-01"
    assert value(pol, "adoption", scope="nation", scope_id="BR", date=d) > \
        value(base, "adoption", scope="nation", scope_id="BR", date=d) + 0.03
    assert value(pol, "adoption", scope="nation", scope_id="US", date=d) == \
        value(base, "adoption", scope="nation", scope_id="US", date=d)


def test_license_change_moves_llama_to_closed():
    base, pol = run("world"), run("license_change")
    assert value(pol, "share_license", "open") < value(base, "share_license", "open")
    assert value(pol, "derivatives", "llama") < value(base, "derivatives", "llama")


def test_policy_with_end_stops_acting():
    s = load_scenario(EXAMPLES / "price_change.toml")
    m = AdoptionModel(s, 0, create_community_agents=False)
    idx = m.index.vendor_pos["deepseek"]
    assert m._policy_state(parse_month_("2026-01")).price_mult[0, idx] == 0.5
    assert m._policy_state(parse_month_("2027-09")).price_mult[0, idx] == 1.0


def test_vendor_not_yet_released_is_unavailable():
    s = load_scenario(EXAMPLES / "world.toml")
    raw = s.to_dict()
    raw["vendors"][1]["available_from"] = "2027-01"  # llama
    df = simulate(parse_scenario(raw, "late"), replicates=1, create_community_agents=False)
    early = df[(df.metric == "share_vendor") & (df.key == "llama") & (df.date < "2027-01-01")]
    late = df[(df.metric == "share_vendor") & (df.key == "llama") & (df.date >= "2027-06-01")]
    assert (early.value == 0).all() and (late.value > 0).any()


def parse_month_(text):
    from adoptsim.months import parse_month
    return parse_month(text)


def _reference_state(base, idx, policies, month):
    """The world state of ``month`` as the model made it before issue 17: a copy of the base,
    then every policy in force applied in order (ids resolved on each call)."""
    state = base.copy()
    for p in policies:
        elapsed = p.elapsed(month)
        if elapsed is not None:
            p.apply(state, idx, elapsed)
    return state


class _Doubling(Policy):
    """A type that defines only ``apply`` (no ``writes``, no ``effect_key``): the plan must
    treat it as writing every field, with an effect that changes every month."""

    type: str = "doubling"
    issuer_required: ClassVar[bool] = False

    def apply(self, state, idx, elapsed):
        state.education[:] *= 1.0 + 0.01 * elapsed


@pytest.mark.parametrize("path", sorted(p.name for p in SCENARIOS.glob("*.toml"))
                         + sorted(f"examples/{p.name}" for p in EXAMPLES.glob("*.toml")))
def test_policy_plan_equals_applying_every_policy_bit_for_bit(path):
    """PolicyPlan (recomputing only the fields whose policies changed, sharing the others
    between months) gives every month, asked in any order, exactly the state of copying the
    base and applying every policy in force."""
    sc = load_scenario(SCENARIOS / path)
    idx = WorldIndex.build([n.id for n in sc.nations], [v.id for v in sc.vendors], list(sc.sectors),
                           [n.region for n in sc.nations], [v.origin for v in sc.vendors])
    base = base_world(sc, idx)[3]
    policies = sorted(sc.policies, key=lambda p: (p.start_month, p.name))  # as the model orders them
    extra = policies + [_Doubling(name="doubling", start="2025-03", end="2026-02")]
    start, end = sc.start_month, sc.start_month + sc.meta.months
    months = np.random.default_rng(3).integers(start - 2, end + 6, size=40)
    months = np.concatenate([np.arange(start - 1, end + 1), months, months[::-1]])
    for pols in (policies, extra):
        plan = PolicyPlan(pols, idx, base)
        for month in months.tolist():
            got, want = plan.state(month), _reference_state(base, idx, pols, month)
            for field, value in want.__dict__.items():
                mine = getattr(got, field)
                assert (mine is None) == (value is None), (path, month, field)
                if value is not None:
                    assert mine.dtype == value.dtype and mine.tobytes() == value.tobytes(), (path, month, field)
