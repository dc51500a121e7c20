"""Parameter sweeps: experiment files, designs, factor paths, executors, resume, failures, figures.

Every sweep here is real: tiny scenarios (two or three nations, 20 communities each, 12-24
months) written in tmp_path and run with fixed seeds.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adoptsim.cli import main
from adoptsim.errors import InputError
from adoptsim.core.model import simulate
from adoptsim.io.scenario_files import load_scenario
from adoptsim.experiments.loader import load_experiment
from adoptsim.experiments.runner import plan_runs, run_sweep

ROOT = Path(__file__).resolve().parents[2]

TINY = """
[meta]
name = "tiny"
start = "2025-01"
months = {months}
seed = 1
[adoption]
p = 0.02
q = 0.4
[choice]
default_trust = 0.5  # CN and BR list no trust
[communities]
per_nation = {per_nation}
[sectors.general]
share = 0.7
[sectors.government]
share = 0.3
[[nations]]
id = "US"
developers = 1000
trust = {{US = 0.8, CN = 0.2}}
[[nations]]
id = "CN"
developers = 2000
chip_access = 0.6
[[nations]]
id = "BR"
developers = 500
optimism = 0.7
[[vendors]]
id = "closed_us"
origin = "US"
license = "closed"
capability = 10
price = 5
capability_growth = 1
[[vendors]]
id = "open_cn"
origin = "CN"
license = "open"
capability = 8
price = 1
capability_growth = 1
[[policies]]
name = "ban"
type = "export_control"
issuer = "US"
targets = ["CN"]
chip_access = 0.5
start = "2025-03"
"""

EXPERIMENT = """
description = "tiny sweep"
scenario = "tiny.toml"
replicates = {replicates}
seed = 5
metrics = ["adoption", "share_origin", "capability"]
dates = ["2025-06"]
[design]
method = "grid"
[[factors]]
path = "policies.ban.chip_access"
values = [0.2, 0.8]
[[factors]]
path = "choice.trust"
values = [0.5, 2.0]
"""


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


@pytest.fixture
def tiny(tmp_path) -> Path:
    write(tmp_path, "tiny.toml", TINY.format(months=12, per_nation=20))
    return write(tmp_path, "exp.toml", EXPERIMENT.format(replicates=3))


def exp_file(tmp: Path, body: str, name: str = "e.toml", months: int = 12, per_nation: int = 20) -> Path:
    write(tmp, "tiny.toml", TINY.format(months=months, per_nation=per_nation))
    return write(tmp, name, 'scenario = "tiny.toml"\nseed = 3\nreplicates = 2\n' + body)


def problems(exc: InputError) -> list[str]:
    return [str(p) for p in exc.problems]


# ---- designs ------------------------------------------------------------------------------

def test_grid_is_the_cartesian_product_first_factor_slowest(tiny):
    exp = load_experiment(tiny)
    assert exp.points == [
        {"policies.ban.chip_access": 0.2, "choice.trust": 0.5},
        {"policies.ban.chip_access": 0.2, "choice.trust": 2.0},
        {"policies.ban.chip_access": 0.8, "choice.trust": 0.5},
        {"policies.ban.chip_access": 0.8, "choice.trust": 2.0},
    ]
    sc = exp.point_scenario(1)
    assert sc.choice.trust == 2.0 and sc.policies[0].chip_access == 0.2


def test_list_design_zips_values_and_paths_reach_nations_vendors_sectors(tmp_path):
    f = exp_file(tmp_path, """
[design]
method = "list"
[[factors]]
path = "nations.BR.optimism"
values = [0.1, 0.9]
[[factors]]
path = "vendors.open_cn.price"
values = [0.5, 3]
[[factors]]
path = "nations.BR.trust.CN"
values = [0.0, 1.0]
[[factors]]
path = "sectors.government.trust"
values = [1.0, 4.0]
[[factors]]
path = "network.kind"
values = ["complete", "small_world"]
""")
    exp = load_experiment(f)
    assert len(exp.points) == 2
    sc = exp.point_scenario(1)
    br = next(n for n in sc.nations if n.id == "BR")
    assert br.optimism == 0.9 and br.trust["CN"] == 1.0
    assert next(v for v in sc.vendors if v.id == "open_cn").price == 3
    assert sc.sectors["government"].trust == 4.0 and sc.network.kind == "small_world"
    # the base scenario is untouched
    assert next(n for n in exp.base.nations if n.id == "BR").optimism == 0.7


def test_lhs_is_stratified_seeded_and_rounds_whole_number_fields(tmp_path):
    body = """
