"""A corpus of misuse: each case gets exit code 2, one line on stderr that says what was wrong
(and what to do instead), no traceback, and writes nothing. Plus the global flags (before or
after the command), --quiet and --json, and rerun of a run and a sweep folder bit for bit."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from adoptsim.cli import main

EXPERIMENT = """
description = "two trust weights"
scenario = "small.toml"
replicates = 1
seed = 7
metrics = ["adoption", "share_origin"]
[design]
method = "list"
[[factors]]
path = "choice.trust"
values = [1.0, 3.0]
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory, small_text):
    """Inputs and folders of every kind, made once: scenario, experiment, results folders (two
    of the same horizon, one shorter), a sweep folder and a compare folder."""
    d = tmp_path_factory.mktemp("misuse")
    (d / "small.toml").write_text(small_text)
    (d / "short.toml").write_text(small_text.replace("months = 24", "months = 12"))
    (d / "exp.toml").write_text(EXPERIMENT)
    for name, scen, seed in (("run", "small.toml", "3"), ("run2", "small.toml", "5"), ("short", "short.toml", "3")):
        assert main(["run", str(d / scen), "--replicates", "1", "--seed", seed, "--no-plots", "--quiet",
                     "--out", str(d / name)]) == 0
    assert main(["sweep", str(d / "exp.toml"), "--workers", "1", "--out", str(d / "sweep"), "--quiet"]) == 0
    assert main(["compare", str(d / "run"), str(d / "run2"), "--out", str(d / "cmp"), "--quiet"]) == 0
    return d


def cases(repo):
    """(arguments, words the one line must contain). {d} is the fixture folder."""
    target = repo.experiments / "target_open_push.toml"
    spec = repo.calibration / "baseline.toml"
    return [
        (["rnu"], ["unknown command 'rnu'", "did you mean 'run'"]),
        (["run", "{d}/small.toml", "--replicate", "3"], ["unrecognized arguments: --replicate"]),
        (["run", "{d}/exp.toml"], ["this is an experiment file", "use adoptsim sweep"]),
        (["run", str(target)], ["this is a target experiment file", "use adoptsim target"]),
        (["run", str(spec)], ["this is a calibration spec", "use adoptsim calibrate"]),
        (["run", str(repo.calibration / "targets.toml")], ["this is a calibration targets file"]),
        (["run", str(repo.root / "pyproject.toml")], ["no adoptsim input"]),
        (["run", "{d}/run"], ["this is a run results folder", "adoptsim plot / compare / rerun"]),
        (["run", "basline"], ["did you mean 'baseline'"]),
        (["run", "{d}/nowhere/x.toml"], ["file not found"]),
        (["sweep", "{d}/small.toml"], ["this is a scenario file", "use adoptsim run"]),
        (["sweep", "{d}/exp.toml", "--overwrite", "--resume"], ["--overwrite and --resume"]),
        (["sensitivity", "{d}/exp.toml"], ["sensitivity needs [design] method 'sobol' or 'oat'"]),
        (["calibrate", "{d}/exp.toml"], ["this is an experiment file, not a calibration spec"]),
        (["target", "{d}/exp.toml"], ["not a target experiment file"]),
        (["discover", "{d}/run", "--metric", "adoption", "--above", "0.5"],
         ["this is a run results folder, not a sweep folder"]),
        (["discover", "{d}/sweep", "--metric", "share_origin", "--key", "CN", "--above", "85"],
         ["share between 0 and 1", "did you mean 0.85?"]),
        (["discover", "{d}/sweep", "--metric", "adoption", "--above", "0.1"],
         ["of 2 runs meet the condition", "discovery needs at least 10 on each side"]),
        (["discover", "{d}/sweep", "--metric", "adoption", "--scope", "BR", "--above", "0.5"],
         ["--scope BR: say which level"]),
        (["discover", "{d}/sweep", "--metric", "adoption", "--level", "world", "--scope", "BR", "--above", "0.5"],
         ["does not apply at --level world"]),
        (["discover", "{d}/sweep", "--metric", "adoption", "--above", "0.5", "--below", "0.1"],
         ["not allowed with argument"]),
        (["plot", "{d}/sweep", "--figure", "vendors"], ["--figure: does not apply to a sweep folder"]),
        (["plot", "{d}/sweep", "--level", "nation"], ["--scope: name the nation"]),
        (["plot", "{d}/run", "--key", "deepseek"], ["--key: does not apply to a run results folder"]),
        (["plot", "{d}/run", "--level", "nation", "--scope", "BR"], ["apply with --metric or --against"]),
        (["plot", "{d}/run", "--metric", "adoption", "--figure", "vendors"],
         ["--figure: does not apply with --metric"]),
        (["plot", "{d}/cmp"], ["this is a compare folder"]),
        (["plot", "{d}/small.toml"], ["this is a scenario file"]),
        (["compare", "{d}/run", "{d}/run2", "--out", "{d}/new", "--scope", "BR"], ["--level region or --level nation"]),
        (["compare", "{d}/run", "{d}/run2", "--format", "csv"], ["--format: does not apply to the two-folder figure"]),
        (["compare", "{d}/run", "{d}/run2", "--key", "CN"], ["--key: does not apply to the two-folder figure"]),
        (["compare", "{d}/run", "{d}/short", "--out", "{d}/new"], ["start and horizon must match"]),
        (["compare", "{d}/run", "{d}/sweep"], ["this is a sweep folder, not a run results folder"]),
        (["compare", "{d}/run"], ["at least two results folders"]),
        (["compare", "{d}/run", "{d}/run2", "{d}/short", "--out", "{d}/x.png"], ["--out is a folder"]),
        (["rerun", "{d}/exp.toml"], ["this is an experiment file"]),
        (["rerun", "{d}/run", "--workers", "2"], ["--workers: does not apply to a run results folder"]),
        (["validate", "{d}"], ["this is a folder"]),
    ]


