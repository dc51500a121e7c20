"""Parameter sweeps: experiment files, designs, factor paths, seeds, executors, resume, summary.

An **experiment file** (DESIGN §2) names a base scenario, a design over factors and how many
replicates to run of every design point::

    description = "Export-control severity x weight of trust"
    scenario = "../scenarios/baseline.toml"   # relative to this file
    replicates = 10
    seed = 2025
    metrics = ["adoption", "share_origin"]     # metrics kept in every run's shard
    dates = ["2027-12"]                        # summary dates besides each run's final month
    [design]
    method = "grid"                            # grid | list | lhs | sobol | oat
    samples = 64                               # lhs and sobol only
    [[factors]]
    path = "policies.chip_ban.chip_access"     # any scalar field of the resolved scenario
    values = [0.1, 0.5, 0.9]                   # or range = [lo, hi] (lhs, sobol)

Designs: ``grid`` is the cartesian product of the factors' ``values`` (first factor varies
slowest); ``list`` zips them (equal lengths); ``lhs`` and ``sobol`` draw ``samples`` points in
the unit hypercube with :class:`scipy.stats.qmc.LatinHypercube` / :class:`~scipy.stats.qmc.Sobol`
(scrambled, seeded from the experiment seed) and map them onto each factor's ``range`` (linear;
rounded for whole-number fields) or onto its ``values`` (equal-probability bins).
``oat`` (one at a time) is the central point plus each factor alone at its low and high value
(see :func:`adoptsim.sensitivity.oat_points`).

**Factor paths** name a field of the resolved scenario: ``adoption.p``, ``choice.trust``,
``network.degree``, ``sectors.government.trust``, ``nations.BR.optimism``,
``nations.BR.trust.CN``, ``vendors.deepseek.price``, ``policies.<name>.<parameter>``. A design
point is applied to the merged raw scenario (``extends`` resolved) and the result is validated
by the scenario schema, so an override gets exactly the checks a scenario file gets.

**Seeds and run keys**: replicate r of *every* design point uses
:func:`adoptsim.model.replicate_seed` (seed, r) — common random numbers across points, so a
difference between points is the factors' effect, not noise. A run's key is the SHA-256 of the
resolved scenario's digest, the seed and the replicate: identical scenarios share a key and
are run once.

**Execution** goes through one :mod:`concurrent.futures` interface: a process pool (default:
every core), the parent process itself (``workers=1``), or a Dask cluster
(``scheduler="tcp://host:8786"``; tasks submitted with ``pure=False``). At most a few tasks per
worker are in flight; each finished run is written at once as ``runs/<key>.parquet`` (atomic
rename) and recorded in ``runs.index.jsonl``, so nothing holds every run's time series, and a
killed sweep loses only the runs in flight: ``resume=True`` skips every run whose shard exists.

Outputs (sorted deterministically, so they are bit-identical whatever the executor and number
of workers): ``runs.parquet`` (one row per point and replicate), ``endpoints.parquet`` (every
run's values at the summary dates), ``summary.parquet`` (per point, metric, scope, scope_id,
key and date: n, mean, q10, q50, q90 across replicates), ``manifest.json``,
``experiment.toml`` and ``scenario.resolved.toml`` (the base scenario).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import math
import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import AdoptsimError, InputError, Problem
from .results import atomic_write_bytes, check_out_dir
from .metrics import METRICS
from .months import YearMonth, format_month, parse_month
from .policies import REGISTRY
from .scenario import Nation, Scenario, Sector, Vendor, indexed_problems, load_raw, parse_scenario, read_toml

METHODS = ("grid", "list", "lhs", "sobol", "oat")
DEFAULT_METRICS = ("adoption", "share_license", "share_origin", "share_vendor")
Scalar = bool | int | float | str
EXIT_FAILED_RUNS = 3  # the sweep finished but some runs failed
SHARD_COLUMNS = ["step", "date", "scope", "scope_id", "metric", "key", "value"]
GROUP = ["point", "metric", "scope", "scope_id", "key", "date"]


# ---- experiment schema -------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Factor(_Strict):
    path: str = Field(min_length=1)
    values: list[Scalar] | None = Field(default=None, min_length=1)
    range: list[float] | None = Field(default=None, min_length=2, max_length=2)

    @field_validator("range")
    @classmethod
    def _order(cls, v):
        if v is not None and not (math.isfinite(v[0]) and math.isfinite(v[1]) and v[0] < v[1]):
            raise ValueError(f"expected [lo, hi] with finite lo < hi, got {list(v)}")
        return v


class Design(_Strict):
    method: Literal["grid", "list", "lhs", "sobol", "oat"] = "grid"
    samples: Annotated[int, Field(ge=1, le=10_000_000)] | None = None


class ExperimentSpec(_Strict):
    description: str = ""
    scenario: str = Field(min_length=1)
    replicates: Annotated[int, Field(ge=1, le=100_000)] = 10
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), min_length=1)
    dates: list[YearMonth] = Field(default_factory=list)
    design: Design = Field(default_factory=Design)
    factors: list[Factor] = Field(default_factory=list)



# ---- factor paths ------------------------------------------------------------------------

_TABLES = ("adoption", "choice", "network", "communities", "dynamics")
_FIXED = {"id", "name", "type", "remove", "description"}


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (bool, int, float, str)) or v is None


def _field_names(model: type[BaseModel]) -> list[str]:
    out = []
    for name, f in model.model_fields.items():
        ann = str(f.annotation)
        if name in _FIXED or "list" in ann or "dict" in ann:
            continue
        out.append(name)
    return out


def valid_paths(scenario: Scenario) -> dict[str, tuple]:
    """Every factor path of a resolved scenario -> its locator in the raw scenario data.

    A locator is ``(table, key)`` for ``[table]`` fields, ``("sectors", name, key)``,
    ``(list, id, key)`` or ``(list, id, key, origin)`` for nations, vendors and policies."""
    paths: dict[str, tuple] = {"meta.months": ("meta", "months"), "meta.start": ("meta", "start")}
    d = scenario.to_dict()
    for table in _TABLES:
        for k in d[table]:
            paths[f"{table}.{k}"] = (table, k)
    for sec in d["sectors"]:
        for k in _field_names(Sector):
            paths[f"sectors.{sec}.{k}"] = ("sectors", sec, k)
    origins = [n.id for n in scenario.nations]
    for n in scenario.nations:
        for k in _field_names(Nation):
            paths[f"nations.{n.id}.{k}"] = ("nations", n.id, k)
        for table in ("trust", "infrastructure"):
            for o in origins:
                paths[f"nations.{n.id}.{table}.{o}"] = ("nations", n.id, table, o)
    for v in scenario.vendors:
        for k in _field_names(Vendor):
            paths[f"vendors.{v.id}.{k}"] = ("vendors", v.id, k)
    for p in scenario.policies:
        for k in _field_names(REGISTRY[p.type]):
            paths[f"policies.{p.name}.{k}"] = ("policies", p.name, k)
    return paths


def current_value(scenario: Scenario, loc: tuple) -> Any:
    """The resolved value at a locator (None when unset)."""
    d = scenario.to_dict()
    if loc[0] in ("nations", "vendors", "policies"):
        key = "name" if loc[0] == "policies" else "id"
        node = next(e for e in d[loc[0]] if e[key] == loc[1])
        rest = loc[2:]
    else:
        node, rest = d[loc[0]], loc[1:]
    for k in rest:
        if not isinstance(node, dict) or k not in node:
            return None
        node = node[k]
    return node


def apply_point(raw: dict, locators: dict[str, tuple], point: dict[str, Any]) -> dict:
    """A deep copy of the raw (merged) scenario data with the point's values set."""
    out = copy.deepcopy(raw)
    for path, value in point.items():
        loc = locators[path]
        if loc[0] in ("nations", "vendors", "policies"):
            key = "name" if loc[0] == "policies" else "id"
            node = next(e for e in out[loc[0]] if isinstance(e, dict) and e.get(key) == loc[1])
            rest = loc[2:]
        else:
            node, rest = out.setdefault(loc[0], {}), loc[1:]
        for k in rest[:-1]:
            node = node.setdefault(k, {})
        node[rest[-1]] = value
    return out


