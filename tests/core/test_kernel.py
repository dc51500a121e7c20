"""The fused numba kernel (adoptsim.core.kernel) against the numpy reference path: the same
utilities (bit for bit), the same probabilities to 1e-12 (the kernel takes a chooser's weights
from its group's except on the products its neighbours use, so they differ in the last bits) and
the same choices given the same uniforms, on the baseline world (nested logit, bans: the masked path) and tests/data/small.toml
(plain logit), and the same runs end to end."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from adoptsim.core import kernel, populations
from adoptsim.core.model import AdoptionModel, replicate_seed, simulate
from adoptsim.core.schema import parse_scenario
from adoptsim.io.scenario_files import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "data" / "small.toml"
WORLDS = {"baseline": ROOT / "scenarios" / "baseline.toml", "small": SMALL,
          "model_ban": ROOT / "scenarios" / "examples" / "model_ban.toml"}
# variants of small.toml (nested logit with every λ = 1 as written): the plain logit, one nest
# level with λ < 1, a complete network (peers are the world's shares)
VARIANTS = {"small_plain": {"choice": {"nests": "none"}},
            "small_origin": {"choice": {"nests": "origin", "nest_lambda": 0.6}},
            "small_complete": {"choice": {"nests": "license", "nest_lambda": 0.4}, "network": {"kind": "complete"}},
            # a temperature so low that the group's scale would overflow: rows on their own scale
            "small_cold": {"choice": {"nests": "origin", "nest_lambda": 0.5, "temperature": 0.004}}}


def world(name):
    if name in WORLDS:
        return load_scenario(WORLDS[name])
    raw = tomllib.loads(SMALL.read_text())
    for table, values in VARIANTS[name].items():
        raw.setdefault(table, {}).update(values)
    return parse_scenario(raw, name)


@pytest.fixture(params=[False, True], ids=["numpy", "fused"])
def kernel_mode(request, monkeypatch):
    monkeypatch.setattr(populations, "KERNEL", "fused" if request.param else "numpy")
    return request.param


def normalised(P):
    """Probabilities from (for the nested logit, unnormalised) weights: the fused kernel scales a
    chooser's weights by its group's largest utility, the reference by the chooser's own."""
    tot = P.sum(axis=1, keepdims=True)
    return np.divide(P, tot, out=np.zeros_like(P), where=tot > 0)


