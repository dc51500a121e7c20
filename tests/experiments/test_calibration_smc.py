"""ABC-SMC calibration (``[method] kind = "smc"``), prior files and the posterior file: real runs
of a small synthetic setup (tests/data/small.toml), fixed seeds."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from adoptsim.experiments.calibration.posterior import read_posterior
from adoptsim.experiments.calibration.priors import load_priors
from adoptsim.experiments.calibration.smc import ess, importance_weights, weighted_quantile
from adoptsim.experiments.calibration.spec import load_spec
from adoptsim.errors import InputError
from adoptsim.workflows.calibration import calibrate

ROOT = Path(__file__).resolve().parents[2]
SMALL = (ROOT / "tests" / "data" / "small.toml").read_text()


def write(folder: Path, name: str, text: str) -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def smc_spec(tmp_path: Path, population: int, generations: int, algorithm: str = "mcmc") -> Path:
    """The synthetic setup of test_calibration.py (small scenario, complete network, 12 months,
    targets = world adoption in 2025-06 and 2025-12 made by the model at q = 0.25, bands ±0.05),
    fitted by ABC-SMC with a prior file: q is identified, the trust weight is not."""
    import importlib.util

    mod_spec = importlib.util.spec_from_file_location("calibration_setup", Path(__file__).with_name("test_calibration.py"))
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    module.synthetic_spec(tmp_path)  # writes the scenario and the targets
    write(tmp_path, "cal/priors.toml", """
        scenario = "../scenarios/synthetic.toml"
        [[priors]]
        path = "adoption.q"
        range = [0.05, 0.8]
        reason = "wide"
        [[priors]]
        path = "choice.trust"
        range = [0.0, 4.0]
        reason = "wide"
        """)
    return write(tmp_path, "cal/smc.toml", f"""
        scenario = "../scenarios/synthetic.toml"
        targets = "targets.toml"
        priors = "priors.toml"
        replicates = 1
        seed = 5
        [method]
        kind = "smc"
        algorithm = "{algorithm}"
        population = {population}
        generations = {generations}
        quantile = 0.5
        """)


def test_smc_building_blocks():
    """Weights of particles proposed from a one-particle population are equal (the kernel density
    is symmetric); the ESS of equal weights is their number; the weighted quantile of equal
    weights is the order statistic."""
    units = np.array([[0.5, 0.5]])
    new = np.array([[0.4, 0.5], [0.6, 0.5], [0.5, 0.4]])
    w = importance_weights(new, units, np.array([1.0]), np.eye(2) * 0.01)
    assert w == pytest.approx([1 / 3] * 3) and ess(w) == pytest.approx(3.0)
    assert ess(np.array([1.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert weighted_quantile(np.array([3.0, 1.0, 2.0, 4.0]), np.ones(4), 0.5) == 2.0


@pytest.mark.slow
def test_smc_concentrates_and_resumes(tmp_path):
    """The posterior concentrates near the truth, and a calibration killed in the middle of its
    last generation (no population stored, half its runs lost) resumes to the same posterior.

    Tolerance: at 1,200 communities world adoption near q = 0.25 rises ~1.0 per unit q at
    2025-06 and ~1.5 at 2025-12, replicate SD ~0.028 (test_calibration.py). Generation 3's
    tolerance is RMS z ≲ 1.5, i.e. both simulated values within ~0.075 of the observed, so
    |q − 0.25| ≲ 0.075 / 1.5 = 0.05 for accepted particles up to noise. With one replicate and
    common random numbers every particle shares one noise draw, which shifts the whole posterior
    by up to ~2 SD / slope = 0.056 / 1.5 ≈ 0.04 (it does not average out as ε shrinks; measured:
    median 0.29): the posterior median within 0.05 + 0.04 = 0.09 of the truth, its 10–90% interval
    narrower than 0.4 of the prior (identified); the trust weight, which cannot move adoption,
    keeps more than 0.6 of its prior width (a uniform's is 0.8; 30 members: SD of the width
    ~0.08)."""
    spec = smc_spec(tmp_path, population=30, generations=3)
    out = tmp_path / "one"
    rep = calibrate(spec, out, workers=1, progress=False, posterior_out=tmp_path / "bundled.parquet")
    fit = rep.fit.set_index("parameter")
    assert abs(fit.loc["adoption.q", "q50"] - 0.25) <= 0.09
    assert fit.loc["adoption.q", "identified"] == "identified"
    assert fit.loc["choice.trust", "width_ratio"] > 0.6
    gens = pd.read_parquet(out / "generations.parquet")
    assert list(gens["generation"]) == [0, 1, 2, 3] and gens["epsilon"].is_monotonic_decreasing
    assert ((gens["acceptance_rate"] > 0) & (gens["acceptance_rate"] <= 1)).all()
    assert (gens["ess"] == 30).all() and (gens["unique"] > 5).all()  # resample-move: equal weights
    # the posterior file contract
    frame, meta = read_posterior(out / "posterior.parquet")
    table = pq.read_table(out / "posterior.parquet")
    assert table.column_names == ["member", "weight", "adoption.q", "choice.trust"]
    assert str(table.schema.field("member").type) == "int32" and len(frame) == 30
    assert frame["weight"].sum() == pytest.approx(1.0) and (frame["weight"] >= 0).all()
    assert meta["format"] == 1 and meta["scenario"] == "../scenarios/synthetic.toml" and meta["seed"] == 5
    assert meta["priors"] == {"adoption.q": [0.05, 0.8], "choice.trust": [0.0, 4.0]} and meta["generations"] == 3
    assert meta["base"]["adoption.q"] == 0.5 and len(meta["scenario_sha256"]) == 64
    assert (tmp_path / "bundled.parquet").read_bytes() == (out / "posterior.parquet").read_bytes()
    for name in ("identification.parquet", "targets.parquet", "fit.json", "plots/posterior.png"):
        assert (out / name).exists(), name
    assert json.loads((out / "fit.json").read_text())["population"] == 30
    # killed during generation 3 (its population not stored, half its first batch's runs lost)
    for name in ("posterior.parquet", "generations.parquet", "fit.json"):
        (out / name).unlink()
    for name in ("population.parquet", "generation.json"):
        (out / "generations" / "03" / name).unlink()
    shards = sorted((out / "generations" / "03" / "batch_00" / "runs").glob("*.parquet"))
    for s in shards[len(shards) // 2:]:
        s.unlink()
    with pytest.raises(Exception, match="--resume"):
        calibrate(spec, out, workers=1, progress=False, plot=False)
    calibrate(spec, out, workers=1, progress=False, plot=False, resume=True)
    assert (out / "posterior.parquet").read_bytes() == (tmp_path / "bundled.parquet").read_bytes()


@pytest.mark.slow
def test_smc_same_posterior_with_one_or_two_workers(tmp_path):
    """Same seed, one worker or two: the same posterior, byte for byte (proposals are drawn per
    batch from seeded streams and accepted only once the whole batch has run); here with the
    importance-weighted algorithm (pmc), whose generations take several batches."""
    spec = smc_spec(tmp_path, population=10, generations=1, algorithm="pmc")
    one = calibrate(spec, tmp_path / "one", workers=1, progress=False, plot=False)
    two = calibrate(spec, tmp_path / "two", workers=2, progress=False, plot=False)
    assert (tmp_path / "one" / "posterior.parquet").read_bytes() == (tmp_path / "two" / "posterior.parquet").read_bytes()
    assert one.generations.equals(two.generations) and len(one.posterior) == 10
    assert one.generations["ess"].iloc[-1] < 10  # importance weights


def test_priors_validation(tmp_path, capsys):
    """A prior file is checked like every input: unknown path (with the nearest valid paths), a
    range the field cannot take, a missing reason, unknown keys; one line each, exit 2."""
    from adoptsim.cli import main

    write(tmp_path, "small.toml", SMALL)
    bad = write(tmp_path, "priors.toml", """
        scenario = "small.toml"
        [[priors]]
        path = "choice.trusst"
        range = [1.0, 2.0]
        reason = "typo"
        [[priors]]
        path = "adoption.revision_rate"
        range = [0.5, 1.5]
        reason = "a probability above 1"
        [[priors]]
        path = "adoption.q"
        range = [0.1, 0.5]
        reason = "fine"
        balance = "sectors.nope.share"
        """)
    with pytest.raises(InputError) as exc:
        load_priors(bad)
    text = str(exc.value)
    assert "priors[0].path: no scenario parameter 'choice.trusst'; nearest valid paths: choice.trust" in text
    assert "priors[1].range: adoption.revision_rate = 1.5" in text and "priors[2].balance" in text
    assert main(["validate", str(bad)]) == 2  # validate prints each file's problems on stdout
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out and "priors.toml: priors[0].path" in out.out
    write(tmp_path, "p2.toml", '[[priors]]\npath = "adoption.q"\nrange = [0.1, 0.5]\nsize = 3\n')
    assert main(["validate", str(tmp_path / "p2.toml")]) == 2
    out = capsys.readouterr().out
    assert "priors[0].reason" in out and "priors[0].size" in out
    # a spec naming a prior file gets the same checks, against its own scenario
    write(tmp_path, "t.toml", '[[targets]]\nid = "a"\nmetric = "adoption"\nwhen = "2025-06"\nvalue = 0.5\n'
          'range = [0.4, 0.6]\n')
    spec = write(tmp_path, "spec.toml", 'scenario = "small.toml"\ntargets = "t.toml"\npriors = "priors.toml"\n'
                 '[method]\nkind = "smc"\n')
    with pytest.raises(InputError, match="choice.trusst"):
        load_spec(spec)
    write(tmp_path, "spec.toml", 'scenario = "small.toml"\ntargets = "t.toml"\npriors = "none.toml"\n')
    with pytest.raises(InputError, match="priors: file not found"):
        load_spec(tmp_path / "spec.toml")
    # --posterior-out needs ABC-SMC and an existing folder
    rej = write(tmp_path, "rej.toml", 'scenario = "small.toml"\ntargets = "t.toml"\n'
                '[[parameters]]\npath = "adoption.q"\nrange = [0.1, 0.5]\n')
    assert main(["calibrate", str(rej), "--out", str(tmp_path / "o"), "--posterior-out", str(tmp_path / "p.parquet")]) == 2
    assert "--posterior-out" in capsys.readouterr().err
    good = write(tmp_path, "smc.toml", 'scenario = "small.toml"\ntargets = "t.toml"\n[method]\nkind = "smc"\n'
                 '[[parameters]]\npath = "adoption.q"\nrange = [0.1, 0.5]\n')
    assert main(["calibrate", str(good), "--out", str(tmp_path / "o2"), "--posterior-out",
                 str(tmp_path / "nowhere" / "p.parquet")]) == 2
    assert "folder" in capsys.readouterr().err and not (tmp_path / "o2").exists()


def test_shipped_priors_and_spec():
    """calibration/priors.toml validates against the baseline, every base value lies inside its
    prior, every prior gives a reason, and the bundled spec is ABC-SMC over it."""
    from adoptsim.experiments.paths import current_value

    pr = load_priors(ROOT / "calibration" / "priors.toml")
    cal = load_spec(ROOT / "calibration" / "baseline.toml")
    assert cal.spec.method.kind == "smc" and [p.path for p in cal.parameters] == [p.path for p in pr.spec.priors]
    for p in cal.parameters:
        v = current_value(cal.base, cal.locators[p.path])
        assert p.range[0] <= v <= p.range[1], p.path
        assert len(p.reason) > 10
    assert len(cal.parameters) >= 30


def test_tornado_experiment_follows_the_priors():
    """experiments/sensitivity_priors_oat.toml (the tornado of docs/validation.md) has exactly the
    priors' paths and ranges, less the balanced sector shares (one share cannot move alone)."""
    import tomllib

    pr = load_priors(ROOT / "calibration" / "priors.toml")
    exp = tomllib.loads((ROOT / "experiments" / "sensitivity_priors_oat.toml").read_text())
    want = [(p.path, list(p.range)) for p in pr.spec.priors if p.balance is None]
    assert [(f["path"], f["range"]) for f in exp["factors"]] == want and exp["design"]["method"] == "oat"
    # docs/validation.md ends with the tornado (docs/figures/make_tornado_priors.py writes it from the marker on)
    from adoptsim.validation.report import KEEP_MARKER, kept_sections

    page = ROOT / "docs" / "validation.md"
    kept = kept_sections(page)
    assert KEEP_MARKER in kept and "## Tornado of the headline: sensitivity of the 2030 headline to the priors" in kept
    assert kept.count("\n| `") == len(want)  # one table row per prior that moves alone


