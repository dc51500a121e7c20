"""Running a sweep: plan the runs, execute them, write the sweep folder (docs/experiments.md).

**Seeds and run keys**: replicate r of *every* design point uses
:func:`adoptsim.core.model.replicate_seed` (seed, r) — common random numbers across points, so a
difference between points is the factors' effect, not noise. A run's key is the SHA-256 of the
resolved scenario's digest, the seed and the replicate: identical scenarios share a key and
are run once.

**Execution** goes through one :mod:`concurrent.futures` interface
(:mod:`adoptsim.experiments.executors`): a process pool (default: every core), the parent
process itself (``workers=1``), or a Dask cluster (``scheduler="tcp://host:8786"``). At most a
few tasks per worker are in flight; each finished run is written at once as
``runs/<key>.parquet`` (atomic rename) and recorded in ``runs.index.jsonl``, so nothing holds
every run's time series, and a killed sweep loses only the runs in flight: ``resume=True`` skips
every run whose shard exists.

Outputs (docs/outputs.md): ``runs.parquet``, ``endpoints.parquet``, ``summary.parquet``
(:mod:`adoptsim.experiments.endpoints`), ``manifest.json``, ``experiment.toml`` and
``scenario.resolved.toml`` (the base scenario).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from ..core.metrics import tidy
from ..core.model import AdoptionModel, release, replicate_seed
from ..core.schema import Scenario
from ..errors import AdoptsimError, InputError
from ..io.atomic import atomic_write_bytes, atomic_write_text, check_out_dir
from ..io.manifest import build_manifest, now, policy_list, read_manifest, write_manifest
from ..io.sweep_folder import read_index
from ..io.tables import to_arrow, write_table
from .endpoints import collect_endpoints, runs_table, summarise_endpoints
from .loader import portable_text
from .executors import InlineExecutor, dask_executor, process_pool, shutdown
from .spec import Experiment

EXIT_FAILED_RUNS = 3  # the sweep finished but some runs failed
SHARD_COLUMNS = ["step", "date", "scope", "scope_id", "metric", "key", "value"]
#: Columns naming the run in every row of its shard (docs/outputs.md): no regex on file names.
SHARD_IDS = ["run_key", "point", "replicate", "member"]


# ---- runs --------------------------------------------------------------------------------

def run_key(digest: str, seed: int, replicate: int) -> str:
    return hashlib.sha256(f"{digest}:{int(seed)}:{int(replicate)}".encode()).hexdigest()


@dataclass
class RunSpec:
    point: int
    replicate: int
    key: str
    scenario: Scenario | None  # None: the point is not a valid scenario
    error: str = ""


def plan_runs(exp: Experiment) -> list[RunSpec]:
    """Every (point, replicate) of the experiment, in design order, with its run key."""
    runs = []
    for i in range(len(exp.points)):
        try:
            sc, err = exp.point_scenario(i), ""
            digest = sc.digest()
        except InputError as exc:
            sc, err = None, "invalid scenario: " + "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
            digest = "invalid:" + json.dumps(exp.points[i], sort_keys=True)
        for r in range(exp.spec.replicates):
            runs.append(RunSpec(i, r, run_key(digest, exp.spec.seed, r), sc, err))
    return runs


def run_task(scenario: Scenario, seed: int, replicate: int, metrics: tuple[str, ...],
             meta: dict | None = None) -> dict:
    """Run one replicate of one scenario (in a worker) and encode its tidy table, kept metrics
    only, as a Parquet shard (bytes, with ``meta`` in the schema metadata). Never raises:
    failures are returned as ``status = "failed"`` with the error."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        model = AdoptionModel(scenario, replicate_seed(seed, replicate), create_community_agents=False)
        try:
            model.run()
            frame = tidy(model, replicate=replicate, metrics=metrics)
        finally:
            release(model)
        meta = meta or {}
        ids = {"run_key": meta.get("key", ""), "point": meta.get("point", -1), "replicate": replicate,
               "member": meta.get("member", -1)}
        shard = frame[SHARD_COLUMNS].assign(**ids)[[*SHARD_IDS, *SHARD_COLUMNS]]
        table = to_arrow(shard, meta)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return {"status": "ok", "shard": sink.getvalue().to_pybytes(), "error": "",
                "duration": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    except Exception as exc:  # recorded, the sweep goes on
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
        return {"status": "failed", "shard": None, "error": f"{type(exc).__name__}: {exc}{where}",
                "duration": time.perf_counter() - t0, "cpu": time.process_time() - c0}


@dataclass
class SweepReport:
    out: Path
    runs: int
    ok: int
    failed: int
    skipped: int
    elapsed: float
    executor: str
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED_RUNS if self.failed else 0


# ---- the sweep folder ----------------------------------------------------------------------

def design_hash(exp: Experiment, runs: list[RunSpec]) -> str:
    """What a resumed sweep must share with the stored one: kept metrics, dates and run keys."""
    h = hashlib.sha256()
    h.update(json.dumps({"metrics": exp.spec.metrics, "dates": exp.spec.dates}, sort_keys=True).encode())
    for r in runs:
        h.update(f"{r.point}:{r.replicate}:{r.key}\n".encode())
    return h.hexdigest()


def check_sweep_folder(out: Path, resume: bool, digest: str) -> None:
    """An existing non-empty ``out`` needs ``resume`` and must hold the same sweep."""
    if check_out_dir(out, resume, "pass --resume to continue the sweep stored there"):
        try:
            old = json.loads((out / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError):
            raise AdoptsimError(f"{out}: --resume: not a sweep folder (manifest.json missing or unreadable)") from None
        if old.get("design_hash") != digest:
            raise AdoptsimError(f"{out}: --resume: this folder holds a different sweep (experiment, scenario, "
                                "seed or metrics changed); choose another --out")


def sweep_manifest(exp: Experiment, runs: list[RunSpec], digest: str, command: str | None) -> dict:
    """The manifest of a sweep folder, as written when the sweep starts (``status: running``)."""
    return build_manifest(
        "sweep", command=command, status="running", experiment=exp.name, description=exp.spec.description,
        experiment_file=exp.file, scenario_file=str(exp.scenario_file), scenario=exp.base.meta.name,
        scenario_hash=exp.base.digest(), design_hash=digest, seed=exp.spec.seed, replicates=exp.spec.replicates,
        design=exp.spec.design.model_dump(), factors=[f.model_dump(exclude_none=True) for f in exp.spec.factors],
        points=len(exp.points), runs=len(runs), metrics=exp.spec.metrics, dates=exp.spec.dates,
        start=exp.base.meta.start, months=exp.base.meta.months, policies=policy_list(exp.base))


def start_folder(out: Path, exp: Experiment, manifest: dict) -> None:
    """Write the manifest, experiment and base scenario of a new sweep folder; when resuming,
    keep the original creation time and record the resumption in ``manifest``."""
    if not (out / "manifest.json").exists():
        write_manifest(out, manifest)
        atomic_write_text(out / "experiment.toml", portable_text(exp))
        atomic_write_text(out / "scenario.resolved.toml", exp.base.to_toml())
    else:
        manifest["created"] = (read_manifest(out) or {}).get("created", manifest["created"])
        manifest["resumed"] = now()


def queue_runs(runs: list[RunSpec], shards: Path) -> tuple[list[RunSpec], dict[str, str], int]:
    """The runs to execute (one per key, shard not stored yet), the keys of invalid points
    with their errors, and the number of keys already stored."""
    todo: list[RunSpec] = []
    queued: set[str] = set()
    failed_now: dict[str, str] = {}
    for r in runs:
        if r.key in queued or (shards / f"{r.key}.parquet").exists():
            continue
        queued.add(r.key)
        if r.scenario is None:
            failed_now[r.key] = r.error
        else:
            todo.append(r)
    return todo, failed_now, len({r.key for r in runs}) - len(queued)


def local_executor(workers: int | None, n_tasks: int) -> tuple[int, Executor, str]:
    """``(workers, executor, description)``: the calling process for one worker, else a pool."""
    n_workers = workers or os.cpu_count() or 1
    n_workers = max(1, min(n_workers, n_tasks or 1))
    executor = InlineExecutor() if n_workers == 1 else process_pool(n_workers)
    return n_workers, executor, "in-process" if n_workers == 1 else f"{n_workers} processes"


class _Recorder:
    """Stores each finished run (shard and index line) and counts them on the progress bar."""

    def __init__(self, exp: Experiment, out: Path, bar, skipped: int):
        self.seed, self.shards, self.index = exp.spec.seed, out / "runs", out / "runs.index.jsonl"
        self.bar, self.skipped = bar, skipped
        self.ok = self.failed = 0
        self.errors: list[str] = []

    def finish(self, spec: RunSpec, res: dict) -> None:
        meta = {"key": spec.key, "point": spec.point, "replicate": spec.replicate, "seed": self.seed,
                "status": res["status"], "error": res["error"], "duration": round(res["duration"], 6),
                "cpu": round(res.get("cpu", 0.0), 6)}
        if res["status"] == "ok":
            atomic_write_bytes(self.shards / f"{spec.key}.parquet", res["shard"])
            self.ok += 1
        else:
            self.failed += 1
            self.errors.append(f"point {spec.point} replicate {spec.replicate}: {res['error']}")
        with open(self.index, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(meta, sort_keys=True) + "\n")
            fh.flush()  # a killed sweep loses at most the line being written
        self.bar.update(1)
        self.bar.set_postfix(done=self.ok + self.skipped, failed=self.failed, refresh=False)


def execute(executor: Executor, todo: list[RunSpec], exp: Experiment, n_workers: int, rec: _Recorder) -> None:
    """Submit the runs, a window of a few per worker in flight, recording each as it finishes
    (in point and replicate order among those finished together)."""
    metrics = tuple(exp.spec.metrics)
    window = max(2, 2 * n_workers)
    it = iter(todo)
    pending: dict[Future, RunSpec] = {}

    def fill() -> None:
        while len(pending) < window:
            spec = next(it, None)
            if spec is None:
                return
            meta = {"key": spec.key, "point": spec.point, "replicate": spec.replicate, "seed": exp.spec.seed,
                    "member": spec.point * exp.spec.replicates + spec.replicate}
            pending[executor.submit(run_task, spec.scenario, exp.spec.seed, spec.replicate, metrics, meta)] = spec

    fill()
    while pending:
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for fut in sorted(done, key=lambda f: (pending[f].point, pending[f].replicate)):
            spec = pending.pop(fut)
            try:
                res = fut.result()
            except Exception as exc:  # the worker itself died, or Dask lost the task
                res = {"status": "failed", "shard": None, "error": f"{type(exc).__name__}: {exc}", "duration": 0.0}
            rec.finish(spec, res)
        fill()


def finish_folder(exp: Experiment, out: Path, runs: list[RunSpec], manifest: dict, kind: str, t_start: float,
                  skipped: int, errors: list[str]) -> SweepReport:
    """Write runs, endpoints and summary tables and the completed manifest; report (elapsed
    time counted from ``t_start``, a :func:`time.perf_counter` reading)."""
    runs_frame = runs_table(exp, runs, read_index(out / "runs.index.jsonl"), out / "runs")
    write_table(runs_frame, out / "runs", "parquet")
    endpoints = collect_endpoints(exp, runs_frame, out / "runs")
    write_table(endpoints, out / "endpoints", "parquet")
    write_table(summarise_endpoints(endpoints, exp), out / "summary", "parquet")
    n_ok = int((runs_frame["status"] == "ok").sum())
    n_failed = int((runs_frame["status"] != "ok").sum())
    elapsed = time.perf_counter() - t_start
    manifest.update({"status": "complete", "executor": kind, "elapsed_seconds": round(elapsed, 3),
                     "ok": n_ok, "failed": n_failed, "finished": now()})
    write_manifest(out, manifest)
    failed_rows = runs_frame.loc[runs_frame["status"] != "ok", ["point", "replicate", "error"]]
    return SweepReport(out=out, runs=len(runs), ok=n_ok, failed=n_failed, skipped=skipped, elapsed=elapsed,
                       executor=kind, errors=errors or [f"point {p} replicate {r}: {e}"
                                                        for p, r, e in failed_rows.itertuples(index=False)])


def run_sweep(exp: Experiment, out: Path, workers: int | None = None, scheduler: str | None = None,
              resume: bool = False, progress=None, command: str | None = None) -> SweepReport:
    """Run (or resume) an experiment into the sweep folder ``out``; see the module docstring."""
    out = Path(out)
    runs = plan_runs(exp)
    digest = design_hash(exp, runs)
    check_sweep_folder(out, resume, digest)
    if workers is not None and workers < 1:
        raise AdoptsimError(f"--workers: expected a whole number >= 1, got {workers}")
    client = executor = None
    if scheduler:  # connect before anything is written: a bad address leaves no folder behind
        client, executor, n_workers = dask_executor(scheduler)
    shards = out / "runs"
    shards.mkdir(parents=True, exist_ok=True)
    for stale in shards.glob(".*.tmp"):  # writes cut short by a kill
        stale.unlink(missing_ok=True)
    t_start = time.perf_counter()
    manifest = sweep_manifest(exp, runs, digest, command)
    start_folder(out, exp, manifest)
    todo, failed_now, skipped = queue_runs(runs, shards)
    if scheduler:
        kind = f"dask {scheduler}"
    else:
        n_workers, executor, kind = local_executor(workers, len(todo))
    total = len({r.key for r in runs})
    if callable(progress):  # a factory (total, desc, unit, initial) -> bar, e.g. the CLI's log lines off a terminal
        bar = progress(total, exp.name, "run", skipped)
    else:
        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(total=total, initial=skipped, desc=exp.name, unit="run", disable=not show, dynamic_ncols=True)
    rec = _Recorder(exp, out, bar, skipped)
    try:
        for r in runs:
            if r.key in failed_now:
                rec.finish(r, {"status": "failed", "error": failed_now.pop(r.key), "duration": 0.0})
        execute(executor, todo, exp, n_workers, rec)
    except BaseException:
        shutdown(executor, client, cancel=True)
        bar.close()
        raise
    shutdown(executor, client, cancel=False)
    bar.close()
    return finish_folder(exp, out, runs, manifest, kind, t_start, skipped, rec.errors)
