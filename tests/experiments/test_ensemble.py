"""Ensemble runs (issue 14): a scenario names a posterior, ``adoptsim run`` draws members by
systematic resampling and runs member x replicate with their own seeds; the results carry a
``member`` column, the summary splits the spread into between- and within-member parts, and
``compare`` pairs runs by (member, replicate) and refuses runs whose draws differ.

Real runs of the small test scenario (3 nations, 24 months) over a six-member posterior."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adoptsim.analysis.bands import spread_parts, summarise_run
from adoptsim.analysis.compare import effects, headline
from adoptsim.cli import main
from adoptsim.core.model import simulate
from adoptsim.experiments.ensemble import draw_members, plan_ensemble, systematic_draws
from adoptsim.io.posterior import read_posterior, write_posterior
from adoptsim.io.scenario_files import load_raw, load_scenario
from adoptsim.io.tables import read_table

N = 6
PARAMS = {"choice.trust": [0.6, 0.8, 1.0, 1.2, 1.4, 1.6], "adoption.q": [0.3, 0.35, 0.4, 0.45, 0.5, 0.55],
          "policies.chips.chip_access": [0.5] * N}
BASE = {"choice.trust": 1.0, "adoption.q": 0.4, "policies.chips.chip_access": 0.5}


def posterior_frame(params=PARAMS, weights=None) -> pd.DataFrame:
    n = len(next(iter(params.values())))
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=float)
    return pd.DataFrame({"member": np.arange(n, dtype=np.int32), "weight": w, **params})


def write_post(path, params=PARAMS, base=BASE, weights=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_posterior(path, posterior_frame(params, weights),
                           {"scenario": "small.toml", "base": base, "priors": {}, "method": "test fixture"})


@pytest.fixture(scope="module")
def world(tmp_path_factory, small_text):
    """small.toml naming post/small-posterior.parquet; a variant (other folder) extending it with a
    deliberately tighter export control; runs: ensemble 3 members x 2 replicates (twice: variant
    too), a point run, and an ensemble run with another seed."""
    root = tmp_path_factory.mktemp("ensemble")
    write_post(root / "post" / "small-posterior.parquet")
    text = small_text.replace("seed = 3\n", 'seed = 3\nensemble = "post/small-posterior.parquet"\n', 1)
    (root / "small.toml").write_text(text)
    (root / "variants").mkdir()
    (root / "variants" / "tight.toml").write_text(
        'extends = "../small.toml"\n[meta]\nname = "tight"\n\n[[policies]]\nname = "chips"\nchip_access = 0.2\n')
    q = ["--no-plots", "--quiet", "--workers", "1"]
    runs = {"ens": ["--members", "3", "--replicates", "2"], "tight": ["--members", "3", "--replicates", "2"],
            "point": ["--ensemble", "none", "--replicates", "2"],
            "seed4": ["--members", "3", "--replicates", "2", "--seed", "4"]}
    for name, flags in runs.items():
        file = root / "variants" / "tight.toml" if name == "tight" else root / "small.toml"
        assert main(["run", str(file), "--out", str(root / name), *flags, *q]) == 0
    return root


def test_member_column_manifest_and_members_table(world):
    ts = pq.read_table(world / "ens" / "timeseries.parquet")
    assert ts.schema.field("member").type == pa.int32()
    frame = ts.to_pandas()
    assert sorted(frame["member"].unique()) == [0, 1, 2] and sorted(frame["replicate"].unique()) == [0, 1]
    man = json.loads((world / "ens" / "manifest.json").read_text())
    ens = man["ensemble"]
    assert man["members"] == 3 and man["replicates"] == 2 and ens["members"] == 3 and ens["posterior_members"] == N
    assert len(ens["sha256"]) == 64 and ens["file"].endswith("small-posterior.parquet")
    assert sorted(ens["applied"]) == sorted(PARAMS) and ens["kept"] == {}
    members = pd.read_parquet(world / "ens" / "members.parquet")
    assert list(members["member"]) == [0, 1, 2] and list(members["posterior_member"]) == ens["draws"]
    # systematic resampling of 6 equal weights into 3: one member from each pair (2j, 2j+1)
    assert [d // 2 for d in ens["draws"]] == [0, 1, 2]
    for _, row in members.iterrows():
        assert row["choice.trust"] == PARAMS["choice.trust"][int(row["posterior_member"])]
    # each member ran its own parameters: the members' curves differ
    final = frame[(frame["metric"] == "share_origin") & (frame["key"] == "CN") & (frame["scope"] == "world")
                  & (frame["step"] == 24)]
    assert final.groupby("member")["value"].mean().nunique() == 3


def test_point_run_keeps_todays_numbers_and_member_zero(world):
    """--ensemble none: member 0 everywhere and the numbers of simulate() (seed children (r,))."""
    frame = read_table(world / "point" / "timeseries")
    assert (frame["member"] == 0).all() and frame["member"].dtype == np.int32
    sc = load_scenario(world / "small.toml")
    ref = simulate(sc, seed=3, replicates=2)
    np.testing.assert_array_equal(frame["value"].to_numpy(), ref["value"].to_numpy())
    man = json.loads((world / "point" / "manifest.json").read_text())
    assert man["ensemble"] is None and man["members"] == 1
    assert not (world / "point" / "members.parquet").exists()


def test_summary_pools_members_and_splits_the_spread(world):
    s = pd.read_parquet(world / "ens" / "summary.parquet")
    row = s[(s["metric"] == "share_origin") & (s["key"] == "CN") & (s["scope"] == "world")
            & (s["date"] == s["date"].max())].iloc[0]
    assert row["n"] == 6 and row["sd_between"] > 0 and row["sd_within"] > 0
    p = pd.read_parquet(world / "point" / "summary.parquet")
    assert p["sd_between"].isna().all() and p["sd_within"].notna().any()


def test_spread_parts_on_a_constructed_case():
    """Members 0 and 1 with replicates (1, 3) and (5, 7): member means 2 and 6, so sd_between =
    sd(2, 6) = 2·√2; within each member the deviations are ±1, pooled sd_within =
    √((1+1+1+1)/(1+1)) = √2. One replicate: sd_within is NaN; one member: sd_between is NaN."""
    v = pd.DataFrame({"g": ["a"] * 4, "member": [0, 0, 1, 1], "replicate": [0, 1, 0, 1], "value": [1.0, 3, 5, 7]})
    out = spread_parts(v, ["g"]).iloc[0]
    assert math.isclose(out["sd_between"], 2 * math.sqrt(2)) and math.isclose(out["sd_within"], math.sqrt(2))
    one_rep = spread_parts(v[v["replicate"] == 0], ["g"]).iloc[0]
    assert math.isclose(one_rep["sd_between"], 4 / math.sqrt(2)) and math.isnan(one_rep["sd_within"])
    one_member = spread_parts(v[v["member"] == 0], ["g"]).iloc[0]
    assert math.isnan(one_member["sd_between"]) and math.isclose(one_member["sd_within"], math.sqrt(2))


def test_summarise_run_adds_the_parts_per_group():
    dates = pd.to_datetime(["2025-12-01"] * 4)
    frame = pd.DataFrame({"member": [0, 0, 1, 1], "replicate": [0, 1, 0, 1], "step": 12, "date": dates,
                          "scope": "world", "scope_id": "world", "metric": "adoption", "key": "",
                          "value": [1.0, 3, 5, 7]})
    row = summarise_run(frame).iloc[0]
    assert row["n"] == 4 and row["q50"] == 4.0
    assert math.isclose(row["sd_between"], 2 * math.sqrt(2)) and math.isclose(row["sd_within"], math.sqrt(2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60).filter(lambda w: sum(w) > 1e-6),
       st.integers(1, 200), st.floats(0.0, 0.999999))
def test_systematic_resampling_draws_each_member_floor_or_ceil_of_k_w(weights, k, u):
    w = np.asarray(weights) / sum(weights)
    draws = systematic_draws(weights, k, u)
    assert len(draws) == k and (np.diff(draws) >= 0).all()
    counts = np.bincount(draws, minlength=len(w))
    assert (counts >= np.floor(k * w - 1e-9)).all() and (counts <= np.ceil(k * w + 1e-9)).all()
    # a member of weight 0 is never drawn (the input's zeros: a subnormal weight such as 5e-324
    # becomes 0 in w above but is a positive weight, which a draw at u = 0 may land on)
    assert (counts[np.asarray(weights) == 0] == 0).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 500), st.integers(0, 2**32))
def test_equal_weights_and_k_equal_to_the_size_draw_every_member_once(n, seed):
    draws = draw_members(np.full(n, 1.0 / n), n, seed)
    assert list(draws) == list(range(n))
    assert list(draw_members(np.full(n, 1.0 / n), max(1, n // 3), seed)) == list(
        draw_members(np.full(n, 1.0 / n), max(1, n // 3), seed))  # reproducible from the seed


def test_inherited_ensemble_resolves_from_the_declaring_file_and_deliberate_changes_win(world):
    """variants/tight.toml extends ../small.toml: the posterior path is relative to small.toml,
    and the variant's own chip_access (0.2, base 0.5) is kept in every member."""
    sc = load_scenario(world / "variants" / "tight.toml")
    assert sc.meta.ensemble == str((world / "post" / "small-posterior.parquet").resolve())
    post = read_posterior(sc.meta.ensemble, "tight.toml")
    plan = plan_ensemble(sc, load_raw(world / "variants" / "tight.toml"), post, 3, 3, "tight.toml")
    assert list(plan.kept) == ["policies.chips.chip_access"]
    assert plan.kept["policies.chips.chip_access"] == {"scenario": 0.2, "base": 0.5}
    for m, msc in plan.scenarios.items():
        assert msc.policies[0].chip_access == 0.2 and msc.choice.trust == PARAMS["choice.trust"][m]
    man = json.loads((world / "tight" / "manifest.json").read_text())
    assert list(man["ensemble"]["kept"]) == ["policies.chips.chip_access"]
    assert man["ensemble"]["draws"] == json.loads((world / "ens" / "manifest.json").read_text())["ensemble"]["draws"]
    # the digest does not depend on where the posterior lives
    assert sc.digest() == load_scenario(world / "variants" / "tight.toml").digest()


