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
every run whose complete shard exists (a truncated one is run again).

**Planning is lazy** (:class:`Planner`): each point's scenario is resolved and its run keys
computed only when its runs are dispatched, so a large design starts at once; the design hash
that ``resume`` checks is computed from the points, not from the run keys. Before anything is
planned the job's runs and memory are checked against the size caps
(:mod:`adoptsim.experiments.budget`).

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
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from ..core.metrics import label_codes, tidy_columns
from ..core.model import AdoptionModel, release, replicate_seed
from ..core.schema import Scenario
from ..errors import AdoptsimError, InputError
from ..io.atomic import atomic_write_bytes, atomic_write_text, check_out_dir, check_writable, out_lock
from ..io.manifest import build_manifest, now, policy_list, read_manifest, write_manifest
from ..io.sweep_folder import read_index
from ..io.columns import describe
from ..io.tables import write_table
from .endpoints import collect_endpoints, runs_table, summarise_endpoints
from .loader import portable_text
from .budget import Budget, check_budget, estimate_sweep
from .executors import MAX_ATTEMPTS, Workers, connect_dask, signals_ignored
from .spec import Experiment

EXIT_FAILED_RUNS = 3  # the sweep finished but some runs failed
SHARD_COLUMNS = ["step", "date", "scope", "scope_id", "metric", "key", "value"]
#: Columns naming the run in every row of its shard (docs/outputs.md): no regex on file names.
SHARD_IDS = ["run_key", "point", "replicate", "run"]


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


def point_runs(exp: Experiment, i: int) -> list[RunSpec]:
    """The replicates of design point ``i`` with their run keys (the point's scenario is
    resolved here: planning is lazy, one point at a time as the runs are dispatched)."""
    try:
        sc, err = exp.point_scenario(i), ""
        digest = sc.digest()
    except InputError as exc:
        sc, err = None, "invalid scenario: " + "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
        digest = "invalid:" + json.dumps(exp.points[i], sort_keys=True)
    return [RunSpec(i, r, run_key(digest, exp.spec.seed, r), sc, err) for r in range(exp.spec.replicates)]


def plan_runs(exp: Experiment) -> list[RunSpec]:
    """Every (point, replicate) of the experiment, in design order, with its run key."""
    return [r for i in range(len(exp.points)) for r in point_runs(exp, i)]