def test_every_misuse_gets_one_line_and_exit_2(made, repo, capsys):
    for args, words in cases(repo):
        argv = [a.replace("{d}", str(made)) for a in args]
        before = sorted(p.name for p in made.iterdir())
        code = main(argv)
        out = capsys.readouterr()
        text = out.err + out.out  # validate reports problems on stdout
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("adoptsim: ")]
        assert code == 2, (args, code, text)
        assert len(lines) == 1 and "Traceback" not in text, (args, text)
        for w in words:
            assert w in lines[0], (args, w, lines[0])
        assert sorted(p.name for p in made.iterdir()) == before, (args, "wrote something")


def test_global_flags_before_or_after_the_command(made, capsys):
    for argv in (["--quiet", "validate", str(made / "small.toml")], ["validate", str(made / "small.toml"), "-q"]):
        assert main(argv) == 0 and capsys.readouterr().out == ""
    assert main(["validate", str(made / "small.toml"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"command": "validate", "files": {str(made / "small.toml"): "scenario"}, "invalid": 0}
    assert main(["--json", "plot", str(made / "run"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["command"] == "plot" and summary["figures"][0].endswith("adoption.png")


def test_run_by_bundled_name_and_list_as_json(capsys):
    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert "baseline.toml" in listing["scenarios"] and "baseline.toml" in listing["calibration"]
    assert "target_open_push.toml" in listing["experiments"]
    # 'baseline' is found among the bundled scenarios (and then refused for its 0 replicates, cheaply)
    assert main(["run", "baseline", "--replicates", "0"]) == 2
    assert "--replicates: expected a whole number >= 1" in capsys.readouterr().err


def test_rerun_reproduces_a_run_and_a_sweep_bit_for_bit(made, tmp_path, capsys):
    assert main(["rerun", str(made / "run"), "--out", str(tmp_path / "r"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["identical"] and rep["kind"] == "run" and rep["checked"][0].startswith("timeseries")
    assert main(["rerun", str(made / "sweep"), "--out", str(tmp_path / "s"), "--workers", "1", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["identical"] and "2 run shards" in rep["checked"]
    # the sweep folder holds what it needs: its experiment names the resolved scenario beside it
    assert 'scenario = "scenario.resolved.toml"' in (made / "sweep" / "experiment.toml").read_text()
    assert main(["validate", str(made / "sweep" / "experiment.toml")]) == 0  # valid from its own folder
    capsys.readouterr()
    a = pd.read_parquet(made / "sweep" / "endpoints.parquet")
    b = pd.read_parquet(tmp_path / "s" / "endpoints.parquet")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # a folder whose numbers were changed is reported as different: exit 2, the difference named
    ts = pd.read_parquet(tmp_path / "r" / "timeseries.parquet")
    ts.loc[0, "value"] += 1e-9
    ts.to_parquet(tmp_path / "r" / "timeseries.parquet")
    assert main(["rerun", str(tmp_path / "r"), "--out", str(tmp_path / "r2")]) == 2
    assert "rerun differs: timeseries" in capsys.readouterr().err


def test_compare_refuses_worlds_of_different_nations():
    """A 3-nation and a 2-nation run share the scope 'world' but not its meaning: refused."""
    from adoptsim.analysis.compare import check_comparable
    from adoptsim.errors import AdoptsimError

    def frame(nations):
        rows = [("world", "world")] + [("nation", n) for n in nations]
        return pd.DataFrame([{"scope": s, "scope_id": i, "date": pd.Timestamp("2025-01-01"), "metric": "adoption",
                              "key": "", "value": 0.5, "replicate": 0} for s, i in rows])

    items = [("base", frame(["US", "CN", "BR"]), {}), ("other", frame(["US", "CN"]), {})]
    with pytest.raises(AdoptsimError, match=r"other: cannot compare with base: 2 nations against 3 .*missing: BR"):
        check_comparable(items, "world", "world")
    check_comparable(items[:1] * 2, "world", "world")  # the same nations: comparable