def _bad_posterior(kind: str, path):
    if kind == "missing":
        return
    if kind == "not parquet":
        path.write_text("member,weight\n0,1\n")
    elif kind == "no metadata":
        pq.write_table(pa.Table.from_pandas(posterior_frame(), preserve_index=False), path)
    elif kind == "weights":
        write_post(path, weights=[0.5] * N)
    elif kind == "unknown path":
        write_post(path, params={**PARAMS, "choice.trsut": [1.0] * N})


@pytest.mark.parametrize("kind, expected", [
    ("missing", "file not found"), ("not parquet", "unreadable as Parquet"),
    ("no metadata", "no 'adoptsim.posterior' metadata"), ("weights", "the weights sum to 3"),
    ("unknown path", "column 'choice.trsut' names no field of this scenario; nearest valid paths: choice.trust"),
])
def test_a_bad_ensemble_file_is_one_line_naming_the_scenario_and_field(tmp_path, small_text, capsys, kind, expected):
    _bad_posterior(kind, tmp_path / "post.parquet")
    scen = tmp_path / "s.toml"
    scen.write_text(small_text.replace("seed = 3\n", 'seed = 3\nensemble = "post.parquet"\n', 1))
    code = main(["run", str(scen), "--out", str(tmp_path / "out"), "--no-plots", "--quiet", "--members", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.removeprefix("error: ").startswith(f"{scen}: meta.ensemble: ") and expected in err, err
    assert not (tmp_path / "out").exists()


def test_ensemble_field_and_options_are_checked(tmp_path, small_text, capsys):
    scen = tmp_path / "s.toml"
    scen.write_text(small_text.replace("seed = 3\n", "seed = 3\nensemble = 3\n", 1))
    assert main(["run", str(scen), "--no-plots", "--quiet"]) == 2
    assert "meta.ensemble: expected the path of a posterior .parquet file" in capsys.readouterr().err
    plain = tmp_path / "plain.toml"
    plain.write_text(small_text)
    assert main(["run", str(plain), "--members", "3", "--no-plots", "--quiet"]) == 2
    assert "--members: " in capsys.readouterr().err
    assert main(["run", str(plain), "--ensemble", str(tmp_path / "nope.parquet"), "--no-plots", "--quiet"]) == 2
    assert capsys.readouterr().err.removeprefix("error: ").startswith("--ensemble: ")


@pytest.mark.slow
def test_same_numbers_with_one_or_two_workers(world):
    """The same ensemble run on the calling process and on two worker processes."""
    out = world / "two_workers"
    assert main(["run", str(world / "small.toml"), "--members", "3", "--replicates", "2", "--workers", "2",
                 "--out", str(out), "--no-plots", "--quiet"]) == 0
    for name in ("timeseries", "summary", "members"):
        pd.testing.assert_frame_equal(read_table(world / "ens" / name), read_table(out / name), check_exact=True)
    assert json.loads((out / "manifest.json").read_text())["executor"] == "2 processes"


def test_compare_pairs_by_member_and_replicate(world, tmp_path, capsys):
    assert main(["compare", str(world / "ens"), str(world / "tight"), "--out", str(tmp_path / "c"),
                 "--metric", "share_origin"]) == 0
    out = capsys.readouterr().out
    assert "tight vs ens: share_origin [" in out and "of plausible worlds" in out and "pts (10-90%:" in out
    eff = pd.read_parquet(tmp_path / "c" / "effects.parquet")
    assert list(eff.columns) == ["results", "reference", "metric", "scope", "scope_id", "key", "date", "median",
                                 "q10", "q90", "p_positive", "n"]
    assert (eff["n"] == 3).all() and eff["p_positive"].between(0, 1).all()
    diffs = pd.read_parquet(tmp_path / "c" / "differences.parquet")
    assert diffs["paired"].all() and (diffs["n"] == 6).all()
    # before the variant's export control starts (2025-06) both sides are identical run by run
    early = eff[eff["date"] < pd.Timestamp("2025-06-01").date()]
    assert (early[["median", "q10", "q90"]].abs().to_numpy() < 1e-12).all() and (early["p_positive"] == 0).all()
    man = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert man["results"][1]["effect_unit"] == "member" and man["headlines"][0]["n"] == 3


@pytest.mark.parametrize("other, why", [("seed4", "their seeds differ"), ("point", "ran an ensemble and")])
def test_compare_refuses_runs_whose_draws_differ(world, tmp_path, capsys, other, why):
    for form in (["compare", str(world / "ens"), str(world / other)],
                 ["compare", str(world / "ens"), str(world / other), "--out", str(tmp_path / "c")]):
        code = main(form)
        err = capsys.readouterr().err
        assert code == 2 and why in err and "cannot be paired" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "c").exists()


def test_p_positive_and_headline_on_a_constructed_case():
    """Four members x two replicates; the members' mean effects are -0.03, -0.05, 0.01 and
    -0.02: p_positive = 1/4, median -0.025; the headline says it in points."""
    effs = {0: (-0.02, -0.04), 1: (-0.06, -0.04), 2: (0.0, 0.02), 3: (-0.01, -0.03)}
    rows = [{"member": m, "replicate": r, "date": pd.Timestamp("2030-12-01"), "key": "CN", "value": v}
            for m, pair in effs.items() for r, v in enumerate(pair)]
    table, unit = effects(pd.DataFrame(rows))
    assert unit == "member"
    row = table.iloc[0]
    assert row["p_positive"] == 0.25 and row["n"] == 4 and math.isclose(row["median"], -0.025)
    means = np.array([-0.03, -0.05, 0.01, -0.02])
    assert math.isclose(row["q10"], np.quantile(means, 0.1)) and math.isclose(row["q90"], np.quantile(means, 0.9))
    h = headline(table.assign(results="x", reference="b"), "x", unit, share=True)
    assert h["text"] == ("-2.5 pts (10-90%: -4.4 to +0.1), negative in 75% of plausible worlds")
    # one member: over replicates, and said so
    one, unit1 = effects(pd.DataFrame(rows).query("member == 2"))
    assert unit1 == "replicate" and one.iloc[0]["p_positive"] == 0.5 and one.iloc[0]["n"] == 2
    h1 = headline(one.assign(results="x", reference="b"), "x", unit1, share=False)
    assert h1["text"].endswith("of replicates (one parameter set: no ensemble)")


def test_budget_counts_members_times_replicates(world, capsys):
    assert main(["run", str(world / "small.toml"), "--members", "3", "--replicates", "2", "--max-runs", "5",
                 "--no-plots", "--quiet", "--out", str(world / "capped")]) == 2
    err = capsys.readouterr().err
    assert "3 member(s) x 2 replicate(s): 6 runs, more than the cap of 5" in err and not (world / "capped").exists()


def test_rerun_of_an_ensemble_run_is_identical(world, tmp_path, capsys):
    assert main(["rerun", str(world / "ens"), "--out", str(tmp_path / "again"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["identical"] and any(c.startswith("members") for c in rep["checked"])
    assert json.loads((tmp_path / "again" / "manifest.json").read_text())["members"] == 3


def test_validate_reads_the_ensemble_a_scenario_names(world, tmp_path, small_text, capsys):
    assert main(["validate", str(world / "variants" / "tight.toml")]) == 0
    scen = tmp_path / "s.toml"
    scen.write_text(small_text.replace("seed = 3\n", 'seed = 3\nensemble = "missing.parquet"\n', 1))
    capsys.readouterr()
    assert main(["validate", str(scen)]) == 2
    assert "meta.ensemble: " in capsys.readouterr().out  # validate reports problems on stdout


def test_inner_band_is_the_replicate_only_part():
    """Members 0 and 1 with replicates (1, 3) and (5, 7): pooled median 4, deviations from the
    member means ±1, so the replicate-only band is 4 ± 1 (the pooled band is 1.6..6.4)."""
    from adoptsim.analysis.bands import band, inner_band

    frame = pd.DataFrame({"member": [0, 0, 1, 1], "replicate": [0, 1, 0, 1], "date": pd.Timestamp("2025-12-01"),
                          "scope": "world", "scope_id": "world", "metric": "adoption", "key": "",
                          "value": [1.0, 3, 5, 7]})
    inner = inner_band(frame).iloc[0]
    assert (inner["q10"], inner["q50"], inner["q90"]) == (3.0, 4.0, 5.0)
    pooled = band(frame).iloc[0]
    assert math.isclose(pooled["q10"], 1.6) and math.isclose(pooled["q90"], 6.4)


def test_brief_pairs_ensemble_runs_by_member_and_replicate(world, tmp_path):
    """The brief's effect of an ensemble run is per plausible world (each member's mean over its
    replicates, paired run by run), the same numbers as compare's effects.parquet."""
    from adoptsim.analysis.bands import quantiles
    from adoptsim.io.run_folder import load_results
    from adoptsim.workflows.report import effect_values, headline_dates, headline_rows

    res, base = load_results(world / "tight"), load_results(world / "ens")
    (when,) = headline_dates(res.frame)
    d = effect_values(res, base, "share_origin", "CN", when, paired=True)
    assert len(d) == 3  # three members, not 6 x 6 replicate pairs
    assert main(["compare", str(world / "ens"), str(world / "tight"), "--out", str(tmp_path / "c"),
                 "--metric", "share_origin"]) == 0
    eff = pd.read_parquet(tmp_path / "c" / "effects.parquet")
    row = eff[(eff["key"] == "CN") & (pd.to_datetime(eff["date"]) == when)].iloc[0]
    assert quantiles(d)[1] == pytest.approx(row["median"], abs=1e-12)
    rows, effect_note, robust_note = headline_rows(res, base, [when])
    assert "member and replicate" in effect_note and "plausible worlds" in robust_note
    cn = next(r for r in rows if r["name"].startswith("China") or r["name"] == "CN")
    assert cn["cells"][0]["robust"] == f"{row['p_positive']:.0%}"