def compare_month(model, rng, use_peer=True) -> dict:
    """Both paths on the model's current inputs, for a random half of the communities as
    choosers and fresh uniforms."""
    c = model.communities
    rows = np.flatnonzero(rng.random(c.n) < 0.5)
    u = rng.random(c.n)
    ref, U_ref, P_ref = c.choose_reference(rows, model.base_utility, model.available, u, use_peer)
    got, U, P = c.choose_fused(rows, model.base_utility, model.available, u, use_peer, record=True)
    np.testing.assert_allclose(U, U_ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(normalised(P), normalised(P_ref), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(got, ref)
    na = np.flatnonzero(c.current < 0)
    if c.W is not None:  # the neighbours' adoption, as the first-adoption rule uses it
        out = np.empty(na.size)
        kernel.neighbour_adopted_rows(c.W.indptr, c.W.indices, c.W.data, c.current, na, out)
        np.testing.assert_array_equal(out, (c.W @ (c.current >= 0).astype(float))[na])
    # rows whose utilities are so far above their group's that the kernel rescales them
    avail = model.available.reshape(-1, c.V)[c.group[rows]]
    base = model.base_utility.reshape(-1, c.V)[c.group[rows]]
    inv = 1.0 / c.nesting[1][-1] if c.nesting is not None else 1.0
    top = lambda X: np.where(avail, X, -np.inf).max(axis=1) / c.temperature  # noqa: E731
    rescaled = bool(((top(U) - top(base)) * inv > kernel.RESCALE).any())
    return {"masked": not model.available.all(), "nested": c.nesting is not None, "rescaled": rescaled,
            "exact": np.array_equal(U, U_ref), "none": bool((ref < 0).any())}


@pytest.mark.parametrize("name", ["baseline", "small", "model_ban", *VARIANTS])
def test_fused_kernel_matches_reference(name):
    sc = world(name)
    model = AdoptionModel(sc, replicate_seed(3, 0), create_community_agents=False)
    rng = np.random.default_rng(11)
    seen = [compare_month(model, rng, use_peer=False)]  # the initial adopters choose without peers
    for t in range(sc.meta.months):
        model.step()
        if t % 6 == 0 or t == sc.meta.months - 1:
            seen.append(compare_month(model, rng))
    assert all(s["exact"] for s in seen)  # utilities bit for bit, not only to 1e-12
    if name == "baseline":  # the paths the fused kernel must cover were exercised
        assert any(s["nested"] for s in seen) and any(s["masked"] for s in seen)
    if name == "small_plain":
        assert not any(s["nested"] for s in seen)
    if name == "model_ban":
        assert any(s["masked"] for s in seen)
    assert any(s["rescaled"] for s in seen) == (name == "small_cold")


@pytest.mark.parametrize("name", ["baseline", "small_plain", "small_complete"])
def test_runs_identical_on_both_paths(name, monkeypatch):
    sc = world(name)
    values = {}
    for mode in ("numpy", "fused"):
        monkeypatch.setattr(populations, "KERNEL", mode)
        values[mode] = simulate(sc, seed=5, replicates=1, create_community_agents=False)["value"].to_numpy()
    np.testing.assert_array_equal(values["fused"], values["numpy"])


@pytest.mark.parametrize("V", [1, 3, 7, 8, 12, 15, 16, 17, 40, 300])
def test_row_sum_in_numpys_order(V):
    rng = np.random.default_rng(V)
    E = np.exp(rng.normal(size=(2000, V)) * 8)
    got = np.array([kernel.numpy_row_sum(row, V) for row in E])
    np.testing.assert_array_equal(got, E.sum(axis=1))


def test_kernel_choice_by_size_and_environment(monkeypatch):
    monkeypatch.setattr(populations, "KERNEL", "auto")
    monkeypatch.setattr(populations, "_numpy_work", 0)
    assert not populations.fused_default(1584) and populations.fused_default(10**6)
    # a process that has run enough on the numpy path (a sweep worker) switches to the kernel
    sc = world("small")
    monkeypatch.setattr(populations, "SWITCH_AFTER", 2 * AdoptionModel(sc, 1).communities.n * sc.meta.months)
    runs = 2
    populations._numpy_work = 0
    for r in range(runs):
        assert not AdoptionModel(sc, r, create_community_agents=False).run().communities.fused
    assert populations._numpy_work >= populations.SWITCH_AFTER
    assert AdoptionModel(sc, runs, create_community_agents=False).communities.fused
    monkeypatch.setattr(populations, "KERNEL", "numpy")
    assert not populations.fused_default(10**7)
    monkeypatch.setattr(populations, "KERNEL", "fast")
    with pytest.raises(populations.AdoptsimError, match="ADOPTSIM_KERNEL"):
        populations.fused_default(10)


def test_group_counts_as_bincount(monkeypatch):
    """The fused populations' developers per nation, sector and product (kernel.add_at) are the
    reference's bincount, bit for bit."""
    monkeypatch.setattr(populations, "KERNEL", "fused")
    sc = world("baseline")
    model = AdoptionModel(sc, replicate_seed(3, 0), create_community_agents=False)
    for _ in range(5):
        model.step()
    c = model.communities
    assert c.fused
    fused = c.developers_by_group(len(model.index.nations))
    c.fused = False
    try:
        np.testing.assert_array_equal(fused, c.developers_by_group(len(model.index.nations)))
    finally:
        c.fused = True
