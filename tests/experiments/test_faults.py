"""Fault injection (issue 18): interrupts, killed workers and parents, Dask scheduler and worker
loss, full or read-only disks, concurrent writers, device files, oversized jobs. Each case
asserts a bounded time, the exit code, the message and that nothing finished is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from adoptsim.cli import main

SCENARIO = """
[meta]
name = "faulty"
start = "2025-01"
months = {months}
seed = 1
[communities]
per_nation = {per_nation}
[choice]
default_trust = 0.5
[sectors.general]
share = 1.0
[[nations]]
id = "US"
developers = 1000
[[nations]]
id = "CN"
developers = 2000
[[vendors]]
id = "closed_us"
origin = "US"
license = "closed"
capability = 10
price = 5
[[vendors]]
id = "open_cn"
origin = "CN"
license = "open"
capability = 8
price = 1
"""

EXPERIMENT = """
scenario = "faulty.toml"
replicates = {replicates}
seed = 5
metrics = ["adoption", "share_origin"]
[design]
method = "grid"
[[factors]]
path = "adoption.q"
values = [0.2, 0.4]
"""


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.fixture
def sweep_files(tmp_path):
    """An experiment of 2 points x ``replicates`` runs, each run lasting ``months`` months."""

    def make(replicates: int = 3, months: int = 12, per_nation: int = 20) -> Path:
        write(tmp_path, "faulty.toml", SCENARIO.format(months=months, per_nation=per_nation))
        return write(tmp_path, "exp.toml", EXPERIMENT.format(replicates=replicates))

    return make


def adoptsim(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "adoptsim", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def wait_for_shards(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        stored = len(list((out / "runs").glob("*.parquet"))) if (out / "runs").exists() else 0
        if stored >= n:
            return stored
        time.sleep(0.02)
    raise AssertionError(f"the sweep did not store {n} runs in time (exit {proc.poll()})")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def finished(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"the command did not end within {timeout} s") from None
    assert time.monotonic() - t0 < timeout
    return proc.returncode, err


def assert_resumes_identical(exp: Path, out: Path, whole: Path) -> None:
    """Resuming ``out`` completes the sweep with the summary of an uninterrupted one."""
    assert main(["sweep", str(exp), "--workers", "2", "--out", str(out), "--resume"]) == 0
    assert main(["sweep", str(exp), "--workers", "1", "--out", str(whole)]) == 0
    assert (out / "summary.parquet").read_bytes() == (whole / "summary.parquet").read_bytes()
    assert (pd.read_parquet(out / "runs.parquet")["status"] == "ok").all()


# ---- interrupts and killed processes -------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("signals", [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM],
                                     [signal.SIGINT] * 5])
def test_interrupts_end_the_sweep_at_once_and_it_resumes(sweep_files, tmp_path, signals):
    exp = sweep_files(replicates=10, months=24, per_nation=150)
    out = tmp_path / "out"
    proc = adoptsim("sweep", str(exp), "--workers", "2", "--out", str(out))
    wait_for_shards(out, 2, proc)
    workers = children(proc.pid)
    for s in signals:  # several Ctrl-C 20 ms apart, as a user hammering the keys
        proc.send_signal(s)
        time.sleep(0.02)
    code, err = finished(proc, timeout=15)
    assert code == 130, err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.05)
    assert not [w for w in workers if alive(w)], "worker processes left running"
    assert "leaked semaphore" not in err
    assert_resumes_identical(exp, out, tmp_path / "whole")


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_runs_retried(sweep_files, tmp_path):
    exp = sweep_files(replicates=10, months=24, per_nation=150)
    out = tmp_path / "out"
    proc = adoptsim("sweep", str(exp), "--workers", "2", "--out", str(out))
    wait_for_shards(out, 2, proc)
    victims = [c for c in children(proc.pid) if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_text()]
    os.kill(victims[-1], signal.SIGKILL)
    code, err = finished(proc, timeout=120)
    assert code == 0, err
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 20 and (runs["status"] == "ok").all()
    assert main(["sweep", str(exp), "--workers", "1", "--out", str(tmp_path / "whole")]) == 0
    assert (out / "summary.parquet").read_bytes() == (tmp_path / "whole" / "summary.parquet").read_bytes()


@pytest.mark.slow
def test_a_killed_run_leaves_no_folder_and_the_next_run_cleans_up(small_path, tmp_path):
    out = tmp_path / "res"
    proc = adoptsim("run", str(small_path), "--replicates", "400", "--no-plots", "--out", str(out))
    time.sleep(3)
    proc.kill()
    proc.wait(10)
    assert not out.exists()
    leftover = tmp_path / f".{out.name}.abcd.tmp"  # as a writer killed while publishing leaves
    leftover.mkdir()
    assert main(["run", str(small_path), "--replicates", "1", "--no-plots", "--out", str(out)]) == 0
    assert (out / "manifest.json").exists() and not leftover.exists()
    assert not list(tmp_path.glob(".res.*"))


def test_a_truncated_shard_is_run_again_on_resume(sweep_files, tmp_path, capsys):
    exp = sweep_files(replicates=2)
    out = tmp_path / "out"
    assert main(["sweep", str(exp), "--workers", "1", "--out", str(out)]) == 0
    ref = (out / "summary.parquet").read_bytes()
    shard = sorted((out / "runs").glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:100])  # cut short, as a full disk would
    (out / "summary.parquet").unlink()
    capsys.readouterr()
    assert main(["sweep", str(exp), "--workers", "1", "--out", str(out), "--resume"]) == 0
    assert "1 truncated or unreadable run file(s) found and run again" in capsys.readouterr().err
    assert (out / "summary.parquet").read_bytes() == ref


# ---- concurrent writers --------------------------------------------------------------------------

def test_a_second_writer_of_one_out_gets_exit_2_naming_the_first(small_path, tmp_path, capsys):
    from adoptsim.io.atomic import out_lock

    out = tmp_path / "same"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom adoptsim.io.atomic import out_lock\n"
                               f"with out_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        assert main(["run", str(small_path), "--replicates", "1", "--no-plots", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"being written by another process (pid {holder.pid})" in err and time.monotonic() - t0 < 5
    finally:
        holder.kill()
        holder.wait()
    with out_lock(out):  # the kernel dropped the killed holder's lock
        pass
    assert main(["run", str(small_path), "--replicates", "1", "--no-plots", "--out", str(out)]) == 0


@pytest.mark.slow
def test_concurrent_runs_to_one_out_never_both_succeed(small_path, tmp_path):
    out = tmp_path / "same"
    procs = [adoptsim("run", str(small_path), "--replicates", "3", "--no-plots", "--out", str(out))
             for _ in range(3)]
    results = [finished(p, timeout=120) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes.count(0) == 1 and codes.count(2) == 2, results
    for code, err in results:
        if code == 2:
            assert "being written by another process" in err or "folder exists and is not empty" in err
    assert not list(tmp_path.glob(".same.*"))


# ---- the environment: read-only, full disk, devices, sizes -------------------------------------

@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_out_is_refused_before_simulating(small_path, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["run", str(small_path), "--replicates", "1", "--out", str(ro / "res")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "permission denied" in err and str(ro) in err
        assert not (ro / "res").exists()
    finally:
        ro.chmod(0o755)


def test_out_under_a_file_is_an_error_naming_it(small_path, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["run", str(small_path), "--out", str(tmp_path / "afile" / "res")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def _tmpfs(path: Path, size: str, options: str = "") -> bool:
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs", str(path)],
                       capture_output=True)
    return r.returncode == 0


def test_a_read_only_file_system_is_refused_before_simulating(small_path, tmp_path, capsys):
    disk = tmp_path / "ro"
    if not _tmpfs(disk, "100k", ",ro"):
        pytest.skip("cannot mount a read-only tmpfs here (needs root or a user namespace)")
    try:
        t0 = time.monotonic()
        assert main(["run", str(small_path), "--replicates", "50", "--out", str(disk / "res")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "read-only file system" in err and str(disk) in err
        assert time.monotonic() - t0 < 5  # refused before the 50 replicates ran
        write(tmp_path, "faulty.toml", SCENARIO.format(months=6, per_nation=5))
        exp = write(tmp_path, "exp.toml", EXPERIMENT.format(replicates=1))
        assert main(["sweep", str(exp), "--out", str(disk / "sw")]) == 2
        assert "read-only file system" in capsys.readouterr().err
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_fails_with_one_line_and_no_partial_folder(small_path, tmp_path):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "200k"):
        pytest.skip("cannot mount a small tmpfs here (needs root or a user namespace)")
    try:
        (disk / "filler").write_bytes(b"\0" * 150_000)
        proc = adoptsim("run", str(small_path), "--replicates", "3", "--out", str(disk / "res"))
        code, err = finished(proc, timeout=120)
        assert code == 2 and err.count("\n") == 1, err
        assert "space" in err.lower()
        assert not (disk / "res").exists() and not list(disk.glob(".res.*"))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_no_space_during_the_write_leaves_no_partial_folder(small_path, tmp_path, capsys, monkeypatch):
    import adoptsim.workflows.run

    disk = tmp_path / "disk"
    if not _tmpfs(disk, "64k"):
        pytest.skip("cannot mount a small tmpfs here (needs root or a user namespace)")
    try:  # the free-space check passes (as when another process fills the disk meanwhile)
        monkeypatch.setattr(adoptsim.workflows.run, "check_writable", lambda out, need=0: None)
        assert main(["run", str(small_path), "--replicates", "3", "--out", str(disk / "res")]) == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if not line.startswith("adoptsim: ")]  # progress records
        assert len(errors) == 1 and "No space left on device" in err and "internal error" not in err
        assert not (disk / "res").exists() and not list(disk.glob(".res*"))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused_by_kind(device, tmp_path, capsys):
    t0 = time.monotonic()
    assert main(["run", device]) == 2
    assert "character device" in capsys.readouterr().err
    write(tmp_path, "child.toml", f'extends = "{device}"\n')
    assert main(["validate", str(tmp_path / "child.toml")]) == 2
    assert "character device" in capsys.readouterr().out
    assert time.monotonic() - t0 < 5


def test_a_fifo_without_writer_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    write(tmp_path, "child.toml", 'extends = "pipe.toml"\n')
    t0 = time.monotonic()
    assert main(["validate", str(tmp_path / "child.toml")]) == 2
    assert "FIFO" in capsys.readouterr().out and time.monotonic() - t0 < 5


def test_too_large_and_too_deep_inputs(tmp_path, small_text, capsys):
    from adoptsim.io.scenario_files import MAX_EXTENDS_DEPTH, MAX_FILE_BYTES

    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    assert main(["validate", str(big)]) == 2
    assert "too large" in capsys.readouterr().out
    write(tmp_path, "f0.toml", small_text)
    for i in range(1, 2000):
        (tmp_path / f"f{i}.toml").write_text(f'extends = "f{i - 1}.toml"\n')
    assert main(["validate", str(tmp_path / f"f{MAX_EXTENDS_DEPTH - 1}.toml")]) == 0
    assert main(["run", str(tmp_path / "f1999.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"deeper than {MAX_EXTENDS_DEPTH}" in err and "internal error" not in err


def test_oversized_jobs_are_refused_with_the_estimate_and_the_option(tmp_path, sweep_files, capsys):
    exp = sweep_files(replicates=3)
    huge = write(tmp_path, "huge.toml", (tmp_path / "faulty.toml").read_text().replace("per_nation = 20",
                                                                                        "per_nation = 1000000"))
    t0 = time.monotonic()
    assert main(["run", str(huge), "--out", str(tmp_path / "h"), "--max-memory", "300M"]) == 2
    err = capsys.readouterr().err
    assert "needs about" in err and "--max-memory" in err and err.count("\n") == 1
    grid = write(tmp_path, "grid.toml", exp.read_text().replace("values = [0.2, 0.4]", "values = [0.1, 0.2, 0.3]"))
    assert main(["sweep", str(grid), "--out", str(tmp_path / "g"), "--max-runs", "8"]) == 2
    err = capsys.readouterr().err
    assert "9 runs, more than the cap of 8" in err and "--max-runs 9" in err
    assert not (tmp_path / "g").exists() and time.monotonic() - t0 < 10
    assert main(["sweep", str(grid), "--out", str(tmp_path / "g"), "--max-runs", "9", "--workers", "1"]) == 0


def test_a_huge_grid_is_refused_before_its_points_exist(tmp_path, sweep_files, capsys):
    exp = sweep_files()
    factors = "".join(f'[[factors]]\npath = "{p}"\nvalues = [{", ".join(str(0.1 + i / 100) for i in range(10))}]\n'
                      for p in ("adoption.q", "adoption.p"))
    big = write(tmp_path, "big.toml", exp.read_text().split("[[factors]]")[0] + factors)
    t0 = time.monotonic()
    assert main(["sweep", str(big), "--out", str(tmp_path / "b"), "--max-runs", "50"]) == 2
    assert "300 runs, more than the cap of 50" in capsys.readouterr().err
    assert time.monotonic() - t0 < 10


# ---- Dask ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_scheduler_without_workers_times_out_with_a_message(sweep_files, tmp_path, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("ADOPTSIM_DASK_WORKER_TIMEOUT", "2")
    exp = sweep_files()
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as cluster:
        t0 = time.monotonic()
        assert main(["sweep", str(exp), "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "o")]) == 2
        assert time.monotonic() - t0 < 20
    assert "has no workers" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


SCHEDULER = """
import sys, time
from distributed import LocalCluster
cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
print(cluster.scheduler_address, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_lost_scheduler_ends_the_sweep_with_exit_3_and_it_resumes(sweep_files, tmp_path):
    pytest.importorskip("distributed")
    exp = sweep_files(replicates=20, months=24, per_nation=100)
    cluster = subprocess.Popen([sys.executable, "-c", SCHEDULER], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    out = tmp_path / "out"
    try:
        address = cluster.stdout.readline().strip()
        assert address.startswith("tcp://127.0.0.1:")
        proc = adoptsim("sweep", str(exp), "--scheduler", address, "--out", str(out))
        wait_for_shards(out, 3, proc)
        os.killpg(cluster.pid, signal.SIGKILL)  # the scheduler and its workers vanish
        code, err = finished(proc, timeout=60)
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait()
    assert code == 3, err
    assert "lost the Dask scheduler" in err and f"--out {out} --resume" in err
    stored = json.loads((out / "manifest.json").read_text())
    assert stored["status"] == "running"
    assert_resumes_identical(exp, out, tmp_path / "whole")


@pytest.mark.slow
def test_a_lost_dask_worker_is_retried_and_the_sweep_completes_identical(sweep_files, tmp_path):
    pytest.importorskip("distributed")
    exp = sweep_files(replicates=10, months=24, per_nation=100)
    cluster = subprocess.Popen([sys.executable, "-c", SCHEDULER], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    out = tmp_path / "out"
    try:
        address = cluster.stdout.readline().strip()
        proc = adoptsim("sweep", str(exp), "--scheduler", address, "--out", str(out))
        wait_for_shards(out, 2, proc)
        workers = [c for c in children(cluster.pid)  # the nannies' worker processes
                   if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_text()]
        assert workers, "no Dask worker processes found"
        os.kill(workers[0], signal.SIGKILL)
        code, err = finished(proc, timeout=120)
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait()
    assert code == 0, err
    assert main(["sweep", str(exp), "--workers", "1", "--out", str(tmp_path / "whole")]) == 0
    assert (out / "summary.parquet").read_bytes() == (tmp_path / "whole" / "summary.parquet").read_bytes()


@pytest.mark.slow
def test_a_cluster_left_without_workers_ends_the_sweep_with_exit_3(sweep_files, tmp_path, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed")
    import threading

    monkeypatch.setenv("ADOPTSIM_DASK_WORKER_TIMEOUT", "3")
    exp = sweep_files(replicates=20, months=24, per_nation=100)
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        def retire() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(list(out.glob("runs/*.parquet"))) < 2:
                time.sleep(0.05)
            cluster.scale(0)

        threading.Thread(target=retire, daemon=True).start()
        t0 = time.monotonic()
        code = main(["sweep", str(exp), "--scheduler", cluster.scheduler_address, "--out", str(out)])
        assert time.monotonic() - t0 < 60
    err = capsys.readouterr().err
    assert code == 3 and "has had no workers" in err and "--resume" in err


# ---- lazy planning -------------------------------------------------------------------------------

LHS = """
scenario = "faulty.toml"
replicates = 1
seed = 5
metrics = ["adoption"]
[design]
method = "lhs"
samples = {samples}
[[factors]]
path = "adoption.q"
range = [0.1, 0.6]
"""


@pytest.mark.slow
def test_a_large_design_starts_at_once_and_resumes(sweep_files, tmp_path):
    sweep_files(months=6, per_nation=5)
    exp = write(tmp_path, "lhs.toml", LHS.format(samples=200_000))
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = adoptsim("sweep", str(exp), "--workers", "2", "--out", str(out))
    wait_for_shards(out, 3, proc, timeout=60)  # planning every point first would take minutes
    started = time.monotonic() - t0
    proc.send_signal(signal.SIGINT)
    code, err = finished(proc, timeout=15)
    assert code == 130 and started < 30, (started, err)
    stored = len(list((out / "runs").glob("*.parquet")))
    proc = adoptsim("sweep", str(exp), "--workers", "1", "--out", str(out), "--resume")
    wait_for_shards(out, stored + 2, proc, timeout=60)
    proc.send_signal(signal.SIGINT)
    assert finished(proc, timeout=15)[0] == 130


def test_a_folder_of_the_former_design_hash_still_resumes(sweep_files, tmp_path):
    from adoptsim.experiments.loader import load_experiment
    from adoptsim.experiments.runner import legacy_design_hash, plan_runs

    exp_file = sweep_files(replicates=2)
    out = tmp_path / "out"
    assert main(["sweep", str(exp_file), "--workers", "1", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    exp = load_experiment(exp_file)
    manifest["design_hash"] = legacy_design_hash(exp, plan_runs(exp))
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main(["sweep", str(exp_file), "--workers", "1", "--out", str(out), "--resume"]) == 0
    manifest["design_hash"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main(["sweep", str(exp_file), "--workers", "1", "--out", str(out), "--resume"]) == 2


def test_leftovers_of_other_killed_writers_are_cleaned_but_not_live_ones(small_path, tmp_path):
    from adoptsim.io.atomic import out_lock

    dead = tmp_path / ".gone.k2j4h5g6.tmp"  # a writer of 'gone', killed while publishing
    dead.mkdir()
    (tmp_path / ".x.toml.abcd1234.tmp").write_text("a file being written by someone else")
    with out_lock(tmp_path / "busy"):
        live = tmp_path / ".busy.a1b2c3d4.tmp"  # a writer of 'busy' at work
        live.mkdir()
        assert main(["run", str(small_path), "--replicates", "1", "--no-plots", "--out", str(tmp_path / "new")]) == 0
        assert not dead.exists() and live.exists() and (tmp_path / ".x.toml.abcd1234.tmp").exists()
