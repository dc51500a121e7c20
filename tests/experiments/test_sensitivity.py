"""Sensitivity analysis (adoptsim.experiments.sensitivity): Sobol' indices through SALib and OAT tornados.

Real runs of the small test scenario (tests/data/small.toml) (3 nations, 30 communities each, 24 months). In it no
nation sets ``sovereignty``, so every community's sovereignty is 0 and the utility term
``w_sovereignty · sovereignty[c] · open[v]`` is identically 0: the weight ``choice.sovereignty``
cannot change anything. Moving it alone leaves every random draw and every number unchanged
(common random numbers), so Saltelli's estimators of its indices are exactly 0 — no tolerance is
needed beyond float round-off. ``choice.trust`` drives the Chinese-origin share (US, CN and BR
trust the two origins very differently).
"""

from __future__ import annotations

import textwrap

from pathlib import Path

import sys

import pandas as pd
import pytest

from adoptsim.cli import main
from adoptsim.errors import AdoptsimError, InputError
from adoptsim.experiments.sensitivity import SOBOL_COLUMNS
from adoptsim.workflows.sensitivity import sensitivity as run_sensitivity
from adoptsim.experiments.loader import load_experiment

ROOT = Path(__file__).resolve().parents[2]
SMALL = (ROOT / "tests" / "data" / "small.toml").read_text()


def write(folder: Path, name: str, text: str) -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path

pytest.importorskip("SALib")

EXPERIMENT = """
scenario = "small.toml"
replicates = 2
seed = 11
metrics = ["adoption", "share_origin"]
[design]
method = "{method}"
{samples}
[[factors]]
path = "choice.trust"
range = [0.0, 4.0]
[[factors]]
path = "adoption.q"
range = [0.1, 0.6]
[[factors]]
path = "choice.sovereignty"
range = [0.0, 3.0]
"""


def experiment(tmp_path, method="sobol", samples="samples = 16"):
    write(tmp_path, "small.toml", SMALL)
    return write(tmp_path, f"{method}.toml", EXPERIMENT.format(method=method, samples=samples))


def row(table, factor, metric="share_origin", key="CN"):
    has_key = table["key"].isna() if key is None else table["key"] == key  # keyless metrics: null key on disk
    sel = table[(table["factor"] == factor) & (table["metric"] == metric) & has_key & (table["scope"] == "world")]
    assert len(sel) == 1
    return sel.iloc[0]


@pytest.mark.slow
def test_sobol_dummy_factor_has_zero_total_index(tmp_path):
    exp = experiment(tmp_path)
    out = tmp_path / "sens"
    rep = run_sensitivity(exp, out, workers=1, metric="share_origin", key="CN")
    n, d = 16, 3
    assert rep.sweep.runs == n * (2 * d + 2) * 2  # Saltelli points x replicates
    table = pd.read_parquet(out / "sensitivity.parquet")
    assert list(table.columns) == SOBOL_COLUMNS
    dummy = row(table, "choice.sovereignty")
    assert abs(dummy["ST"]) < 1e-9 and abs(dummy["S1"]) < 1e-9 and dummy["ST_conf"] < 1e-9
    driver = row(table, "choice.trust")
    assert driver["ST"] > 0.5 and driver["ST"] - driver["ST_conf"] > 0  # CI excludes 0
    # adoption does not depend on choice weights at all, only on the Bass terms
    for f in ("choice.trust", "choice.sovereignty"):
        assert abs(row(table, f, "adoption", None)["ST"]) < 1e-9
    assert row(table, "adoption.q", "adoption", None)["ST"] > 0.5
    assert (out / "plots" / "sensitivity.png").stat().st_size > 10_000
    # resume: every run is stored, the indices are recomputed identically
    again = run_sensitivity(exp, out, workers=1, resume=True)
    assert again.sweep.skipped == pd.read_parquet(out / "sweep" / "runs.parquet")["run_key"].nunique()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sensitivity.parquet"), table)


def test_oat_tornado(tmp_path):
    exp = experiment(tmp_path, "oat", "")
    e = load_experiment(exp)
    assert len(e.points) == 1 + 2 * 3
    # central = the scenario's value when inside the range (small.toml: trust default 1.0, q = 0.4)
    assert e.points[0] == {"choice.trust": 1.0, "adoption.q": 0.4, "choice.sovereignty": 0.5}
    assert e.points[5] == {"choice.trust": 1.0, "adoption.q": 0.4, "choice.sovereignty": 0.0}
    out = tmp_path / "oat"
    assert main(["sensitivity", str(exp), "--out", str(out), "--workers", "1", "--metric", "share_origin",
                 "--key", "CN", "--format", "csv"]) == 0
    table = pd.read_csv(out / "tornado.csv", keep_default_na=False)
    assert row(table, "choice.sovereignty")["swing"] == 0
    assert all(pd.api.types.is_float_dtype(table[c]) for c in ("low", "central", "high"))  # numbers, not text
    assert row(table, "choice.trust")["swing"] > 0.02
    assert (out / "plots" / "tornado.png").exists()
    sel = table[(table["metric"] == "share_origin") & (table["key"] == "CN")]
    assert list(sel["swing"]) == sorted(sel["swing"], reverse=True)


def test_oat_design_errors(tmp_path):
    write(tmp_path, "small.toml", SMALL)
    bad = write(tmp_path, "bad.toml", EXPERIMENT.format(method="oat", samples="samples = 8").replace(
        'range = [0.0, 4.0]', 'values = [0.0, 4.0]'))
    with pytest.raises(InputError) as err:
        load_experiment(bad)
    text = str(err.value)
    assert "design.samples" in text and "factors[0].values" in text and "exactly 3 values" in text


def test_wrong_method_and_out_folder(tmp_path, capsys):
    exp = experiment(tmp_path, "lhs", "samples = 4")
    assert main(["sensitivity", str(exp), "--out", str(tmp_path / "x")]) == 2
    assert "method 'sobol'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    oat = experiment(tmp_path, "oat", "")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(AdoptsimError, match="not empty"):
        run_sensitivity(oat, tmp_path / "full", workers=1)


def test_missing_salib_is_a_clear_error(tmp_path, monkeypatch, capsys):
    for mod in [m for m in sys.modules if m == "SALib" or m.startswith("SALib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "SALib", None)  # import SALib... raises ImportError
    exp = experiment(tmp_path)
    assert main(["sensitivity", str(exp), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'adoptsim[sensitivity]'" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()