def _nearest(path: str, pool: list[str]) -> str:
    close = difflib.get_close_matches(path, pool, n=5, cutoff=0.5)
    if not close:  # fall back to paths sharing the first component
        head = path.split(".")[0]
        close = [p for p in pool if p.split(".")[0] == head][:5]
    return f"; nearest valid paths: {', '.join(close)}" if close else ""


# ---- experiments -------------------------------------------------------------------------

@dataclass
class Experiment:
    """A loaded and validated experiment."""

    file: str
    spec: ExperimentSpec
    scenario_file: Path
    raw: dict  # merged raw base scenario
    base: Scenario
    locators: dict[str, tuple]
    points: list[dict[str, Any]]  # design points, path -> value, in design order
    text: str = ""

    @property
    def name(self) -> str:
        return Path(self.file).stem

    @property
    def factor_paths(self) -> list[str]:
        return [f.path for f in self.spec.factors]

    def point_scenario(self, i: int) -> Scenario:
        label = f"{self.file} (point {i}: {self.points[i]})"
        return parse_scenario(apply_point(self.raw, self.locators, self.points[i]), label)


def _unit_design(spec: ExperimentSpec) -> np.ndarray:
    """samples x factors points in [0, 1) for lhs/sobol, seeded from the experiment seed."""
    from scipy.stats import qmc

    d, n = len(spec.factors), spec.design.samples
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(2**32 - 1,)))
    if spec.design.method == "lhs":
        engine = qmc.LatinHypercube(d, rng=rng) if _has_rng(qmc.LatinHypercube) else qmc.LatinHypercube(d, seed=rng)
        return engine.random(n)
    engine = qmc.Sobol(d, scramble=True, rng=rng) if _has_rng(qmc.Sobol) else qmc.Sobol(d, scramble=True, seed=rng)
    return engine.random_base2(int(math.log2(n)))


