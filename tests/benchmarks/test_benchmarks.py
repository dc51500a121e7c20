"""Smoke tests of benchmarks/: the measurements work (not how fast), and the plain per-agent
Mesa implementation follows the same rules as the engine (statistically: they draw different
random numbers)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

run = pytest.importorskip("run")
synth = pytest.importorskip("synth")
plain_mesa = pytest.importorskip("plain_mesa")


def test_synthetic_scenario_has_the_requested_size():
    sc = synth.synthetic(2_000, months=6)
    assert len(sc.vendors) == 12 and sc.communities.per_nation * len(sc.nations) == 2_000
    assert sc.meta.months == 6 and len(sc.policies) == 2


def test_measurements_run_and_report_sane_figures():
    r = run.measure_scaling(1_000, 3, agents=True)
    assert r["communities"] == 1_000 and r["months"] == 3
    assert r["run_s"] > 0 and r["us_per_community_step"] > 0 and r["peak_mb"] > 0
    assert 0.0 <= r["adoption"] <= 1.0
    p = run.measure_plain(1_000, 2)
    assert p["plain_s_per_step"] > 0 and p["engine_s_per_step"] > 0 and p["speedup"] > 0


@pytest.mark.parametrize("network", ["regional", "complete"])
def test_plain_mesa_follows_the_engine_rules(network):
    """Both start from the same state (PlainMesaModel copies the engine's network and initial
    adopters for the same seed). After 3 months, world adoption and every vendor's share agree
    within 6 standard deviations of the difference of two independent runs: a share is a
    size-weighted mean of per-community outcomes, so its standard deviation is at most
    0.5/sqrt(n_eff) with n_eff = (Σ size)² / Σ size², and the difference of two runs has
    sqrt(2) times that. (Over longer horizons peer feedback amplifies the spread, so the
    horizon is kept short.)"""
    from adoptsim.core.model import AdoptionModel, replicate_seed

    sc = synth.synthetic(10_000, months=6, network=network, market=False)  # plain Mesa: the plain logit
    plain = plain_mesa.PlainMesaModel(sc, seed=3)
    engine = AdoptionModel(sc, replicate_seed(3, 0), create_community_agents=False)
    assert np.array_equal(engine.communities.current, plain.engine.communities.current)
    for _ in range(3):
        plain.step()
        engine.step()
    c = engine.communities
    n_eff = c.size.sum() ** 2 / (c.size ** 2).sum()
    tol = 6 * np.sqrt(2) * 0.5 / np.sqrt(n_eff)
    e_share = np.bincount(c.current[c.current >= 0], weights=c.size[c.current >= 0], minlength=c.V) / c.total_size
    p_share = np.zeros(c.V)
    for a in plain.community_list:
        if a.current >= 0:
            p_share[a.current] += a.size
    p_share /= plain.total_size
    assert abs(p_share.sum() - e_share.sum()) < tol, (p_share.sum(), e_share.sum(), tol)
    assert np.abs(p_share - e_share).max() < tol, (p_share, e_share, tol)
    assert 0.05 < e_share.sum() < 0.99  # the test compares something that moved


def test_community_agents_can_be_made_later_without_changing_numbers():
    from adoptsim.core.agents import Community
    from adoptsim.core.metrics import tidy
    from adoptsim.core.model import AdoptionModel

    sc = synth.synthetic(1_000, months=4)
    eager = AdoptionModel(sc, 5).run()
    lazy = AdoptionModel(sc, 5, create_community_agents=False)
    assert lazy.community_agents is None and len(lazy.agents_by_type.get(Community, [])) == 0
    lazy.step()
    agents = lazy.make_community_agents()
    assert lazy.make_community_agents() is agents and len(lazy.agents_by_type[Community]) == 1_000
    for _ in range(3):
        lazy.step()
    assert np.array_equal(tidy(eager)["value"].to_numpy(), tidy(lazy)["value"].to_numpy(), equal_nan=True)
    assert {a.current_model for a in agents} <= set(eager.market.table.ids) | {None}


@pytest.mark.slow  # a fresh interpreter importing the run workflow
def test_a_run_without_plots_imports_no_matplotlib_and_small_runs_no_numba():
    """`adoptsim run --no-plots` must not pay for matplotlib, and a baseline-sized run not for
    numba (the fused kernel starts at adoptsim.core.populations.FUSED_FROM communities)."""
    import subprocess

    code = ("import sys\n"
            "from adoptsim.workflows.run import run_scenario\n"
            "from adoptsim.core.model import simulate\n"
            "from adoptsim.io.scenario_files import load_scenario\n"
            f"simulate(load_scenario({str(BENCH.parent / 'tests' / 'data' / 'small.toml')!r}), replicates=1)\n"
            "print(sorted(m for m in ('matplotlib', 'numba') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_lean_mesa_follows_the_engine_rules_on_the_baseline_world():
    """The lean per-agent Mesa version (nested logit, bans, 15 products) against the engine on
    the baseline world scaled to ~10^4 communities, from the same start (network, initial
    adopters), after 3 months. The engine's spread is measured: R = 12 engine runs from that
    start with other choice streams give each product's mean and standard deviation sd; the
    lean version's share lies within 7·sd·sqrt(1 + 1/R) (+ 0.001) of the mean. (The bound of
    test_plain_mesa_follows_the_engine_rules, 0.5/sqrt(n_eff), is ~15× looser here: the baseline's
    nations differ by orders of magnitude in developers. A plain logit in place of the nested one
    lands ~25 sd away.)"""
    from adoptsim.core.model import AdoptionModel, replicate_seed

    sc = run.scaled_baseline(10_000, months=6)

    def shares(model):
        c = model.communities
        has = c.current >= 0
        return np.bincount(c.current[has], weights=c.size[has], minlength=c.V) / c.total_size

    R, runs = 12, []
    for r in range(R):
        engine = AdoptionModel(sc, replicate_seed(3, 0), create_community_agents=False)
        for i, k in enumerate(("adoption", "revision", "choice")):
            engine.streams[k] = np.random.default_rng([r, i])
        for _ in range(3):
            engine.step()
        runs.append(shares(engine))
    runs = np.array(runs)
    mean, sd = runs.mean(axis=0), runs.std(axis=0, ddof=1)
    lean = plain_mesa.LeanMesaModel(sc, seed=3)  # starts from the engine's state of replicate_seed(3, 0)
    for _ in range(3):
        lean.step()
    got = lean.shares()
    tol = 7 * sd * np.sqrt(1 + 1 / R) + 1e-3
    assert (np.abs(got - mean) < tol).all(), (got, mean, tol)
    assert engine.communities.nesting is not None and 0.05 < mean.sum() < 0.99
