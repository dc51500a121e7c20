"""The market layer (adoptsim.core.market): nested logit, products, hosts, self-hosting, prices,
licence changes on future releases, and explicit trust defaults."""

from __future__ import annotations

from pathlib import Path

import math

import numpy as np
import pytest

from adoptsim.core.choice import logit_probabilities
from adoptsim.core.market import Market, nested_logit_probabilities, self_hosting_cost
from adoptsim.core.model import AdoptionModel, simulate
from adoptsim.core.schema import parse_scenario
from adoptsim.errors import InputError
from adoptsim.io.scenario_files import load_raw, load_scenario
from adoptsim.validation import anchors as V
from adoptsim.validation import theory

EXAMPLES = Path(__file__).resolve().parents[2] / "scenarios" / "examples"

N = 20_000  # communities per nation in the simulated checks (binomial errors ~ 1/sqrt(N))


# ---- nested logit: formula checks ---------------------------------------------------------

def _random_case(rng, m=200, P=9):
    U = rng.normal(0, 2, size=(m, P))
    avail = rng.random((m, P)) < 0.8
    avail[:5] = True
    avail[5] = False  # a row with nothing available
    origin = rng.integers(0, 3, size=P)
    lic = rng.integers(0, 2, size=P)
    return U, avail, origin, lic


def _levels(origin, lic):
    return [np.unique(origin, return_inverse=True)[1], np.unique(origin * 2 + lic, return_inverse=True)[1]]


def test_nested_logit_with_lambda_one_is_the_multinomial_logit():
    rng = np.random.default_rng(1)
    U, avail, origin, lic = _random_case(rng)
    mnl = logit_probabilities(U, avail, 0.7)
    for levels in (_levels(origin, lic), _levels(origin, lic)[:1], [lic]):
        nl = nested_logit_probabilities(U, avail, 0.7, levels, [1.0] * len(levels))
        assert np.allclose(nl, mnl, rtol=0, atol=1e-12)
    assert np.all(mnl[5] == 0)


