"""The CLI end to end in a temporary folder: run, validate, plot, list and every error path."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pandas as pd
import pytest

from adoptsim.cli import main
from adoptsim.io.scenario_files import load_scenario

COLUMNS = ["member", "replicate", "step", "date", "scope", "scope_id", "metric", "key", "value"]


def cli(*args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_writes_a_complete_results_folder(small_path, tmp_path, capsys):
    out = tmp_path / "res"
    code, stdout, err = cli("run", small_path, "--replicates", 3, "--out", out, capsys=capsys)
    assert code == 0, err
    assert str(out) in stdout and "3 replicate(s)" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "plots", "scenario.resolved.toml",
                                                     "summary.parquet", "timeseries.parquet"]
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert list(ts.columns) == COLUMNS
    assert sorted(ts.replicate.unique()) == [0, 1, 2]
    man = json.loads((out / "manifest.json").read_text())
    s = load_scenario(small_path)
    assert man["scenario_hash"] == s.digest() and man["seed"] == 3 and man["replicates"] == 3
    assert {"mesa", "numpy", "python", "adoptsim"} <= set(man["versions"])
    assert man["policies"] == [{"name": "chips", "type": "export_control", "start": "2025-06", "end": None,
                               "label": "chips"}]
    assert man["labels"]["vendor"]["deepseek"] == "deepseek" and set(man["labels"]) == {"nation", "vendor", "product", "policy"}
    resolved = tomllib.loads((out / "scenario.resolved.toml").read_text())
    assert resolved["choice"]["temperature"] == 1.0  # defaults filled in
    assert (out / "plots" / "adoption.png").stat().st_size > 20_000
    summ = pd.read_parquet(out / "summary.parquet")
    assert {"q10", "q50", "q90", "mean", "n"} <= set(summ.columns)
    assert set(pd.to_datetime(summ.date).dt.strftime("%Y-%m")) == {"2025-12", "2026-12"}
    assert (summ.q10 <= summ.q50 + 1e-12).all() and (summ.q50 <= summ.q90 + 1e-12).all()
    assert not list(tmp_path.glob(".res.*"))  # no temporary folder left behind


def test_run_is_reproducible_and_seed_option(small_path, tmp_path, capsys):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        assert cli("run", small_path, "--replicates", 2, "--seed", seed, "--out", tmp_path / name,
                   "--no-plots", capsys=capsys)[0] == 0
    a, b, c = (pd.read_parquet(tmp_path / n / "timeseries.parquet") for n in "abc")
    pd.testing.assert_frame_equal(a, b)
    assert not a.value.equals(c.value)
    assert not (tmp_path / "a" / "plots").exists()


def test_csv_format(small_path, tmp_path, capsys):
    out = tmp_path / "csv"
    assert cli("run", small_path, "--replicates", 1, "--format", "csv", "--out", out, capsys=capsys)[0] == 0
    ts = pd.read_csv(out / "timeseries.csv", keep_default_na=False)
    assert list(ts.columns) == COLUMNS and ts.date.iloc[0] == "2025-01-01"  # ISO dates
    assert (out / "summary.csv").exists()
    # plot reads CSV results back
    code, stdout, _ = cli("plot", out, capsys=capsys)
    assert code == 0 and "adoption.png" in stdout


def test_default_out_never_overwrites(small_path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert cli("run", small_path, "--replicates", 1, "--no-plots", capsys=capsys)[0] == 0
    assert (tmp_path / "results" / "small").is_dir() and (tmp_path / "results" / "small-2").is_dir()


def test_existing_out_needs_overwrite(small_path, tmp_path, capsys):
    out = tmp_path / "res"
    assert cli("run", small_path, "--replicates", 1, "--out", out, "--no-plots", capsys=capsys)[0] == 0
    before = (out / "timeseries.parquet").read_bytes()
    code, _, err = cli("run", small_path, "--replicates", 2, "--out", out, capsys=capsys)
    assert code == 2 and "--overwrite" in err and str(out) in err
    assert (out / "timeseries.parquet").read_bytes() == before
    assert cli("run", small_path, "--replicates", 2, "--out", out, "--overwrite", "--no-plots", capsys=capsys)[0] == 0
    assert pd.read_parquet(out / "timeseries.parquet").replicate.nunique() == 2


SMALL = object()  # stands for the small scenario's text (fixture small_text) in the cases below


@pytest.mark.parametrize("content, expected", [
    (None, "file not found"),
    ("", "file is empty"),
    ("[meta\n", "malformed TOML"),
    ((SMALL, "", "", "\n[bogus]\nx = 1\n"), "bogus: unknown key 'bogus'"),
    ((SMALL, "price = 1.1", "price = -1.1"), "vendors.deepseek.price: Input should be greater than 0"),
    ((SMALL, 'targets = ["CN"]', 'targets = ["XX"]'), "policies.chips.targets: unknown nation 'XX'"),
    ((SMALL, 'type = "export_control"', 'type = "chip_ban"'), "policies.chips.type: unknown policy type"),
    ((SMALL, 'start = "2025-06"', 'start = "2025-6"'), "policies.chips.start: expected a date 'YYYY-MM'"),
    ((SMALL, 'id = "BR"', 'id = "US"'), "nations: duplicate id 'US'"),
    ('extends = "missing.toml"\n', "extends: file not found"),
])
def test_bad_scenarios_exit_2_without_results(tmp_path, capsys, small_text, content, expected):
    path = tmp_path / "bad.toml"
    if isinstance(content, tuple):  # (SMALL, old, new[, appended]): the small scenario, edited
        _, old, new, *tail = content
        content = (small_text.replace(old, new) if old else small_text) + "".join(tail)
    if content is not None:
        path.write_text(content)
    out = tmp_path / "res"
    code, stdout, err = cli("run", path, "--out", out, capsys=capsys)
    assert code == 2
    assert expected in err and str(path) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 5
    assert not out.exists() and not list(tmp_path.glob(".res*"))


def test_binary_scenario(tmp_path, capsys):
    p = tmp_path / "bin.toml"
    p.write_bytes(bytes(range(256)))
    code, _, err = cli("run", p, "--out", tmp_path / "r", capsys=capsys)
    assert code == 2 and "binary file" in err


def test_bad_options(small_path, tmp_path, capsys):
    code, _, err = cli("run", small_path, "--replicates", 0, "--out", tmp_path / "r", capsys=capsys)
    assert code == 2 and "--replicates" in err
    # an --out in folders that do not exist yet is created
    code, _, err = cli("run", small_path, "--replicates", 1, "--no-plots", "--out", tmp_path / "new" / "r",
                       capsys=capsys)
    assert code == 0 and (tmp_path / "new" / "r" / "timeseries.parquet").exists()
    code, _, err = cli("run", small_path, "--format", "xlsx", capsys=capsys)
    assert code == 2 and "--format" in err and len(err.strip().splitlines()) == 1


def test_validate(tmp_path, small_path, small_text, write_toml, repo, capsys):
    bad = write_toml(tmp_path, "bad.toml", small_text.replace('kind = "regional"', 'kind = "mesh"')
                + "\n[choice]\ntemprature = 2\n")
    code, out, _ = cli("validate", small_path, bad, tmp_path / "none.toml", capsys=capsys)
    lines = out.strip().splitlines()
    assert code == 2
    assert lines[0] == f"{small_path}: OK (scenario)"
    assert f"{bad}: network.kind: Input should be 'complete', 'regional' or 'small_world' (got 'mesh')" in lines
    assert f"{bad}: choice.temprature: unknown key 'temprature'; did you mean 'temperature'?" in lines
    assert lines[-1] == f"{tmp_path / 'none.toml'}: file not found"
    assert cli("validate", *sorted(repo.examples.glob("*.toml")), capsys=capsys)[0] == 0


def test_plot_redraws_and_metric_small_multiples(small_path, tmp_path, capsys):
    out = tmp_path / "res"
    cli("run", small_path, "--replicates", 2, "--out", out, "--no-plots", capsys=capsys)
    code, stdout, _ = cli("plot", out, capsys=capsys)
    assert code == 0 and (out / "plots" / "adoption.png").exists()
    code, stdout, _ = cli("plot", out, "--metric", "share_origin", "--level", "nation", capsys=capsys)
    assert code == 0 and (out / "plots" / "share_origin_nation.png").exists()
    code, stdout, _ = cli("plot", out, "--metric", "price", "--level", "world", capsys=capsys)
    assert code == 0 and (out / "plots" / "price_world.png").exists()
    code, _, err = cli("plot", out, "--metric", "popularity", capsys=capsys)
    assert code == 2 and "unknown metric 'popularity'" in err
    code, _, err = cli("plot", out, "--metric", "adoption", "--level", "nation", "--scope", "XX", capsys=capsys)
    assert code == 2 and "no nation 'XX'" in err
    code, _, err = cli("plot", tmp_path / "nowhere", capsys=capsys)
    assert code == 2 and "not found" in err
    code, _, err = cli("plot", small_path, capsys=capsys)
    assert code == 2 and "this is a scenario file" in err and "adoptsim run" in err
    code, _, err = cli("plot", tmp_path, capsys=capsys)
    assert code == 2 and "did not write (no manifest.json)" in err


def test_list_shows_bundled_scenarios(capsys):
    code, out, _ = cli("list", capsys=capsys)
    assert code == 0
    assert "baseline.toml" in out and "examples/export_control.toml" in out
    assert "export_control: the US cuts China's access" in out


def test_console_script_logs_progress_lines_when_piped(small_path, tmp_path):
    exe = [sys.executable, "-m", "adoptsim"]
    done = subprocess.run(exe + ["run", str(small_path), "--replicates", "1", "--out", str(tmp_path / "r"),
                                 "--no-plots"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "\r" not in done.stderr  # no bar, one-line records instead
    assert all(line.startswith("adoptsim: ") for line in done.stderr.splitlines()) and "24/24 month" in done.stderr
    quiet = subprocess.run(exe + ["run", str(small_path), "--replicates", "1", "--out", str(tmp_path / "q"),
                                  "--no-plots", "--quiet"], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""
    bad = subprocess.run(exe + ["run", str(tmp_path / "nope.toml")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "file not found" in bad.stderr


def test_results_have_ordinary_permissions(small_path, tmp_path, capsys):
    """Files written via temporary files get the permissions of a plain write (not 0600)."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = tmp_path / "perm"
        assert cli("run", small_path, "--replicates", 1, "--out", out, capsys=capsys)[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    for f in ("timeseries.parquet", "manifest.json", "summary.parquet"):
        assert stat.S_IMODE((out / f).stat().st_mode) == 0o644, f


def test_validate_knows_every_input_kind(tmp_path, capsys, repo, write_toml):
    ROOT = repo.root
    files = [ROOT / "calibration" / "baseline.toml", ROOT / "calibration" / "targets.toml",
             ROOT / "experiments" / "chip_ban_intensity.toml", ROOT / "experiments" / "target_open_push.toml"]
    code, out, _ = cli("validate", *files, capsys=capsys)
    assert code == 0 and out.count(": OK") == 4
    bad = write_toml(tmp_path, "spec.toml", f"""
        scenario = "{ROOT / 'scenarios' / 'baseline.toml'}"
        targets = "{ROOT / 'calibration' / 'targets.toml'}"
        replicates = 2
        seed = 1
        [method]
        samples = -3
        [[parameters]]
        path = "choice.trust"
        range = [1.0, 4.0]
        """)
    code, out, _ = cli("validate", bad, capsys=capsys)
    assert code == 2 and f"{bad}: method.samples: Input should be greater than or equal to 2" in out