def test_shipped_posterior_contract():
    """calibration/baseline-posterior.parquet (made by the command in docs/calibration.md): at
    least 100 members, weights summing to 1, one column per prior (and the balancing field), and
    metadata naming the baseline with its priors; every member applied to the baseline gives a
    valid scenario."""
    from adoptsim.core.schema import parse_scenario
    from adoptsim.experiments.paths import apply_point

    path = ROOT / "calibration" / "baseline-posterior.parquet"
    frame, meta = read_posterior(path)
    cal = load_spec(ROOT / "calibration" / "baseline.toml")
    assert len(frame) >= 100 and list(frame["member"]) == list(range(len(frame)))
    assert frame["weight"].sum() == pytest.approx(1.0) and (frame["weight"] >= 0).all()
    assert meta["format"] == 1 and meta["scenario"] == "../scenarios/baseline.toml"
    assert set(cal.paths) <= set(frame.columns) and "sectors.general.share" in frame.columns
    assert set(meta["priors"]) == set(frame.columns) - {"member", "weight"}
    for p in cal.parameters:
        assert frame[p.path].between(p.range[0], p.range[1]).all(), p.path
    for row in frame.drop(columns=["member", "weight"]).to_dict("records")[:: max(1, len(frame) // 10)]:
        parse_scenario(apply_point(cal.raw, cal.locators, row))