[design]
method = "lhs"
samples = 16
[[factors]]
path = "adoption.p"
range = [0.01, 0.05]
[[factors]]
path = "network.degree"
range = [2, 9]
[[factors]]
path = "network.kind"
values = ["complete", "regional"]
"""
    exp = load_experiment(exp_file(tmp_path, body))
    p = np.array([pt["adoption.p"] for pt in exp.points])
    assert len(p) == 16 and p.min() >= 0.01 and p.max() <= 0.05
    # Latin hypercube: exactly one point in each of the 16 equal strata of the range
    strata = np.floor((p - 0.01) / 0.04 * 16).astype(int)
    assert sorted(strata) == list(range(16))
    deg = [pt["network.degree"] for pt in exp.points]
    assert all(isinstance(d, int) and 2 <= d <= 9 for d in deg)
    assert sorted(set(deg)) == list(range(2, 10))  # 16 strata over 8 integers: each twice
    kinds = [pt["network.kind"] for pt in exp.points]
    assert kinds.count("complete") == kinds.count("regional") == 8
    # the same experiment gives the same points; another seed other points
    assert load_experiment(exp_file(tmp_path, body)).points == exp.points
    other = exp_file(tmp_path, body, name="e2.toml")
    other.write_text(other.read_text().replace("seed = 3", "seed = 4"))
    assert load_experiment(other).points != exp.points


def test_sobol_needs_a_power_of_two_and_fills_the_box(tmp_path):
    body = """
[design]
method = "sobol"
samples = {n}
[[factors]]
path = "choice.trust"
range = [0.0, 4.0]
[[factors]]
path = "choice.peer"
range = [0.0, 2.0]
"""
    exp = load_experiment(exp_file(tmp_path, body.format(n=32)))
    t = np.array([pt["choice.trust"] for pt in exp.points])
    assert len(t) == 32 and 0 <= t.min() and t.max() <= 4
    # a balanced Sobol' set has 16 points in each half of every factor's range
    assert (t < 2).sum() == 16
    with pytest.raises(InputError) as err:
        load_experiment(exp_file(tmp_path, body.format(n=30)))
    assert any("design.samples" in s and "powers of 2" in s and "16 or 32" in s for s in problems(err.value))


# ---- validation ---------------------------------------------------------------------------

def test_unknown_path_lists_the_nearest_valid_paths(tmp_path):
    f = exp_file(tmp_path, """
[[factors]]
path = "nations.BR.optimsm"
values = [0.1]
[[factors]]
path = "policies.bann.chip_access"
values = [0.1]
[[factors]]
path = "adoption.pp"
values = [0.1]
""")
    with pytest.raises(InputError) as err:
        load_experiment(f)
    msgs = problems(err.value)
    assert len(msgs) == 3
    assert msgs[0].startswith(f"{f}: factors[0].path: no scenario field 'nations.BR.optimsm'")
    assert "nations.BR.optimism" in msgs[0]
    assert "policies.ban.chip_access" in msgs[1]
    assert "adoption.p" in msgs[2]


def test_experiment_schema_errors_are_strict_with_did_you_mean(tmp_path):
    f = exp_file(tmp_path, """
replicate = 3
metrics = ["adoption", "share_orign"]
dates = ["2030-01"]
[design]
method = "grid"
samples = 4
[[factors]]
path = "adoption.p"
values = [0.1, 2.0]
""")
    with pytest.raises(InputError) as err:
        load_experiment(f)
    msgs = problems(err.value)
    assert msgs == [f"{f}: replicate: unknown key 'replicate'; did you mean 'replicates'?"]
    f.write_text(f.read_text().replace("replicate = 3\n", ""))
    with pytest.raises(InputError) as err:
        load_experiment(f)
    msgs = "\n".join(problems(err.value))
    assert "metrics[1]: unknown metric 'share_orign'; did you mean 'share_origin'?" in msgs
    assert "dates[0]: 2030-01 is outside the scenario's horizon 2025-01..2025-12" in msgs
    assert "design.samples: 'samples' is for 'lhs' and 'sobol'" in msgs
    # every value is checked by the scenario schema itself
    assert "factors[0].values: adoption.p = 2.0: Input should be less than or equal to 1" in msgs


def test_range_needs_lhs_or_sobol_and_list_needs_equal_lengths(tmp_path):
    f = exp_file(tmp_path, """