def _has_rng(cls) -> bool:
    import inspect

    return "rng" in inspect.signature(cls).parameters


def _map_unit(u: np.ndarray, f: Factor, integer: bool) -> list:
    if f.values is not None:
        k = len(f.values)
        return [f.values[min(int(x * k), k - 1)] for x in u]
    lo, hi = f.range
    if integer:
        return [int(min(math.floor(lo + x * (hi - lo + 1)), hi)) for x in u]
    return [float(lo + x * (hi - lo)) for x in u]


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate an experiment file; raise one InputError listing every problem."""
    path = Path(path)
    file = str(path)
    data = read_toml(path, file)
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(indexed_problems(exc, file, ExperimentSpec)) from None
    problems: list[Problem] = []
    scen_path = path.parent / spec.scenario
    if not scen_path.exists():
        raise InputError([Problem(file, "scenario", f"file not found: {spec.scenario!r} (looked for {scen_path})")])
    raw = load_raw(scen_path)
    base = parse_scenario(raw, str(scen_path))
    locators = valid_paths(base)

    for i, m in enumerate(spec.metrics):
        if m not in METRICS:
            close = difflib.get_close_matches(m, METRICS, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(METRICS)}"
            problems.append(Problem(file, f"metrics[{i}]", f"unknown metric {m!r}{hint}"))
    first, last = base.start_month, base.end_month
    for i, d in enumerate(spec.dates):
        if not first <= parse_month(d) <= last:
            problems.append(Problem(file, f"dates[{i}]", f"{d} is outside the scenario's horizon "
                                                        f"{format_month(first)}..{format_month(last)}"))
    method = spec.design.method
    seen = set()
    integer: dict[str, bool] = {}
    for i, f in enumerate(spec.factors):
        where = f"factors[{i}]"
        if f.path in seen:
            problems.append(Problem(file, f"{where}.path", f"factor {f.path!r} is given twice"))
        seen.add(f.path)
        if f.path not in locators:
            why = "meta.seed: seeds come from the experiment's 'seed'" if f.path == "meta.seed" else ""
            problems.append(Problem(file, f"{where}.path", f"no scenario field {f.path!r}"
                                    + (f" ({why})" if why else "") + _nearest(f.path, sorted(locators))))
            continue
        if (f.values is None) == (f.range is None):
            problems.append(Problem(file, where, "give exactly one of 'values' or 'range'"))
            continue
        if f.range is not None and method in ("grid", "list"):
            problems.append(Problem(file, f"{where}.range", f"design method {method!r} needs 'values'; "
                                    "'range' is for 'lhs' and 'sobol'"))
            continue
        cur = current_value(base, locators[f.path])
        integer[f.path] = isinstance(cur, int) and not isinstance(cur, bool)
        trial = list(f.values) if f.values is not None else _map_unit(np.array([0.0, 1.0 - 1e-12]), f,
                                                                       integer[f.path])
        for value in trial:  # every value alone must be valid for its field (checks across
            try:            # fields, such as sector shares summing to 1, are made per point)
                parse_scenario(apply_point(raw, locators, {f.path: value}), file)
            except InputError as exc:
                own = [p for p in exc.problems if p.field == f.path or p.field.startswith(f.path + ".")]
                for p in own:
                    problems.append(Problem(file, f"{where}.values" if f.values is not None else f"{where}.range",
                                            f"{f.path} = {value!r}: {p.message}"))
                if own:
                    break
    if method in ("grid", "list"):
        if spec.design.samples is not None:
            problems.append(Problem(file, "design.samples", f"'samples' is for 'lhs' and 'sobol', not {method!r}"))
        if method == "list" and spec.factors:
            lengths = {len(f.values or []) for f in spec.factors}
            if len(lengths) > 1:
                problems.append(Problem(file, "factors", "design 'list' zips the factors' values: they need "
                                        f"equal lengths, got {[len(f.values or []) for f in spec.factors]}"))
    elif method == "oat":  # one factor at a time: see adoptsim.sensitivity.oat_points
        if spec.design.samples is not None:
            problems.append(Problem(file, "design.samples", "'samples' is for 'lhs' and 'sobol', not 'oat'"))
        if not spec.factors:
            problems.append(Problem(file, "factors", "design 'oat' needs at least one [[factors]]"))
        for i, f in enumerate(spec.factors):
            if f.values is not None and len(f.values) != 3:
                problems.append(Problem(file, f"factors[{i}].values", "design 'oat' needs exactly 3 values "
                                        f"[low, central, high] (or a 'range'), got {len(f.values)}"))
    else:
        n = spec.design.samples
        if n is None:
            problems.append(Problem(file, "design.samples", f"design {method!r} needs 'samples' (number of points)"))
        elif method == "sobol" and n & (n - 1):
            lo = 1 << (n.bit_length() - 1)
            problems.append(Problem(file, "design.samples", f"Sobol' points are balanced only for powers of 2: "
                                    f"use {lo} or {lo * 2}, not {n}"))
        if not spec.factors:
            problems.append(Problem(file, "factors", f"design {method!r} needs at least one [[factors]]"))
    if problems:
        raise InputError(problems)

    fs = spec.factors
    if not fs:
        points = [{}]
    elif method == "grid":
        points = [dict(zip([f.path for f in fs], combo)) for combo in itertools.product(*[f.values for f in fs])]
    elif method == "list":
        points = [dict(zip([f.path for f in fs], combo)) for combo in zip(*[f.values for f in fs])]
    elif method == "oat":
        from .sensitivity import oat_points

        points = oat_points(fs, base, locators, integer)
    else:
        u = _unit_design(spec)
        cols = [_map_unit(u[:, j], f, integer[f.path]) for j, f in enumerate(fs)]
        points = [dict(zip([f.path for f in fs], row)) for row in zip(*cols)]
    return Experiment(file=file, spec=spec, scenario_file=scen_path, raw=raw, base=base, locators=locators,
                      points=points, text=path.read_text(encoding="utf-8"))


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
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .metrics import tidy
        from .model import AdoptionModel, release, replicate_seed

        model = AdoptionModel(scenario, replicate_seed(seed, replicate), create_community_agents=False)
        try:
            model.run()
            frame = tidy(model, replicate=replicate, metrics=metrics)
        finally:
            release(model)
        table = pa.Table.from_pandas(frame[SHARD_COLUMNS], preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               b"adoptsim.run": json.dumps(meta or {}, sort_keys=True).encode()})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return {"status": "ok", "shard": sink.getvalue().to_pybytes(), "error": "",
                "duration": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    except Exception as exc:  # recorded, the sweep goes on
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
        return {"status": "failed", "shard": None, "error": f"{type(exc).__name__}: {exc}{where}",
                "duration": time.perf_counter() - t0, "cpu": time.process_time() - c0}


class InlineExecutor(Executor):
    """Runs each task in the calling process when it is submitted (``--workers 1``)."""

    def submit(self, fn, /, *args, **kwargs):
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # pragma: no cover - run_task does not raise
            fut.set_exception(exc)
        return fut


def _watch_parent(parent: int) -> None:
    """Worker initializer: exit when the sweep process that started this worker dies (say,
    killed with SIGKILL), instead of waiting forever for work as an orphan."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="adoptsim-parent-watch", daemon=True).start()


