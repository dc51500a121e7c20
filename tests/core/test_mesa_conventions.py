"""Mesa conventions of AdoptionModel (issue 15 item 4): a Scenario or a path, Mesa 3's ``rng=``,
``running`` and the horizon, scalar and agent reporters that ``mesa.batch_run`` reads, and the
same numbers as ``simulate``."""

from __future__ import annotations

import inspect

import mesa
import numpy as np
import pandas as pd
import pytest

import adoptsim
from adoptsim.core import model as core_model
from adoptsim.core.metrics import tidy
from adoptsim.core.model import HorizonReached, replicate_seed, simulate
from adoptsim.io.scenario_files import load_scenario


@pytest.fixture(scope="module")
def small(repo):
    return repo.root / "tests" / "data" / "small.toml"


def test_path_or_scenario_and_rng_give_the_run_of_simulate(small):
    sc = load_scenario(small)
    from_path = adoptsim.AdoptionModel(small, rng=11).run()
    from_seq = adoptsim.AdoptionModel(sc, rng=replicate_seed(11, 0)).run()
    expected = simulate(sc, seed=11, replicates=1)
    for m in (from_path, from_seq):
        got = tidy(m)
        pd.testing.assert_frame_equal(got, expected.astype(got.dtypes.to_dict()), check_exact=True)
    # the default is the scenario's [meta] seed
    default = adoptsim.AdoptionModel(sc).run()
    explicit = adoptsim.AdoptionModel(sc, rng=sc.meta.seed).run()
    np.testing.assert_array_equal(default.datacollector.model_vars["adoption"],
                                  explicit.datacollector.model_vars["adoption"])
    with pytest.raises(TypeError, match="Scenario"):
        core_model.AdoptionModel(str(small))  # the core takes no paths (no I/O)
    with pytest.raises(TypeError, match="rng"):
        adoptsim.AdoptionModel(sc, rng=-1)


def test_running_turns_false_at_the_horizon_and_step_past_it_raises(small):
    m = adoptsim.AdoptionModel(small, rng=1, create_community_agents=False)
    months = m.spec.meta.months
    for _ in range(months - 1):
        m.step()
        assert m.running
    m.step()
    assert not m.running and m.steps == months
    with pytest.raises(HorizonReached, match=r"horizon \(24 months, 2026-12\)"):
        m.step()
    assert len(m.datacollector.model_vars["adoption"]) == months  # nothing recorded past it
    m.run()  # a finished run stays finished
    assert m.steps == months + 1 and len(tidy(m)["step"].unique()) == months


def test_scalar_reporters_equal_the_tidy_world_metrics(small):
    m = adoptsim.AdoptionModel(small, rng=4).run()
    mv = m.datacollector.get_model_vars_dataframe()
    world = tidy(m).query("scope == 'world'")

    def series(metric, key):
        return world[(world["metric"] == metric) & (world["key"] == key)]["value"].to_numpy()

    np.testing.assert_allclose(mv["adoption"], series("adoption", ""), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(mv["open_share"], series("share_license", "open"), rtol=1e-12, atol=1e-15)
    for origin in ("US", "CN"):
        np.testing.assert_allclose(mv[f"share_origin_{origin}"], series("share_origin", origin), rtol=1e-12,
                                   atol=1e-15)
    agents = m.datacollector.get_agent_vars_dataframe().xs(m.steps, level="Step")
    assert set(agents["agent_type"]) == {"Nation", "Vendor", "Community"}
    vendors = agents[agents["agent_type"] == "Vendor"].set_index("name")
    assert vendors.loc["deepseek", "capability"] == pytest.approx(m.vendors.capability[m.index.vendor_pos["deepseek"]])


def test_mesa_batch_run_works_without_glue(small):
    params = {"scenario": str(small), "create_community_agents": False}
    if "rng" in inspect.signature(mesa.batch_run).parameters:  # Mesa 3.5: seeds through batch_run's rng=
        rows = mesa.batch_run(adoptsim.AdoptionModel, params, rng=[1, 2], max_steps=1000, display_progress=False)
    else:  # Mesa 3.3: rng is a model parameter like any other
        rows = mesa.batch_run(adoptsim.AdoptionModel, {**params, "rng": [1, 2]}, iterations=1, max_steps=1000,
                              display_progress=False)
    frame = pd.DataFrame(rows)
    assert sorted(frame["rng"].unique()) == [1, 2]
    assert frame["Step"].max() in (23, 24)  # stopped by running at the 24-month horizon, not max_steps (1000)
    last = frame.groupby("rng")["adoption"].first()
    for seed in (1, 2):
        m = adoptsim.AdoptionModel(str(small), rng=seed, create_community_agents=False).run()
        assert last[seed] == m.datacollector.model_vars["adoption"][-1]
    assert {"share_origin_CN", "open_share", "agent_type", "capability"} <= set(frame.columns)