[design]
method = "list"
[[factors]]
path = "adoption.p"
range = [0.01, 0.02]
[[factors]]
path = "adoption.q"
values = [0.1, 0.2]
[[factors]]
path = "choice.trust"
values = [0.1, 0.2, 0.3]
[[factors]]
path = "choice.peer"
""")
    with pytest.raises(InputError) as err:
        load_experiment(f)
    msgs = "\n".join(problems(err.value))
    assert "factors[0].range: design method 'list' needs 'values'" in msgs
    assert "factors: design 'list' zips the factors' values: they need equal lengths" in msgs
    assert "factors[3]: give exactly one of 'values' or 'range'" in msgs


def test_validate_command_checks_experiment_files(tiny, tmp_path, capsys):
    bad = exp_file(tmp_path, '[[factors]]\npath = "choice.trst"\nvalues = [1.0]\n', name="bad.toml")
    assert main(["validate", str(tiny)]) == 0
    assert capsys.readouterr().out.strip() == f"{tiny}: OK (experiment)"
    assert main(["validate", str(tiny), str(bad)]) == 2
    out = capsys.readouterr().out
    assert f"{bad}: factors[0].path: no scenario field 'choice.trst'; nearest valid paths: choice.trust" in out
    assert main(["validate", *map(str, sorted((ROOT / "experiments").glob("*.toml")))]) == 0


# ---- running ------------------------------------------------------------------------------

def test_sweep_outputs_and_common_random_numbers(tiny, tmp_path):
    exp = load_experiment(tiny)
    rep = run_sweep(exp, tmp_path / "out", workers=1)
    out = tmp_path / "out"
    assert (rep.runs, rep.ok, rep.failed, rep.exit_code) == (12, 12, 0, 0)
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs.columns) == ["run_key", "point", "replicate", "policies.ban.chip_access", "choice.trust",
                                  "seed", "status", "error", "duration", "cpu"]
    assert runs["run_key"].is_unique and (runs["status"] == "ok").all() and (runs["seed"] == 5).all()
    assert sorted(p.stem for p in (out / "runs").glob("*.parquet")) == sorted(runs["run_key"])
    # replicate r of a point is exactly `simulate(point scenario, seed, r)` (replicate_seed)
    sc = exp.point_scenario(2)
    ref = simulate(sc, seed=5, replicates=3, metrics=("adoption", "share_origin", "capability"))
    for r in range(3):
        key = runs.loc[(runs["point"] == 2) & (runs["replicate"] == r), "run_key"].item()
        shard = pd.read_parquet(out / "runs" / f"{key}.parquet")
        mine = ref[ref["replicate"] == r]
        assert np.array_equal(shard["value"].to_numpy(), mine["value"].to_numpy())
    # the same replicate draws the same random numbers at every point: with the factor at
    # a value that changes nothing before 2025-03, months 1-2 are identical across points
    summ = pd.read_parquet(out / "summary.parquet")
    assert set(pd.to_datetime(summ["date"]).dt.strftime("%Y-%m")) == {"2025-06", "2025-12"}
    w = summ[(summ["metric"] == "adoption") & (summ["scope"] == "world")]
    assert (w["n"] == 3).all() and len(w) == 8
    assert (w["q10"] <= w["q50"]).all() and (w["q50"] <= w["q90"]).all()
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "sweep" and man["status"] == "complete" and man["runs"] == 12 and man["failed"] == 0
    stored = tomllib.loads((out / "experiment.toml").read_text())  # as given, its scenario resolved beside it
    assert stored == {**tomllib.loads(tiny.read_text()), "scenario": "scenario.resolved.toml"}
    assert load_scenario(tiny.parent / "tiny.toml").digest() == man["scenario_hash"]


def test_identical_scenarios_share_a_run_key_and_run_once(tmp_path):
    f = exp_file(tmp_path, '[[factors]]\npath = "choice.trust"\nvalues = [1.0, 1.0, 2.0]\n')
    exp = load_experiment(f)
    keys = [r.key for r in plan_runs(exp)]
    assert len(keys) == 6 and len(set(keys)) == 4
    rep = run_sweep(exp, tmp_path / "out", workers=1)
    assert rep.ok == 6
    assert len(list((tmp_path / "out" / "runs").glob("*.parquet"))) == 4
    summ = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    a, b = (summ[summ["point"] == i].drop(columns="point").reset_index(drop=True) for i in (0, 1))
    pd.testing.assert_frame_equal(a, b)


def test_failures_are_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import adoptsim.core.model

    f = exp_file(tmp_path, """