def _process_pool(workers: int) -> Executor:
    """Local worker processes, started with 'spawn' (direct children of the sweep: no fork of a
    threaded parent, and each one exits when the sweep process dies)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_watch_parent, initargs=(os.getpid(),))


def _dask_executor(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise AdoptsimError("--scheduler: Dask is not installed; install it with "
                            "pip install 'adoptsim[dask]' (or pip install 'dask[distributed]')") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise AdoptsimError(f"--scheduler: cannot connect to the Dask scheduler at {address!r}: {exc}") from None
    n = len(client.scheduler_info().get("workers", {})) or 1
    return client, client.get_executor(pure=False), n


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


def _design_hash(exp: Experiment, runs: list[RunSpec]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"metrics": exp.spec.metrics, "dates": exp.spec.dates}, sort_keys=True).encode())
    for r in runs:
        h.update(f"{r.point}:{r.replicate}:{r.key}\n".encode())
    return h.hexdigest()


def _factor_columns(exp: Experiment) -> dict[str, list]:
    """Design-point factor values, one list per factor (numeric if every value is)."""
    cols = {}
    for path in exp.factor_paths:
        vals = [p[path] for p in exp.points]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            cols[path] = [float(v) for v in vals]
        else:
            cols[path] = [str(v) for v in vals]
    return cols


def _read_index(path: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
            out[rec["key"]] = rec
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut by a kill
    return out


def run_sweep(exp: Experiment, out: Path, workers: int | None = None, scheduler: str | None = None,
              resume: bool = False, progress: bool | None = None, command: str | None = None) -> SweepReport:
    """Run (or resume) an experiment into the sweep folder ``out``; see the module docstring."""
    out = Path(out)
    runs = plan_runs(exp)
    design_hash = _design_hash(exp, runs)
    shards = out / "runs"
    if check_out_dir(out, resume, "pass --resume to continue the sweep stored there"):
        try:
            old = json.loads((out / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError):
            raise AdoptsimError(f"{out}: --resume: not a sweep folder (manifest.json missing or unreadable)") from None
        if old.get("design_hash") != design_hash:
            raise AdoptsimError(f"{out}: --resume: this folder holds a different sweep (experiment, scenario, "
                                "seed or metrics changed); choose another --out")
    if workers is not None and workers < 1:
        raise AdoptsimError(f"--workers: expected a whole number >= 1, got {workers}")
    client = executor = None
    if scheduler:  # connect before anything is written: a bad address leaves no folder behind
        client, executor, n_workers = _dask_executor(scheduler)
    shards.mkdir(parents=True, exist_ok=True)
    for stale in shards.glob(".*.tmp"):  # writes cut short by a kill
        stale.unlink(missing_ok=True)

    from . import results

    t_start = time.perf_counter()
    manifest = {
        "kind": "sweep", "status": "running", "experiment": exp.name, "description": exp.spec.description,
        "experiment_file": exp.file, "scenario_file": str(exp.scenario_file), "scenario": exp.base.meta.name,
        "scenario_hash": exp.base.digest(), "design_hash": design_hash, "seed": exp.spec.seed,
        "replicates": exp.spec.replicates, "design": exp.spec.design.model_dump(), "factors":
        [f.model_dump(exclude_none=True) for f in exp.spec.factors], "points": len(exp.points),
        "runs": len(runs), "metrics": exp.spec.metrics, "dates": exp.spec.dates, "start": exp.base.meta.start,
        "months": exp.base.meta.months,
        "policies": [{"name": p.name, "type": p.type, "start": p.start, "end": p.end} for p in exp.base.policies],
        "command": command or " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "versions": results.versions(),
    }
    if not (out / "manifest.json").exists():
        results.atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        results.atomic_write_text(out / "experiment.toml", exp.text)
        results.atomic_write_text(out / "scenario.resolved.toml", exp.base.to_toml())

    else:  # resuming: keep the original creation time
        manifest["created"] = json.loads((out / "manifest.json").read_text()).get("created", manifest["created"])
        manifest["resumed"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    index_path = out / "runs.index.jsonl"
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
    skipped = len({r.key for r in runs}) - len(queued)

    metrics = tuple(exp.spec.metrics)
    if scheduler:
        kind = f"dask {scheduler}"
    else:
        n_workers = workers or os.cpu_count() or 1
        n_workers = max(1, min(n_workers, len(todo) or 1))
        executor = InlineExecutor() if n_workers == 1 else _process_pool(n_workers)
        kind = "in-process" if n_workers == 1 else f"{n_workers} processes"

    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    total_keys = len({r.key for r in runs})
    bar = tqdm(total=total_keys, initial=skipped, desc=exp.name, unit="run", disable=not show,
               dynamic_ncols=True)
    n_ok = n_fail = 0
    errors: list[str] = []

    def record(rec: dict) -> None:
        with open(index_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
            fh.flush()  # a killed sweep loses at most the line being written

    def finish(spec: RunSpec, res: dict) -> None:
        nonlocal n_ok, n_fail
        meta = {"key": spec.key, "point": spec.point, "replicate": spec.replicate, "seed": exp.spec.seed,
                "status": res["status"], "error": res["error"], "duration": round(res["duration"], 6),
                "cpu": round(res.get("cpu", 0.0), 6)}
        if res["status"] == "ok":
            atomic_write_bytes(shards / f"{spec.key}.parquet", res["shard"])
            n_ok += 1
        else:
            n_fail += 1
            errors.append(f"point {spec.point} replicate {spec.replicate}: {res['error']}")
        record(meta)
        bar.update(1)
        bar.set_postfix(done=n_ok + skipped, failed=n_fail, refresh=False)

    try:
        for r in runs:
            if r.key in failed_now:
                finish(r, {"status": "failed", "error": failed_now.pop(r.key), "duration": 0.0})
        window = max(2, 2 * n_workers)
        it = iter(todo)
        pending: dict[Future, RunSpec] = {}

        def fill() -> None:
            while len(pending) < window:
                spec = next(it, None)
                if spec is None:
                    return
                meta = {"key": spec.key, "point": spec.point, "replicate": spec.replicate, "seed": exp.spec.seed}
                fut = executor.submit(run_task, spec.scenario, exp.spec.seed, spec.replicate, metrics, meta)
                pending[fut] = spec

        fill()
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: (pending[f].point, pending[f].replicate)):
                spec = pending.pop(fut)
                try:
                    res = fut.result()
                except Exception as exc:  # the worker itself died, or Dask lost the task
                    res = {"status": "failed", "shard": None, "error": f"{type(exc).__name__}: {exc}",
                           "duration": 0.0}
                finish(spec, res)
            fill()
    except BaseException:
        _shutdown(executor, client, cancel=True)
        bar.close()
        raise
    _shutdown(executor, client, cancel=False)
    bar.close()

    index = _read_index(index_path)
    runs_frame = _runs_table(exp, runs, index, shards)
    results.write_table(runs_frame, out / "runs", "parquet")
    endpoints = collect_endpoints(exp, runs_frame, shards)
    results.write_table(endpoints, out / "endpoints", "parquet")
    results.write_table(summarise_endpoints(endpoints, exp), out / "summary", "parquet")
    n_failed_total = int((runs_frame["status"] != "ok").sum())
    elapsed = time.perf_counter() - t_start
    manifest.update({"status": "complete", "executor": kind, "elapsed_seconds": round(elapsed, 3),
                     "ok": int((runs_frame["status"] == "ok").sum()), "failed": n_failed_total,
                     "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    results.atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return SweepReport(out=out, runs=len(runs), ok=int((runs_frame["status"] == "ok").sum()),
                       failed=n_failed_total, skipped=skipped, elapsed=elapsed, executor=kind,
                       errors=errors or [f"point {p} replicate {r}: {e}" for p, r, e in runs_frame.loc[
                           runs_frame["status"] != "ok", ["point", "replicate", "error"]].itertuples(index=False)])


def _shutdown(executor: Executor, client, cancel: bool) -> None:
    try:
        if isinstance(executor, InlineExecutor) or client is not None:
            executor.shutdown(wait=not cancel)
        else:
            executor.shutdown(wait=True, cancel_futures=cancel)
    finally:
        if client is not None:
            client.close()


def _runs_table(exp: Experiment, runs: list[RunSpec], index: dict[str, dict], shards: Path) -> pd.DataFrame:
    factors = _factor_columns(exp)
    rows = []
    for r in runs:
        shard = shards / f"{r.key}.parquet"
        rec = index.get(r.key, {})
        if shard.exists():
            status, error = "ok", ""
            ok = rec.get("status") == "ok"  # else the index line was lost in a kill
            duration, cpu = (rec.get("duration"), rec.get("cpu")) if ok else (None, None)
        else:
            status = "failed"
            error = rec.get("error") or r.error or "not run (interrupted)"
            duration, cpu = rec.get("duration"), rec.get("cpu")
        rows.append({"run_key": r.key, "point": r.point, "replicate": r.replicate,
                     **{p: factors[p][r.point] for p in factors}, "seed": exp.spec.seed, "status": status,
                     "error": error, "duration": float("nan") if duration is None else float(duration),
                     "cpu": float("nan") if cpu is None else float(cpu)})
    df = pd.DataFrame(rows, columns=["run_key", "point", "replicate", *factors, "seed", "status", "error",
                                     "duration", "cpu"])
    df["point"] = df["point"].astype(np.int64)
    df["replicate"] = df["replicate"].astype(np.int64)
    df["seed"] = df["seed"].astype(np.int64)
    return df.sort_values(["point", "replicate"], kind="stable").reset_index(drop=True)


def summary_dates(exp: Experiment) -> list[pd.Timestamp]:
    return [pd.Timestamp(d + "-01") for d in exp.spec.dates]


def collect_endpoints(exp: Experiment, runs_frame: pd.DataFrame, shards: Path) -> pd.DataFrame:
    """Every stored run's values at its final month and the experiment's dates, read shard by
    shard (one run's time series in memory at a time)."""
    import pyarrow.parquet as pq

    wanted = summary_dates(exp)
    parts = []
    for point, rep, key in runs_frame.loc[runs_frame["status"] == "ok", ["point", "replicate", "run_key"]] \
            .itertuples(index=False):
        t = pq.read_table(shards / f"{key}.parquet").to_pandas()
        dates = pd.to_datetime(t["date"])
        pick = dates.isin(wanted) | (dates == dates.max())
        sub = t.loc[pick, ["date", "scope", "scope_id", "metric", "key", "value"]].copy()
        sub.insert(0, "replicate", np.int64(rep))
        sub.insert(0, "point", np.int64(point))
        parts.append(sub)
    cols = ["point", "replicate", "date", "scope", "scope_id", "metric", "key", "value"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    df = pd.concat(parts, ignore_index=True)
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ms]")
    for col in ("scope", "scope_id", "metric", "key"):
        df[col] = df[col].astype(str)
    df = df.sort_values(["point", "metric", "scope", "scope_id", "key", "date", "replicate"], kind="stable")
    return df[cols].reset_index(drop=True)


def summarise_endpoints(endpoints: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
    """Per design point, metric, scope, scope_id, key and date: n, mean, q10, q50, q90 across
    replicates, with the point's factor values."""
    factors = _factor_columns(exp)
    cols = ["point", *factors, "metric", "scope", "scope_id", "key", "date", "n", "mean", "q10", "q50", "q90"]
    if endpoints.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    g = endpoints.groupby(GROUP, sort=True)["value"]
    out = g.agg(n="count", mean="mean").reset_index()
    qs = g.quantile([0.1, 0.5, 0.9]).unstack(-1)
    qs.columns = ["q10", "q50", "q90"]
    out = out.merge(qs.reset_index(), on=GROUP, how="left")
    out["n"] = out["n"].astype(np.int64)
    for path, vals in factors.items():
        out[path] = [vals[p] for p in out["point"]]
    out = out.sort_values(GROUP, kind="stable")
    return out[cols].reset_index(drop=True)


# ---- reading sweep folders back ----------------------------------------------------------

@dataclass
class SweepResults:
    path: Path
    manifest: dict
    runs: pd.DataFrame
    summary: pd.DataFrame
    endpoints: pd.DataFrame

    def shard(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(self.path / "runs" / f"{key}.parquet")


def is_sweep_folder(path: str | Path) -> bool:
    try:
        return json.loads((Path(path) / "manifest.json").read_text()).get("kind") == "sweep"
    except (OSError, ValueError):
        return False


def load_sweep(path: str | Path) -> SweepResults:
    path = Path(path)
    try:
        meta = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise AdoptsimError(f"{path}: not a sweep folder: {exc}") from None
    if meta.get("status") != "complete":
        raise AdoptsimError(f"{path}: the sweep stored there did not finish; run 'adoptsim sweep "
                            f"{meta.get('experiment_file', 'EXPERIMENT')} --out {path} --resume' first")
    try:
        return SweepResults(path=path, manifest=meta, runs=pd.read_parquet(path / "runs.parquet"),
                            summary=pd.read_parquet(path / "summary.parquet"),
                            endpoints=pd.read_parquet(path / "endpoints.parquet"))
    except (OSError, ValueError) as exc:
        raise AdoptsimError(f"{path}: cannot read sweep tables: {exc}") from None