def run_task(scenario: Scenario, seed: int, replicate: int, metrics: tuple[str, ...],
             meta: dict | None = None) -> dict:
    """Run one replicate of one scenario (in a worker) and encode its tidy table, kept metrics
    only, as a Parquet shard (bytes, with ``meta`` in the schema metadata). Never raises:
    failures are returned as ``status = "failed"`` with the error."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        model = AdoptionModel(scenario, replicate_seed(seed, replicate), create_community_agents=False,
                              collect_agents=False)
        try:
            model.run()
            columns = tidy_columns(model, metrics=metrics)
        finally:
            release(model)
        meta = meta or {}
        ids = {"run_key": meta.get("key", ""), "point": meta.get("point", -1), "replicate": replicate,
               "run": meta.get("run", -1)}
        table = shard_table(columns, ids, meta)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return {"status": "ok", "shard": sink.getvalue().to_pybytes(), "error": "",
                "duration": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    except Exception as exc:  # recorded, the sweep goes on
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
        return {"status": "failed", "shard": None, "error": f"{type(exc).__name__}: {exc}{where}",
                "duration": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def shard_table(columns: dict, ids: dict, meta: dict) -> pa.Table:
    """The Arrow table of one run's shard, straight from the metric arrays
    (:func:`adoptsim.core.metrics.tidy_columns`): the same table, schema and metadata as
    ``to_arrow(frame[SHARD_COLUMNS].assign(**ids)[SHARD_IDS + SHARD_COLUMNS], meta)`` of its
    tidy frame (checked by tests/experiments/test_shards.py), without the frame: the run's
    ids as constant columns, dates as date32, labels as strings with null for '', NaN values
    as null."""
    n = columns["value"].size
    arrays = {
        "run_key": _labels(np.zeros(n, np.int64), [ids["run_key"]]),
        "point": pa.array(np.full(n, ids["point"], dtype=np.int64)),
        "replicate": pa.array(np.full(n, ids["replicate"], dtype=np.int64)),
        "run": pa.array(np.full(n, ids["run"], dtype=np.int64)),
        "step": pa.array(columns["step"].astype(np.int32)),
        "date": pa.array(np.asarray(columns["date"]).astype("datetime64[D]"), type=pa.date32()),
    }
    for col in ("scope", "scope_id", "metric", "key"):
        arrays[col] = _labels(*label_codes(columns[col]))
    arrays["value"] = pa.array(columns["value"], type=pa.float64(), from_pandas=True)  # NaN -> null, as pandas
    fields = []
    for name in [*SHARD_IDS, *SHARD_COLUMNS]:
        text, unit = describe(name)
        fields.append(pa.field(name, arrays[name].type).with_metadata({"description": text, "unit": unit}))
    schema = pa.schema(fields, metadata={b"adoptsim": json.dumps(meta, sort_keys=True, default=str).encode()})
    return pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)


def _labels(codes: np.ndarray, labels: list[str]) -> pa.Array:
    """Strings ``labels[codes]`` with null for ''; all null: an Arrow null column (what the
    frame path gives for a column of Nones)."""
    if all(x == "" for x in labels):  # (every key of a block is used; no scope id is "")
        return pa.nulls(codes.size)
    return pa.array([x if x != "" else None for x in labels], type=pa.string()).take(pa.array(codes))


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
    damaged: int = 0  # truncated or unreadable shards found on resume and run again

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED_RUNS if self.failed else 0


# ---- the sweep folder ----------------------------------------------------------------------

def design_hash(exp: Experiment) -> str:
    """What a resumed sweep must share with the stored one: kept metrics, dates, seed,
    replicates, the resolved base scenario and the design points (computed without resolving
    each point's scenario, so that a large design starts at once)."""
    h = hashlib.sha256()
    h.update(json.dumps({"metrics": exp.spec.metrics, "dates": exp.spec.dates, "seed": exp.spec.seed,
                         "replicates": exp.spec.replicates, "base": exp.base.digest()}, sort_keys=True).encode())
    for p in exp.points:
        h.update((json.dumps(p, sort_keys=True, default=str) + "\n").encode())
    return "v2:" + h.hexdigest()


def legacy_design_hash(exp: Experiment, runs: list[RunSpec]) -> str:
    """The design hash of sweep folders written before planning was lazy (from every run key)."""
    h = hashlib.sha256()
    h.update(json.dumps({"metrics": exp.spec.metrics, "dates": exp.spec.dates}, sort_keys=True).encode())
    for r in runs:
        h.update(f"{r.point}:{r.replicate}:{r.key}\n".encode())
    return h.hexdigest()


def check_sweep_folder(out: Path, resume: bool, digest: str, exp: Experiment | None = None) -> None:
    """An existing non-empty ``out`` needs ``resume`` and must hold the same sweep (a folder of
    an older adoptsim is compared by its :func:`legacy_design_hash`, given ``exp``)."""
    if check_out_dir(out, resume, "pass --resume to continue the sweep stored there"):
        try:
            old = json.loads((out / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError):
            raise AdoptsimError(f"{out}: --resume: not a sweep folder (manifest.json missing or unreadable)") from None
        stored = old.get("design_hash")
        if stored != digest and not (exp is not None and stored == legacy_design_hash(exp, plan_runs(exp))):
            raise AdoptsimError(f"{out}: --resume: this folder holds a different sweep (experiment, scenario, "
                                "seed or metrics changed); choose another --out")


def sweep_manifest(exp: Experiment, digest: str, command: str | None) -> dict:
    """The manifest of a sweep folder, as written when the sweep starts (``status: running``)."""
    return build_manifest(
        "sweep", command=command, status="running", experiment=exp.name, description=exp.spec.description,
        experiment_file=exp.file, scenario_file=str(exp.scenario_file), scenario=exp.base.meta.name,
        scenario_hash=exp.base.digest(), design_hash=digest, seed=exp.spec.seed, replicates=exp.spec.replicates,
        design=exp.spec.design.model_dump(), factors=[f.model_dump(exclude_none=True) for f in exp.spec.factors],
        points=len(exp.points), runs=len(exp.points) * exp.spec.replicates, metrics=exp.spec.metrics,
        dates=exp.spec.dates,
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


def shard_readable(path: Path) -> bool:
    """Whether a stored shard is a complete Parquet file (its footer reads)."""
    try:
        pq.read_metadata(path)
        return True
    except Exception:  # truncated, empty, not Parquet, unreadable
        return False


class _Recorder:
    """Stores each finished run (shard and index line) and counts them on the progress bar."""

    def __init__(self, exp: Experiment, out: Path, bar):
        self.seed, self.shards, self.index = exp.spec.seed, out / "runs", out / "runs.index.jsonl"
        self.bar = bar
        self.ok = self.failed = self.skipped = 0
        self.errors: list[str] = []

    def skip(self, stored: bool) -> None:
        """A run not executed: its shard is ``stored`` already, or its key was met before."""
        self.skipped += stored
        self.bar.update(1)

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


class Planner:
    """The runs to execute, generated lazily in design order: one per key, skipping runs whose
    complete shard is stored (a truncated or unreadable one is removed and run again, counted
    in ``damaged``) and recording invalid points as failed at once; ``runs`` collects every
    (point, replicate) met so far, without its scenario, for the runs table."""

    def __init__(self, exp: Experiment, shards: Path, rec: _Recorder):
        self.exp, self.shards, self.rec = exp, shards, rec
        self.runs: list[RunSpec] = []
        self.seen: set[str] = set()
        self.damaged = 0

    def __iter__(self):
        for i in range(len(self.exp.points)):
            for spec in point_runs(self.exp, i):
                self.runs.append(RunSpec(spec.point, spec.replicate, spec.key, None, spec.error))
                if spec.key in self.seen:
                    self.rec.skip(stored=False)
                    continue
                self.seen.add(spec.key)
                shard = self.shards / f"{spec.key}.parquet"
                if shard.exists():
                    if shard_readable(shard):
                        self.rec.skip(stored=True)
                        continue
                    shard.unlink(missing_ok=True)
                    self.damaged += 1
                if spec.scenario is None:
                    self.rec.finish(spec, {"status": "failed", "error": spec.error, "duration": 0.0})
                else:
                    yield spec


def worker_died(exc: BaseException) -> bool:
    """Whether a run's failure is its local worker process dying (the pool is then broken)."""
    return isinstance(exc, BrokenProcessPool)


def execute(pool: Workers, todo, exp: Experiment, rec: _Recorder, out: Path) -> None:
    """Submit the runs, a window of a few per worker in flight, recording each as it finishes
    (in point and replicate order among those finished together). Waits are bounded: a broken
    local pool is replaced and its runs retried (at most ``MAX_ATTEMPTS`` starts each), a lost
    Dask scheduler raises :class:`SchedulerLost`. ``todo`` is an iterable of the runs (a lazy
    :class:`Planner`): it is consumed only as runs are dispatched."""
    metrics = tuple(exp.spec.metrics)
    window = max(2, 2 * pool.n)
    fresh = iter(todo)
    queue: list[RunSpec] = []  # runs to start again (their worker died)
    attempts: dict[str, int] = {}
    pending: dict[Future, RunSpec] = {}

    def fill() -> bool:
        """Submit runs up to the window; False when the pool turned out broken."""
        while len(pending) < window:
            spec = queue.pop() if queue else next(fresh, None)
            if spec is None:
                return True
            meta = {"key": spec.key, "point": spec.point, "replicate": spec.replicate, "seed": exp.spec.seed,
                    "run": spec.point * exp.spec.replicates + spec.replicate}
            try:
                fut = pool.submit(run_task, spec.scenario, exp.spec.seed, spec.replicate, metrics, meta)
            except BrokenProcessPool:  # a worker died since the last wait
                queue.append(spec)
                return False
            attempts[spec.key] = attempts.get(spec.key, 0) + 1
            pending[fut] = spec
        return True

    def settle(fut: Future, spec: RunSpec) -> bool:
        """Record a finished run; False when its worker died and it is queued again."""
        if fut.cancelled():  # Dask cancels every task when its client loses the scheduler
            pool.check(str(out), cancelled=True)
        exc = fut.exception() if fut.done() else BrokenProcessPool("the pool was replaced")
        if exc is not None and worker_died(exc) and attempts[spec.key] < MAX_ATTEMPTS:
            queue.append(spec)
            return False
        if exc is None:
            res = fut.result()
        else:  # the worker died too often, or Dask lost the task
            why = "worker process died (killed or out of memory)" if worker_died(exc) else type(exc).__name__
            res = {"status": "failed", "shard": None, "error": f"{why}: {exc}", "duration": 0.0}
        rec.finish(spec, res)
        return True

    restarts = 0  # pools replaced since a run last finished

    def restart() -> None:
        """A worker died: every run in flight on the broken pool starts again on a new one."""
        nonlocal restarts
        restarts += 1
        if restarts > 2 * MAX_ATTEMPTS:
            raise AdoptsimError("worker processes keep dying before any run finishes (out of memory?); "
                                f"finished runs are stored in {out}; continue with --out {out} --resume")
        for f in list(pending):
            settle(f, pending.pop(f))
        pool.renew()

    while True:
        if not fill():
            restart()
            continue
        if not pending:
            return
        done, _ = wait(list(pending), timeout=1.0, return_when=FIRST_COMPLETED)
        if not done:
            pool.check(str(out))
            continue
        ordered = sorted(done, key=lambda f: (pending[f].point, pending[f].replicate))
        if all([settle(f, pending.pop(f)) for f in ordered]):
            restarts = 0
        else:
            restart()


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
              resume: bool = False, progress=None, command: str | None = None,
              budget: Budget | None = None) -> SweepReport:
    """Run (or resume) an experiment into the sweep folder ``out``; see the module docstring.
    The job's runs and memory are checked against ``budget`` (docs/cli.md) before planning.
    An interrupt (KeyboardInterrupt) stops the workers within seconds and re-raises: the
    finished runs are stored and ``resume=True`` continues."""
    out = Path(out)
    if workers is not None and workers < 1:
        raise AdoptsimError(f"--workers: expected a whole number >= 1, got {workers}")
    n_runs = len(exp.points) * exp.spec.replicates
    local = 1 if scheduler else max(1, min(workers or os.cpu_count() or 1, n_runs))
    estimate = estimate_sweep(f"{exp.file}: {len(exp.points)} point(s) x {exp.spec.replicates} replicate(s)",
                              exp.base, n_runs, local, exp.spec.metrics)
    check_budget(estimate, budget)
    digest = design_hash(exp)
    check_sweep_folder(out, resume, digest, exp)
    check_writable(out, estimate.disk if not resume else 1 << 20)
    client, n_dask = connect_dask(scheduler) if scheduler else (None, 1)  # before anything is written
    with out_lock(out):
        check_sweep_folder(out, resume, digest, exp)  # again: another writer may have finished meanwhile
        shards = out / "runs"
        shards.mkdir(parents=True, exist_ok=True)
        for stale in shards.glob(".*.tmp"):  # writes cut short by a kill
            stale.unlink(missing_ok=True)
        t_start = time.perf_counter()
        manifest = sweep_manifest(exp, digest, command)
        start_folder(out, exp, manifest)
        pool = Workers(workers, n_runs, scheduler, client, n_dask)
        if callable(progress):  # a factory (total, desc, unit, initial) -> bar: the CLI's log lines off a terminal
            bar = progress(n_runs, exp.name, "run", 0)
        else:
            show = sys.stderr.isatty() if progress is None else progress
            bar = tqdm(total=n_runs, desc=exp.name, unit="run", disable=not show, dynamic_ncols=True)
        rec = _Recorder(exp, out, bar)
        plan = Planner(exp, shards, rec)
        try:
            execute(pool, plan, exp, rec, out)
        except BaseException:
            with signals_ignored():
                pool.close(cancel=True)
                bar.close()
            raise
        pool.close(cancel=False)
        bar.close()
        report = finish_folder(exp, out, plan.runs, manifest, pool.kind, t_start, rec.skipped, rec.errors)
        report.damaged = plan.damaged
        return report