[design]
method = "list"
[[factors]]
path = "sectors.general.share"
values = [0.7, 0.8, 0.7]
[[factors]]
path = "adoption.p"
values = [0.01, 0.01, 0.03]
""")
    exp = load_experiment(f)  # each value alone is valid; point 1's shares sum to 1.1
    real_run = adoptsim.core.model.AdoptionModel.run

    def flaky(self, progress=None):
        if self.spec.adoption.p > 0.02:
            raise FloatingPointError("boom")
        return real_run(self, progress)

    monkeypatch.setattr(adoptsim.core.model.AdoptionModel, "run", flaky)
    rep = run_sweep(exp, tmp_path / "out", workers=1)
    assert (rep.runs, rep.ok, rep.failed, rep.exit_code) == (6, 2, 4, 3)
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    assert list(runs["status"]) == ["ok", "ok", "failed", "failed", "failed", "failed"]
    assert runs.loc[2, "error"].startswith("invalid scenario: sectors: sector shares must sum to 1")
    assert runs.loc[4, "error"].startswith("FloatingPointError: boom (at test_sweep.py:")
    summ = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    assert set(summ["point"]) == {0}
    # resume retries the failed runs (the invalid point fails again)
    monkeypatch.setattr(adoptsim.core.model.AdoptionModel, "run", real_run)
    rep = run_sweep(exp, tmp_path / "out", workers=1, resume=True)
    assert (rep.ok, rep.failed, rep.skipped) == (4, 2, 2)
    summ = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    assert set(summ["point"]) == {0, 2}


@pytest.mark.slow
def test_summary_is_bit_identical_with_1_and_2_workers_and_dask(tiny, tmp_path):
    distributed = pytest.importorskip("distributed")
    exp = load_experiment(tiny)
    run_sweep(exp, tmp_path / "w1", workers=1)
    run_sweep(exp, tmp_path / "w2", workers=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        rep = run_sweep(exp, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert rep.executor.startswith("dask tcp://127.0.0.1:") and rep.ok == 12
    for name in ("summary.parquet", "endpoints.parquet"):
        ref = (tmp_path / "w1" / name).read_bytes()
        assert (tmp_path / "w2" / name).read_bytes() == ref
        assert (tmp_path / "dask" / name).read_bytes() == ref
    shards = sorted(p.name for p in (tmp_path / "w1" / "runs").glob("*.parquet"))
    for other in ("w2", "dask"):
        assert sorted(p.name for p in (tmp_path / other / "runs").glob("*.parquet")) == shards
        for s in shards:  # every run's shard is byte for byte the same
            assert (tmp_path / other / "runs" / s).read_bytes() == (tmp_path / "w1" / "runs" / s).read_bytes()


def _children(pid: int) -> list[int]:
    """Child process ids (Linux /proc; empty elsewhere)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