def test_two_level_nested_logit_matches_train_formula():
    """P(j) = P(j | k) · P(k | g) · P(g) with inclusive values, written out by hand for one row."""
    rng = np.random.default_rng(2)
    U = rng.normal(0, 2, size=(1, 8))
    origin, lic = np.array([0, 0, 0, 1, 1, 2, 2, 2]), np.array([0, 1, 1, 0, 0, 1, 1, 1])
    T, l1, l2 = 0.8, 0.6, 0.35
    Vj = U[0] / T
    lower = origin * 2 + lic
    I = {k: math.log(sum(math.exp(Vj[j] / l2) for j in range(8) if lower[j] == k)) for k in set(lower)}
    J = {g: math.log(sum(math.exp(l2 * I[k] / l1) for k in I if k // 2 == g)) for g in set(origin)}
    den = sum(math.exp(l1 * J[g]) for g in J)
    want = np.array([math.exp(Vj[j] / l2 - I[lower[j]]) * math.exp(l2 * I[lower[j]] / l1 - J[origin[j]])
                     * math.exp(l1 * J[origin[j]]) / den for j in range(8)])
    got = nested_logit_probabilities(U, np.ones_like(U, dtype=bool), T, _levels(origin, lic), [l1, l2])[0]
    assert np.allclose(got, want, rtol=1e-12, atol=0)
    assert math.isclose(got.sum(), 1.0, rel_tol=1e-12)


@pytest.mark.parametrize("lam", [0.1, 0.3, 0.6, 1.0])
def test_clone_property_formula(lam):
    """Splitting a product into two identical clones in its own nest multiplies the nest's weight
    by 2^λ: the nest share goes from w/(w + R) to 2^λ·w/(2^λ·w + R) — almost unchanged for small
    λ, the full doubling of the plain logit (IIA) at λ = 1."""
    U = np.array([[1.0, 0.2, -0.3, 0.5]])  # products 0 | 1, 2 | 3 in nests A | B | C
    nests = [np.array([0, 1, 1, 2])]
    base = nested_logit_probabilities(U, np.ones((1, 4), bool), 1.0, nests, [lam])[0]
    Uc = np.array([[1.0, 1.0, 0.2, -0.3, 0.5]])  # product 0 split into two clones
    clone = nested_logit_probabilities(Uc, np.ones((1, 5), bool), 1.0, [np.array([0, 0, 1, 1, 2])], [lam])[0]
    w = math.exp(1.0)
    R = w / base[0] - w  # the other nests' weight
    assert math.isclose(clone[:2].sum(), 2 ** lam * w / (2 ** lam * w + R), rel_tol=1e-12)
    assert math.isclose(clone[0], clone[1], rel_tol=1e-12)
    gain = clone[:2].sum() - base[0]
    assert gain <= (2 ** lam - 1) * base[0] * (1 - base[0]) + 1e-12  # first-order bound, concave in the weight
    if lam <= 0.1:
        assert gain < 0.02


# ---- nested logit: simulated checks ---------------------------------------------------------

def _run(tmp_path, sc, name):
    return V.run_file(V.write_scenario(sc, tmp_path, name), metrics=("share_vendor", "share_origin", "adoption"))


def _expected_origin_share(sc, lam):
    """Expected share of each origin per nation (one sector): nests by origin, each origin's weight
    (Σ exp(V/λ))^λ; returns (nations × origins, origins)."""
    U = theory.logit_utility(sc)[:, 0, :] / sc["choice"]["temperature"]
    origins = sorted({v["origin"] for v in sc["vendors"]})
    of = np.array([origins.index(v["origin"]) for v in sc["vendors"]])
    Wt = np.stack([np.exp(U[:, of == o] / lam).sum(axis=1) ** lam for o in range(len(origins))], axis=1)
    return Wt / Wt.sum(axis=1, keepdims=True), origins


@pytest.mark.parametrize("lam", [0.3, 1.0])
def test_clone_property_in_simulation(tmp_path, lam):
    """Adding an identical clone of qwen (origin CN) moves CN's share by the nested-logit formula
    — within 4.5 standard errors — under nests by origin with dissimilarity λ."""
    months = 12
    shares = {}
    for clone in (False, True):
        sc = V.logit_scenario(sectors=False, months=months, communities=N)
        sc["choice"].update(nests="origin", nest_lambda=lam)
        if clone:
            sc["vendors"].append(dict(next(v for v in sc["vendors"] if v["id"] == "qwen"), id="qwen_clone"))
        frame = _run(tmp_path, sc, f"clone-{clone}-{lam}")
        expected, origins = _expected_origin_share(sc, lam)
        nations = [n["id"] for n in sc["nations"]]
        sim = np.array([[V.series(frame, "share_origin", o, n)[0].mean() for o in origins] for n in nations])
        se = np.sqrt(expected * (1 - expected) / (N * months))
        assert (np.abs(sim - expected) / se).max() < 4.5, (sim - expected) / se
        shares[clone] = (sim[:, origins.index("CN")], expected[:, origins.index("CN")])
    (s0, e0), (s1, e1) = shares[False], shares[True]
    # the theory: CN's weight is multiplied by 2^λ
    assert np.allclose(e1, 2 ** lam * e0 / (2 ** lam * e0 + 1 - e0))
    gain = s1 - s0
    if lam < 1:
        assert gain.max() < 0.6 * (e0 * (1 - e0)).max()  # well below the logit's doubling
    else:
        assert np.all(gain > 0.5 * e0 * (1 - e0))  # IIA: the clone takes share for CN


def test_lambda_one_equals_old_logit_within_sampling_error(tmp_path):
    """The default nests with λ = 1 and the plain logit (``nests = "none"``) give the same shares
    with the same random numbers, and both equal the softmax of the documented utility."""
    out = {}
    for nests in ("none", "origin_license"):
        sc = V.logit_scenario(sectors=True, months=6, communities=N)
        sc["choice"].update(nests=nests, nest_lambda=1.0)
        frame = _run(tmp_path, sc, f"lambda1-{nests}")
        out[nests] = np.array([[V.series(frame, "share_vendor", v["id"], n["id"])[0].mean()
                                for v in sc["vendors"]] for n in sc["nations"]])
    P = theory.softmax(theory.logit_utility(sc), sc["choice"]["temperature"])
    share = np.array([s["share"] for s in sc["sectors"].values()])
    expected = np.einsum("s,nsv->nv", share, P)
    se = np.sqrt(np.einsum("s,nsv->nv", share ** 2 / (share * N), P * (1 - P)) / 6)
    for sim in out.values():
        assert (np.abs(sim - expected) / se).max() < 4.5
    # identical uniforms, probabilities equal to ~1e-15: at most a handful of draws differ
    assert np.abs(out["none"] - out["origin_license"]).max() < 1e-3


# ---- validation ------------------------------------------------------------------------------

def _small(tmp_path, **choice):
    raw = load_raw(EXAMPLES / "world.toml")
    raw.setdefault("choice", {}).update(choice)
    return raw


def test_missing_trust_is_an_error_unless_default_trust_is_set():
    raw = load_raw(EXAMPLES / "world.toml")
    raw["nations"][3]["trust"].pop("CN")
    with pytest.raises(InputError) as err:
        parse_scenario(raw)
    assert "nations.BR.trust" in str(err.value) and "default_trust" in str(err.value)
    raw["choice"]["default_trust"] = 0.25
    sc = parse_scenario(raw)
    m = AdoptionModel(sc, 1, create_community_agents=False)
    assert m.base.trust[m.index.nation_pos["BR"], m.index.nation_pos["CN"]] == 0.25


def test_nest_lambda_is_checked():
    raw = load_raw(EXAMPLES / "world.toml")
    raw["choice"]["nest_lambda"] = [0.3, 0.6]  # lower level above the upper
    with pytest.raises(InputError, match="nest_lambda"):
        parse_scenario(raw)
    raw["choice"]["nest_lambda"] = [0.5]
    with pytest.raises(InputError, match="2 level"):
        parse_scenario(raw)
    raw["choice"]["nest_lambda"] = 0.0
    with pytest.raises(InputError):
        parse_scenario(raw)
    raw["choice"]["nest_lambda"] = [0.6, 0.3]
    assert parse_scenario(raw).choice.nest_lambdas() == [0.6, 0.3]


# ---- products, hosts, self-hosting -----------------------------------------------------------

def _with_tier(raw):
    openai = next(v for v in raw["vendors"] if v["id"] == "openai")
    openai["products"] = [{"id": "mini", "price": 0.6, "price_decline": 0.0, "capability_offset": -10.0,
                           "available_from": "2025-07"}]
    return raw


def test_products_sum_to_vendor_shares_and_have_prices():
    sc = parse_scenario(_with_tier(load_raw(EXAMPLES / "world.toml")))
    m = AdoptionModel(sc, 2, create_community_agents=False)
    assert m.market.table.ids[-1] == "openai.mini" and m.market.P == len(sc.vendors) + 1
    assert not m.market.on_market[-1]  # before 2025-07
    frame = simulate(sc, replicates=1)
    w = frame[frame["scope"] == "world"]
    price = w[(w["metric"] == "price") & (w["key"] == "openai.mini")]["value"].to_numpy()
    assert np.allclose(price, 0.6)  # no decline; the vendor is above average share (no price cut)
    last = w[w["date"] == w["date"].max()]
    ad = last[last["metric"] == "adoption"]["value"].iloc[0]
    for metric in ("share_vendor", "share_license", "share_origin", "share_host"):
        assert math.isclose(last[last["metric"] == metric]["value"].sum(), ad, rel_tol=1e-9), metric
    # the tier is chosen, and OpenAI's vendor share is the sum of its two products
    m = AdoptionModel(sc, 2, create_community_agents=False).run()
    devs = m.communities.developers_by(len(m.index.nations))[:, 1:].sum(axis=0)
    assert devs[-1] > 0
    one = simulate(sc, replicates=1, seed=2, metrics=("share_vendor",))
    share = one[(one["scope"] == "world") & (one["key"] == "openai") & (one["date"] == one["date"].max())]["value"]
    assert math.isclose(share.iloc[0], (devs[0] + devs[-1]) / m.communities.total_size, rel_tol=1e-9)


def test_self_hosting_cost_falls_with_hardware_and_rises_with_controls():
    c = self_hosting_cost(1.5, 1.5, 0.28, np.array([1.0, 0.9, 0.05]), 24)
    assert np.allclose(c, 1.5 * 0.72 ** 2 * np.exp(1.5 * np.array([0.0, 0.1, 0.95])))


def test_open_models_use_the_best_host_closed_ones_their_vendors_cloud():
    sc = load_scenario(EXAMPLES / "world.toml")
    m = AdoptionModel(sc, 3, create_community_agents=False)
    idx = m.index
    us, br, cn = (idx.nation_pos[k] for k in ("US", "BR", "CN"))
    deepseek, openai = idx.vendor_pos["deepseek"], idx.vendor_pos["openai"]
    # an open Chinese model in the US is served by the US clouds (presence 1.0), not China's (0)
    assert m.host[us, 0, deepseek] in (us, len(idx.nations))
    assert m.host[cn, 0, openai] == us  # a closed model: only its vendor's cloud
    w = m.communities.weights
    H_cloud = -w["cost"][0] * np.log(m.hosted[us, deepseek]) + w["infrastructure"][0] * 1.0
    assert m.host[us, 0, deepseek] == us
    assert math.isclose(float(np.log(1)), 0.0)
    U = m.base_utility[us, 0, deepseek]
    rest = (w["capability"][0] * m.market.capability[deepseek] + w["cost"][0] * np.log(m.gdp[us])
            + w["trust"][0] * m.world.trust[us, cn] + w["sovereignty"][0] * m.sovereignty[us]
            + w["ecosystem"][0] * np.log1p(m.vendors.derivatives[deepseek]))
    assert math.isclose(U, rest + H_cloud, rel_tol=1e-12)


def test_requires_self_host_allows_only_self_hosted_open_weights():
    raw = load_raw(EXAMPLES / "world.toml")
    raw["sectors"]["government"]["requires_self_host"] = True
    m = AdoptionModel(parse_scenario(raw), 4, create_community_agents=False).run()
    gov = m.index.sector_pos["government"]
    closed = ~m.market.is_open
    assert not m.available[:, gov, closed].any()
    assert (m.host[:, gov, m.market.is_open] == len(m.index.nations)).all()
    assert m.available[:, 1 - gov, closed].any()


def test_tier2_export_control_lowers_self_hosted_use_in_a_non_producing_nation():
    """Brazil makes no models; a chip-access cap there now changes its adoption (example)."""
    ctrl = load_scenario(EXAMPLES / "export_control_self_host.toml")
    assert "BR" not in {v.origin for v in ctrl.vendors}
    raw = load_raw(EXAMPLES / "export_control_self_host.toml")
    raw["policies"] = []
    base = parse_scenario(raw)

    def self_share(sc):
        f = simulate(sc, replicates=3, metrics=("share_host",))
        sel = f[(f["scope_id"] == "BR") & (f["key"] == "self") & (f["date"] >= "2026-01-01")
                & (f["date"] < "2027-01-01")]
        return sel.groupby("replicate")["value"].mean().to_numpy()

    b, c = self_share(base), self_share(ctrl)
    assert b.min() > 0.2  # self-hosting is in use before the control ...
    assert c.max() < 0.05 and (b - c).min() > 0.2  # ... and nearly gone under it, in every replicate


def test_cloud_buildout_raises_the_builders_hosting_share():
    sc = load_scenario(EXAMPLES / "infrastructure_buildout.toml")
    raw = load_raw(EXAMPLES / "infrastructure_buildout.toml")
    raw["policies"] = []
    base = parse_scenario(raw)
    pol = sc.policies[0]

    def host_share(s):
        f = simulate(s, replicates=2, metrics=("share_host",))
        sel = f[f["scope_id"].isin(pol.targets) & (f["key"] == pol.issuer) & (f["date"] == f["date"].max())]
        return sel["value"].sum()

    assert host_share(sc) > host_share(base) + 0.05


# ---- prices ----------------------------------------------------------------------------------

def test_a_vendor_losing_share_cuts_its_price():
    sc = load_scenario(EXAMPLES / "world.toml")
    raw = sc.to_dict()
    raw["dynamics"]["price_share_response"] = 0.6
    m = Market(parse_scenario(raw), AdoptionModel(sc, 1, create_community_agents=False).index)
    decline = m.table.decline
    m.step_prices(np.array([0.6, 0.2, 0.1, 0.1, 0.0]))  # openai, llama, mistral, deepseek, qwen
    p1 = m.price.copy()
    assert np.allclose(p1, m.table.price0 * (1 - decline) ** (1 / 12))  # at their peak: listed path
    m.step_prices(np.array([0.15, 0.2, 0.1, 0.05, 0.5]))
    loss = np.array([0.75, 0.0, 0.0, 0.5, 0.0])  # 1 − share / peak
    assert np.allclose(m.price, p1 * (1 - decline) ** (1 / 12) * np.exp(-0.6 * loss / 12))


# ---- licence changes act on future releases -------------------------------------------------

def test_closing_keeps_the_last_open_release_frozen():
    sc = load_scenario(EXAMPLES / "license_change.toml")
    pol = sc.policies[0]
    assert pol.license == "closed"
    v = sc.vendors[[x.id for x in sc.vendors].index(pol.vendors[0])]
    m = AdoptionModel(sc, 5, create_community_agents=False)
    ids = m.market.table.ids
    slot = ids.index(f"{v.id}.open_release")
    flag = ids.index(v.id)
    caps, opened, on = [], [], []
    while m.t < sc.meta.months:
        cap_before = m.vendors.capability[flag]
        m.step()
        caps.append((cap_before, m.market.capability[slot], m.market.capability[flag]))
        opened.append((m.market.is_open[flag], m.market.is_open[slot]))
        on.append(m.market.on_market[slot])
    start = pol.start_month - sc.start_month
    assert not any(on[:start]) and all(on[start:])  # released in the month the vendor closes
    assert all(o for o, _ in opened[:start]) and not any(o for o, _ in opened[start:])  # flagship closed
    assert all(s for _, s in opened[start:])  # the frozen release is open
    frozen = {c[1] for c in caps[start:]}
    assert len(frozen) == 1 and math.isclose(frozen.pop(), caps[start][0])  # last open month's capability
    assert caps[-1][2] > caps[start][1] + 1  # new capability goes to the closed flagship


def test_a_strategy_switch_to_closed_also_keeps_the_released_weights():
    raw = load_raw(EXAMPLES / "world.toml")
    llama = next(v for v in raw["vendors"] if v["id"] == "llama")
    llama["close_above_share"] = 0.01  # closes as soon as switches are evaluated
    sc = parse_scenario(raw)
    m = AdoptionModel(sc, 6, create_community_agents=False)
    slot = m.market.table.ids.index("llama.open_release")
    for _ in range(sc.dynamics.switch_after + 3):
        m.step()
    assert m.vendors.switched[m.index.vendor_pos["llama"]]
    assert m.market.on_market[slot] and m.market.is_open[slot] and not m.market.is_open[m.index.vendor_pos["llama"]]
    frozen = m.market.capability[slot]
    for _ in range(12):
        m.step()
    assert m.market.capability[slot] == frozen < m.market.capability[m.index.vendor_pos["llama"]]
