"""Analysis commands on real runs: compare (paired vs unpaired differences), scenario
discovery (PRIM) and target-seeking."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adoptsim.analysis.bands import band_width
from adoptsim.analysis.compare import compare_results, shares_seeds
from adoptsim.cli import main
from adoptsim.io.run_folder import load_results

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "scenarios" / "examples"


def write(folder: Path, name: str, text: str) -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path

REPLICATES = 12


@pytest.fixture(scope="module")
def world_pair(tmp_path_factory):
    """The stylised world and its trust-shock variant, same seed, 12 replicates each, and the
    variant again with another seed."""
    root = tmp_path_factory.mktemp("compare")
    out = {}
    for name, file, seed in (("world", "world.toml", 11), ("shock", "trust_shock.toml", 11),
                             ("shock_other_seed", "trust_shock.toml", 12)):
        out[name] = root / name
        assert main(["run", str(EXAMPLES / file), "--replicates", str(REPLICATES), "--seed", str(seed),
                     "--out", str(out[name]), "--no-plots"]) == 0
    return out


def test_paired_difference_band_is_much_narrower(world_pair):
    """Common random numbers: with the same seeds, the replicate-paired difference of the
    Chinese share (trust shock − world) has a far narrower 10–90% band than the difference
    of independent draws (every replicate against every replicate), for the same runs."""
    a, b = load_results(world_pair["world"]), load_results(world_pair["shock"])
    assert shares_seeds(a.manifest, a.frame["replicate"].unique(), b.manifest, b.frame["replicate"].unique())
    items = [("world", a.frame, a.manifest), ("shock", b.frame, b.manifest)]
    _, paired = compare_results(items, "share_origin", key="CN")
    _, unpaired = compare_results(items, "share_origin", key="CN", paired=False)
    assert paired["paired"].all() and not unpaired["paired"].any()
    assert (paired["n"] == REPLICATES).all() and (unpaired["n"] == REPLICATES ** 2).all()
    # before the shock (2026-01) both runs are identical replicate by replicate
    before = paired[paired["date"] < "2026-01-01"]
    assert (before[["q10", "q50", "q90"]].abs().to_numpy() < 1e-12).all()
    # the mean difference is the same however the draws are paired
    np.testing.assert_allclose(paired["mean"], unpaired["mean"], atol=1e-12)
    wp, wu = band_width(paired, "2026-01"), band_width(unpaired, "2026-01")
    ratio = wp / wu
    print(f"\npaired/unpaired 10-90% band width of share_origin[CN] difference since 2026-01: "
          f"{wp:.4f} / {wu:.4f} = {ratio:.3f}")
    assert ratio < 0.4  # measured 0.29 (seed 11, 12 replicates)
    # the shock lowers the Chinese share on average (the paired band lies mostly below 0)
    after = paired[paired["date"] >= "2026-06-01"]
    assert (after["q50"] < 0).mean() > 0.9


def test_compare_command_writes_tables_figure_manifest(world_pair, tmp_path, capsys):
    w, s, s2 = (str(world_pair[k]) for k in ("world", "shock", "shock_other_seed"))
    out = tmp_path / "cmp"
    assert main(["compare", w, s, s2, "--out", str(out), "--metric", "share_origin"]) == 0
    curves = pd.read_parquet(out / "compare.parquet")
    diffs = pd.read_parquet(out / "differences.parquet")
    assert list(curves.columns[:6]) == ["results", "metric", "scope", "scope_id", "date", "key"]
    assert {"q10", "q50", "q90"} <= set(curves.columns) and {"q10", "q50", "q90", "paired"} <= set(diffs.columns)
    assert set(curves["results"]) == {"world", "shock", "shock_other_seed"}
    pairing = diffs.groupby("results")["paired"].first().to_dict()
    assert pairing == {"shock": True, "shock_other_seed": False}
    meta = json.loads((out / "manifest.json").read_text())
    assert meta["kind"] == "compare" and meta["reference"] == "world"
    assert [r["paired_with_reference"] for r in meta["results"]] == [None, True, False]
    assert (out / "compare.png").stat().st_size > 20_000
    # one region, one key, CSV tables
    out2 = tmp_path / "cmp2"
    assert main(["compare", w, s, "--out", str(out2), "--metric", "share_vendor", "--level", "region",
                 "--scope", "Latin America", "--key", "deepseek", "--format", "csv"]) == 0
    d2 = pd.read_csv(out2 / "differences.csv")
    assert set(d2["key"]) == {"deepseek"} and d2["paired"].all()
    # the two-folder form still draws one figure into SCENARIO/plots/
    assert main(["compare", w, s]) == 0
    assert (world_pair["shock"] / "plots" / "compare_world_share_origin.png").exists()
    capsys.readouterr()
    assert main(["compare", w, s, "--out", str(tmp_path / "bad"), "--level", "nation", "--scope", "XX"]) == 2
    assert "no nation 'XX'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["compare", w, s, "--out", str(tmp_path / "bad"), "--key", "nope"]) == 2
    capsys.readouterr()
    assert main(["compare", w, s, "--out", str(tmp_path / "bad"), "--scope", "Latin America"]) == 2
    assert "--level region" in capsys.readouterr().err  # an id without its level is refused, not the world
    assert not (tmp_path / "bad").exists()


# ---- scenario discovery (PRIM) -------------------------------------------------------------

def test_prim_finds_a_known_box():
    """Outcome = x1 > 0.7 and x2 < 0.4 over 2,000 uniform points in [0, 1]^3: the chosen box
    (largest with density >= 0.95) bounds x1 from below near 0.7 and x2 from above near 0.4,
    leaves the irrelevant x3 unrestricted, and keeps almost every hit. Each peel removes 5% of
    the box, so a bound can overshoot the true edge by about one peel (~0.03 here)."""
    from adoptsim.analysis.prim import box_table, choose_box, in_box, prim

    rng = np.random.default_rng(20260101)
    X = pd.DataFrame(rng.random((2000, 3)), columns=["x1", "x2", "x3"])
    y = ((X["x1"] > 0.7) & (X["x2"] < 0.4)).to_numpy()
    traj = prim(X, y, alpha=0.05, min_mass=0.05)
    assert traj["mass"].iloc[-1] >= 0.05 and traj["density"].is_monotonic_increasing
    assert (np.diff(traj["mass"]) < 0).all()
    step, why = choose_box(traj, min_density=0.95)
    box = box_table(traj, step, X).set_index("factor")
    assert abs(box.loc["x1", "low"] - 0.7) < 0.04 and box.loc["x1", "high"] > 0.99
    assert abs(box.loc["x2", "high"] - 0.4) < 0.04 and box.loc["x2", "low"] < 0.01
    assert box.loc["x1", "restricted"] and box.loc["x2", "restricted"] and not box.loc["x3", "restricted"]
    row = traj.loc[traj["step"] == step].iloc[0]
    assert row["density"] >= 0.95 and row["coverage"] >= 0.9
    inside = in_box(X, box.reset_index())
    assert inside.sum() == row["n"] and y[inside].mean() == pytest.approx(row["density"])
    # the default choice (the knee) is also a dense box with high coverage here
    knee, _ = choose_box(traj)
    k = traj.loc[traj["step"] == knee].iloc[0]
    assert k["density"] > 0.8 and k["coverage"] > 0.8


def test_prim_peels_grid_levels_and_categories():
    """On a grid design (ties at every level) a peel removes a whole level; a categorical
    factor is peeled one category at a time. Outcome: level >= 3 and kind == 'b'."""
    from adoptsim.analysis.prim import box_table, choose_box, prim

    levels, kinds = np.arange(5.0), np.array(["a", "b", "c"])
    X = pd.DataFrame([(lv, k) for lv in levels for k in kinds for _ in range(10)], columns=["level", "kind"])
    y = ((X["level"] >= 3) & (X["kind"] == "b")).to_numpy()
    traj = prim(X, y)
    step, _ = choose_box(traj, min_density=1.0)
    box = box_table(traj, step, X).set_index("factor")
    assert box.loc["level", "low"] == 3 and box.loc["level", "high"] == 4
    assert box.loc["kind", "categories"] == "b"
    assert traj.loc[traj["step"] == step, "coverage"].iloc[0] == 1.0
    assert (traj["coverage"] == 1.0).all()  # no peel lost a hit: the default choice is the densest box
    assert choose_box(traj)[0] == step


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    """A real Latin-hypercube sweep of the stylised world: trust weight, DeepSeek's price and
    Bass q (24 points x 2 replicates)."""
    root = tmp_path_factory.mktemp("discovery")
    exp = write(root, "disc.toml", f"""
        description = "discovery test sweep"
        scenario = "{EXAMPLES / 'world.toml'}"
        replicates = 2
        seed = 5
        metrics = ["adoption", "share_origin"]
        dates = ["2027-12"]
        [design]
        method = "lhs"
        samples = 24
        [[factors]]
        path = "choice.trust"
        range = [0.0, 5.0]
        [[factors]]
        path = "vendors.deepseek.price"
        range = [0.2, 10.0]
        [[factors]]
        path = "adoption.q"
        range = [0.1, 0.5]
        """)
    out = root / "sweep"
    assert main(["sweep", str(exp), "--workers", "1", "--out", str(out)]) == 0
    return out


def test_discover_on_a_real_sweep(small_sweep, tmp_path, capsys):
    """A high Chinese share at the end goes with a low weight on trust (Chinese models are
    cheaper; trust favours US models in most nations): the chosen box caps choice.trust well
    below the top of its range and is denser in hits than the whole sweep. (Threshold 0.61:
    about a quarter of the runs are hits since open models are served by the best host.)"""
    out = tmp_path / "disc"
    # a threshold that only 1 of the 48 runs passes would give a box resting on one case: refused
    assert main(["discover", str(small_sweep), "--metric", "share_origin", "--key", "CN", "--above", "0.75",
                 "--out", str(out)]) == 2
    assert "1 of 48 runs meet the condition" in capsys.readouterr().err and not out.exists()
    assert main(["discover", str(small_sweep), "--metric", "share_origin", "--key", "CN", "--above", "75",
                 "--out", str(out)]) == 2
    assert "did you mean 0.75?" in capsys.readouterr().err
    assert main(["discover", str(small_sweep), "--metric", "share_origin", "--key", "CN", "--above", "0.61",
                 "--out", str(out)]) == 0
    assert "chosen box" in capsys.readouterr().out
    traj = pd.read_parquet(out / "prim_trajectory.parquet")
    box = pd.read_parquet(out / "prim_box.parquet").set_index("factor")
    cases = pd.read_parquet(out / "cases.parquet")
    meta = json.loads((out / "manifest.json").read_text())
    assert len(cases) == 48 and set(cases["outcome"]) == {True, False}
    assert {"step", "coverage", "density", "mass", "low:choice.trust", "high:choice.trust"} <= set(traj.columns)
    chosen = traj.loc[traj["step"] == meta["chosen_step"]].iloc[0]
    assert chosen["density"] > 1.5 * traj["density"].iloc[0] and chosen["mass"] >= 0.05
    assert box.loc["choice.trust", "restricted"] and box.loc["choice.trust", "high"] < 3.5
    assert (out / "discovery.png").stat().st_size > 30_000
    # a date that was not summarised is read from the shards; CSV on request
    out2 = tmp_path / "disc2"
    assert main(["discover", str(small_sweep), "--metric", "adoption", "--level", "region", "--scope",
                 "Latin America", "--date", "2026-06", "--below", "0.9", "--min-density", "0.9",
                 "--format", "csv", "--out", str(out2)]) == 0
    c2 = pd.read_csv(out2 / "cases.csv")
    assert len(c2) == 48
    capsys.readouterr()
    assert main(["discover", str(small_sweep), "--metric", "capability", "--above", "1", "--out",
                 str(tmp_path / "bad")]) == 2
    assert "kept only" in capsys.readouterr().err
    assert main(["discover", str(small_sweep), "--metric", "adoption", "--level", "nation", "--scope", "XX",
                 "--above", "0.5", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


# ---- target-seeking ------------------------------------------------------------------------

TARGET = """
    description = "smallest Bass q giving 60% adoption by 2025-12"
    scenario = "{scenario}"
    replicates = 4
    seed = 3
    [[factors]]
    path = "adoption.q"
    range = [0.0, 1.0]
    [target]
    metric = "adoption"
    date = "2025-12"
    threshold = {threshold}
    direction = "{direction}"
    tolerance = 0.02
    """


def _target_file(folder, threshold=0.6, direction="above", name="target_q.toml"):
    return write(folder, name, TARGET.format(scenario=EXAMPLES / "world.toml", threshold=threshold,
                                             direction=direction))


def test_target_finds_the_smallest_value(tmp_path, capsys):
    """Adoption by 2025-12 rises with Bass q (monotone: with common random numbers a larger q
    makes every replicate adopt at least as fast): bisection brackets the q where the mean
    over replicates crosses 60%, within the tolerance."""
    exp = _target_file(tmp_path)
    assert main(["validate", str(exp)]) == 0
    out = tmp_path / "t"
    assert main(["target", str(exp), "--workers", "1", "--out", str(out)]) == 0
    assert "\nfound: smallest adoption.q" in capsys.readouterr().out
    res = json.loads((out / "target.json").read_text())
    assert res["status"] == "found" and res["value"] == res["high"]
    assert 0 < res["high"] - res["low"] <= 0.02
    ev = {e["value"]: e for e in res["evaluations"]}
    assert ev[res["low"]]["mean"] < 0.6 <= ev[res["high"]]["mean"]
    assert [e["value"] for e in res["evaluations"][:2]] == [0.0, 1.0]  # the ends first
    xs = sorted(ev)
    means = [ev[x]["mean"] for x in xs]
    assert means == sorted(means) and not res["warnings"]
    assert all(len(e["values"]) == 4 for e in res["evaluations"])
    table = pd.read_parquet(out / "evaluations.parquet")
    assert len(table) == 4 * len(xs) and {"factor_value", "replicate", "value", "mean"} <= set(table.columns)
    seeds = {json.loads((d / "manifest.json").read_text())["seed"] for d in (out / "evaluations").iterdir()}
    assert seeds == {3}  # every candidate's replicate r uses the same seed
    assert (out / "target.png").stat().st_size > 20_000
    assert json.loads((out / "manifest.json").read_text())["kind"] == "target"


def test_target_reports_the_ends(tmp_path, capsys):
    """Not reached at the top of the range: value null; already reached at the bottom: the
    bottom. Both need only the two ends."""
    out = tmp_path / "hi"
    assert main(["target", str(_target_file(tmp_path, threshold=1.01)), "--workers", "1", "--out", str(out),
                 "--format", "csv"]) == 4  # no answer inside the range: exit 4, never a silent 0
    res = json.loads((out / "target.json").read_text())
    assert res["status"] == "not_reached" and res["value"] is None and len(res["evaluations"]) == 2
    assert "not reached at the top" in capsys.readouterr().out
    assert (out / "evaluations.csv").exists()
    out = tmp_path / "lo"
    assert main(["target", str(_target_file(tmp_path, threshold=0.99, direction="below", name="b.toml")),
                 "--workers", "1", "--out", str(out)]) == 4
    res = json.loads((out / "target.json").read_text())
    assert res["status"] == "reached_at_low" and res["value"] == 0.0


def test_target_input_errors(tmp_path, capsys):
    good = _target_file(tmp_path).read_text()
    cases = {
        "no_target.toml": (good.split("[target]")[0], "this is an experiment file, not a target experiment file: "
                           "use adoptsim sweep"),
        "two.toml": (good.replace("[target]", '[[factors]]\npath = "choice.trust"\nrange = [0.0, 1.0]\n[target]'),
                     "factors: a target experiment needs exactly one"),
        "metric.toml": (good.replace('metric = "adoption"', 'metric = "adoptoin"'), "target.metric: unknown metric"),
        "date.toml": (good.replace('date = "2025-12"', 'date = "2035-12"'), "target.date: 2035-12 is outside"),
        "scope.toml": (good.replace('[target]', '[target]\nscope = "nation"\nscope_id = "XX"'),
                       "target.scope_id: no nation 'XX'"),
        "extra.toml": (good.replace('[target]', '[target]\nthreshhold = 1'), "target.threshhold"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        capsys.readouterr()
        assert main(["target", str(path), "--out", str(tmp_path / "out")]) == 2, name
        err = capsys.readouterr().err
        assert message in err and str(path) in err, (name, err)
        assert not (tmp_path / "out").exists()
    # a key the metric does not have: found after the first evaluation, nothing written
    path = tmp_path / "key.toml"
    path.write_text(good.replace('[target]', '[target]\nkey = "CN"'))
    assert main(["target", str(path), "--workers", "1", "--out", str(tmp_path / "out")]) == 2
    assert "target.key: no key 'CN'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bundled_target_and_discovery_experiments_validate(capsys):

    files = sorted((ROOT / "experiments").glob("target_*.toml")) + sorted(
        (ROOT / "experiments").glob("discovery_*.toml"))
    assert len(files) >= 2
    assert main(["validate", *map(str, files)]) == 0