def test_sweep_killed_with_sigkill_resumes_to_the_same_summary(tmp_path):
    write(tmp_path, "tiny.toml", TINY.format(months=24, per_nation=60))
    f = write(tmp_path, "exp.toml", EXPERIMENT.format(replicates=12))  # 48 runs
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    cmd = [sys.executable, "-m", "adoptsim", "sweep", str(f), "--workers", "2", "--out", str(killed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((killed / "runs").glob("*.parquet"))) >= 5 if (killed / "runs").exists() else False:
                break
            time.sleep(0.01)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    if list(Path(f"/proc/{os.getpid()}/task").glob("*/children")):
        assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
    # the worker processes notice and exit (no orphans left computing or waiting)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]
    stored = len(list((killed / "runs").glob("*.parquet")))
    assert 5 <= stored < 48, "the sweep must be killed part-way"
    assert json.loads((killed / "manifest.json").read_text())["status"] == "running"
    assert not (killed / "summary.parquet").exists()
    # without --resume the folder is not touched; with it the sweep completes
    assert main(["sweep", str(f), "--workers", "1", "--out", str(killed)]) == 2
    assert main(["sweep", str(f), "--workers", "2", "--out", str(killed), "--resume"]) == 0
    assert main(["sweep", str(f), "--workers", "1", "--out", str(whole)]) == 0
    assert (killed / "summary.parquet").read_bytes() == (whole / "summary.parquet").read_bytes()
    runs = pd.read_parquet(killed / "runs.parquet")
    assert len(runs) == 48 and (runs["status"] == "ok").all()
    names = sorted(p.name for p in (killed / "runs").iterdir())
    assert names == sorted(f"{k}.parquet" for k in runs["run_key"])  # every run once, no temp files
    index = [json.loads(line) for line in (killed / "runs.index.jsonl").read_text().splitlines() if line.strip()]
    assert len({rec["key"] for rec in index}) == 48


def test_cli_end_to_end_with_plots(tiny, tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["sweep", str(tiny), "--workers", "1", "--out", str(out)]) == 0
    msg = capsys.readouterr().out
    assert "4 point(s) x 3 replicate(s): 12 ok, 0 failed, 0 already stored" in msg
    assert main(["sweep", str(tiny), "--out", str(out)]) == 2
    assert "folder exists and is not empty; pass --resume" in capsys.readouterr().err
    assert main(["sweep", str(tiny), "--out", str(out), "--resume"]) == 0
    assert "12 ok, 0 failed, 12 already stored" in capsys.readouterr().out
    # resuming into a folder made by another experiment is refused
    other = write(tmp_path, "other.toml", tiny.read_text().replace("seed = 5", "seed = 6"))
    assert main(["sweep", str(other), "--out", str(out), "--resume"]) == 2
    assert "holds a different sweep" in capsys.readouterr().err
    assert main(["sweep", str(tiny), "--workers", "0", "--out", str(tmp_path / "w0")]) == 2
    assert main(["plot", str(out)]) == 0
    drawn = capsys.readouterr().out.split()
    names = sorted(Path(p).name for p in drawn)
    assert names == sorted(["adoption_vs_policies.ban.chip_access.png", "adoption_vs_choice.trust.png",
                            "adoption_policies.ban.chip_access_x_choice.trust.png", "adoption_runs.png"])
    assert all(Path(p).stat().st_size > 10_000 for p in drawn)
    assert main(["plot", str(out), "--metric", "share_origin", "--key", "CN", "--level", "nation",
                 "--scope", "BR"]) == 0
    assert "share_origin_CN_BR_runs.png" in capsys.readouterr().out
    assert main(["plot", str(out), "--date", "2025-06"]) == 0
    assert "adoption_2025-06_vs_choice.trust.png" in capsys.readouterr().out
    assert main(["plot", str(out), "--date", "2025-07"]) == 2
    assert "--date: the sweep summarised only the final month and 2025-06" in capsys.readouterr().err
    assert main(["plot", str(out), "--metric", "hhi"]) == 2
    assert "kept only adoption, share_origin, capability" in capsys.readouterr().err
    assert main(["plot", str(out), "--metric", "share_origin", "--key", "XX"]) == 2


def test_failed_runs_give_exit_code_3(tmp_path, capsys):
    f = exp_file(tmp_path, """
[design]
method = "list"
[[factors]]
path = "sectors.general.share"
values = [0.7, 0.9]
""")
    assert main(["sweep", str(f), "--workers", "1", "--out", str(tmp_path / "o")]) == 3
    captured = capsys.readouterr()
    assert "2 ok, 2 failed" in captured.out
    assert "failed: point 1 replicate 0: invalid scenario: sectors: sector shares must sum to 1" in captured.err


def test_lhs_sweep_figures(tmp_path):
    from adoptsim.workflows.plot import plot_sweep

    f = exp_file(tmp_path, """
replicates = 1
[design]
method = "lhs"
samples = 24
[[factors]]
path = "choice.trust"
range = [0.0, 4.0]
[[factors]]
path = "adoption.q"
range = [0.1, 0.6]
""".replace("replicates = 1\n", ""))
    f.write_text(f.read_text().replace("replicates = 2", "replicates = 1"))
    rep = run_sweep(load_experiment(f), tmp_path / "o", workers=1)
    assert rep.ok == 24
    paths = plot_sweep(tmp_path / "o", metric="share_origin", key="US")
    assert [p.name for p in paths] == ["share_origin_US_vs_choice.trust.png", "share_origin_US_vs_adoption.q.png",
                                       "share_origin_US_choice.trust_x_adoption.q.png", "share_origin_US_runs.png"]


def test_a_worker_keeps_no_finished_model_alive(tiny):
    """Memory stays flat over many runs: no finished run's model survives its task."""
    import gc

    from adoptsim.core.model import AdoptionModel
    from adoptsim.experiments.runner import run_task

    def alive() -> int:
        gc.collect()
        return sum(isinstance(o, AdoptionModel) for o in gc.get_objects())

    exp = load_experiment(tiny)
    before = alive()
    for r in range(3):
        res = run_task(exp.point_scenario(0), 5, r, ("adoption",), {"key": "k"})
        frame = pd.read_parquet(io.BytesIO(res["shard"]))
        assert res["status"] == "ok" and set(frame["metric"]) == {"adoption"}
    del res
    assert alive() == before


def test_scheduler_without_dask_is_a_clear_error(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask[distributed] were not installed
    assert main(["sweep", str(tiny), "--scheduler", "tcp://127.0.0.1:8786", "--out", str(tmp_path / "d")]) == 2
    assert "--scheduler: Dask is not installed; install it with pip install 'adoptsim[dask]'" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    assert main(["sweep", str(tiny), "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"]) == 2
