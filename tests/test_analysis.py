"""Analysis commands on real runs: compare (paired vs unpaired differences), scenario
discovery (PRIM) and target-seeking."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from adoptsim.analysis import band_width, compare_results, shares_seeds
from adoptsim.cli import main
from adoptsim.results import load_results

from conftest import EXAMPLES, write

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
    assert ratio < 0.4
    # the shock lowers the Chinese share on average (the paired band lies mostly below 0)
    after = paired[paired["date"] >= "2026-06-01"]
    assert (after["q50"] < 0).mean() > 0.9


def test_compare_command_writes_tables_figure_manifest(world_pair, tmp_path, capsys):
    w, s, s2 = (str(world_pair[k]) for k in ("world", "shock", "shock_other_seed"))
    out = tmp_path / "cmp"
    assert main(["compare", w, s, s2, "--out", str(out), "--metric", "share_origin"]) == 0
    curves = pd.read_parquet(out / "compare.parquet")
    diffs = pd.read_parquet(out / "differences.parquet")
    assert list(curves.columns[:3]) == ["results", "date", "key"]
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
    assert main(["compare", w, s, "--out", str(out2), "--metric", "share_vendor", "--scope", "region",
                 "--scope-id", "Latin America", "--key", "deepseek", "--format", "csv"]) == 0
    d2 = pd.read_csv(out2 / "differences.csv")
    assert set(d2["key"]) == {"deepseek"} and d2["paired"].all()
    # the two-folder form still draws one figure into SCENARIO/plots/
    assert main(["compare", w, s]) == 0
    assert (world_pair["shock"] / "plots" / "compare_world_share_origin.png").exists()
    capsys.readouterr()
    assert main(["compare", w, s, "--out", str(tmp_path / "bad"), "--scope", "nation", "--scope-id", "XX"]) == 2
    assert "no nation 'XX'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["compare", w, s, "--out", str(tmp_path / "bad"), "--key", "nope"]) == 2
    assert main(["compare", w, s, "--out", str(tmp_path / "bad"), "--scope", "Latin America"]) == 2
    assert not (tmp_path / "bad").exists()
