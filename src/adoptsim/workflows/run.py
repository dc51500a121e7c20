"""``adoptsim run``: simulate a scenario — over the members of its ensemble when it names one —
summarise it, write a results folder and its figures (docs/outputs.md, docs/experiments.md
"Ensembles").

Runs are spread over the sweep executors (:mod:`adoptsim.experiments.executors`: the calling
process, a local process pool, a Dask cluster); each run's numbers depend only on its scenario
and seed (:mod:`adoptsim.experiments.ensemble`), and the tables are assembled in (member,
replicate) order, so the results are the same whatever the number of workers.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager

from ..analysis.bands import inner_band, summarise_run
from ..core.schema import parse_scenario
from ..errors import AdoptsimError
from ..experiments.budget import Budget, check_budget, estimate_run
from ..experiments.ensemble import (DEFAULT_MEMBERS, DEFAULT_REPLICATES, DEFAULT_REPLICATES_ENSEMBLE, EnsemblePlan,
                                    concat_results, plan_ensemble, run_member)
from ..experiments.executors import Workers, connect_dask, signals_ignored
from ..io.atomic import check_out_dir, check_writable, out_lock, prepare_out_dir, publish_dir
from ..io.manifest import run_manifest
from ..io.posterior import Posterior, read_posterior
from ..io.run_folder import check_format, write_run
from ..io.tables import write_table
from ..io.scenario_files import load_raw


@dataclass
class RunReport:
    """What ``adoptsim run`` did: scenario name, replicates, months, seconds, the folder, and
    the members of its ensemble (1 without)."""

    name: str
    replicates: int
    months: int
    elapsed: float
    out: Path
    members: int = 1
    ensemble: str | None = None
    note: str = ""


def choose_posterior(scenario, scenario_file, ensemble: str | None) -> Posterior | None:
    """The posterior a run uses: ``ensemble`` (``--ensemble FILE``; ``"none"``: no ensemble)
    or else the scenario's ``[meta] ensemble``; checked (:func:`adoptsim.io.posterior.read_posterior`)."""
    if ensemble is not None:
        if str(ensemble).strip().lower() == "none":
            return None
        return read_posterior(ensemble, "--ensemble", "")
    declared = scenario.meta.ensemble
    if declared is None or declared == "none":
        return None
    return read_posterior(declared, str(scenario_file))


def plan_run(scenario_file: str | Path, seed: int | None = None, replicates: int | None = None,
             ensemble: str | None = None, members: int | None = None):
    """What a run of a scenario file runs: ``(scenario, seed, replicates, plan)`` with the
    defaults filled (module docstring of :mod:`adoptsim.experiments.ensemble`); ``plan`` is None
    without an ensemble. Bad options and files raise :class:`AdoptsimError` (one line)."""
    raw = load_raw(scenario_file)
    scenario = parse_scenario(raw, str(scenario_file))
    if replicates is not None and replicates < 1:
        raise AdoptsimError(f"--replicates: expected a whole number >= 1, got {replicates}")
    if members is not None and members < 1:
        raise AdoptsimError(f"--members: expected a whole number >= 1, got {members}")
    if seed is not None and seed < 0:
        raise AdoptsimError(f"--seed: expected a whole number >= 0, got {seed}")
    seed = scenario.meta.seed if seed is None else seed
    posterior = choose_posterior(scenario, scenario_file, ensemble)
    plan = None
    if posterior is None:
        if members is not None:
            raise AdoptsimError(f"--members: {scenario_file} runs no ensemble (no [meta] ensemble, or "
                                "--ensemble none); give --ensemble FILE or leave --members out")
        replicates = DEFAULT_REPLICATES if replicates is None else replicates
    else:
        replicates = DEFAULT_REPLICATES_ENSEMBLE if replicates is None else replicates
        k = min(DEFAULT_MEMBERS, posterior.size) if members is None else members
        where = "" if ensemble is not None else "meta.ensemble"
        plan = plan_ensemble(scenario, raw, posterior, k, seed, "--ensemble" if ensemble is not None
                             else str(scenario_file), where)
    return scenario, seed, replicates, plan


def simulate_file(scenario_file: str | Path, seed: int | None = None, replicates: int | None = None,
                  ensemble: str | None = None, members: int | None = None, workers: int | None = None):
    """The tidy table of a run of a scenario file — over its ensemble when it names one — without
    writing anything: ``(frame, plan)`` (``plan`` None without an ensemble). Same defaults and
    numbers as ``adoptsim run`` (:func:`run_scenario`)."""
    scenario, seed, replicates, plan = plan_run(scenario_file, seed, replicates, ensemble, members)
    n_runs = (plan.members if plan else 1) * replicates
    if workers is None:
        workers = default_workers(scenario, n_runs, plan)
    pool = Workers(max(1, min(workers, n_runs)), n_runs)
    try:
        frame = _run_all(scenario, seed, replicates, plan, pool, None)
    except BaseException:
        with signals_ignored():
            pool.close(cancel=True)
        raise
    pool.close(cancel=False)
    return frame, plan


#: Community-months of a point run's replicates (communities x months x replicates) above which
#: they are spread over every core by default: about 4 s of simulation in one process, more than
#: starting worker processes costs (~1-2 s: each imports adoptsim and its libraries). Below it
#: (the baseline's 10 replicates: 1.3 million) they run one after another in this process.
POOL_MIN_COMMUNITY_MONTHS = 5_000_000


def default_workers(scenario, n_runs: int, plan: EnsemblePlan | None) -> int:
    """Worker processes of a run without ``--workers``: every core with an ensemble, or for a
    point run whose replicates are worth a pool (:data:`POOL_MIN_COMMUNITY_MONTHS`); else 1."""
    from ..experiments.budget import communities

    work = communities(scenario) * scenario.meta.months * n_runs
    if n_runs > 1 and (plan is not None or work >= POOL_MIN_COMMUNITY_MONTHS):
        return os.cpu_count() or 1
    return 1


def run_scenario(scenario_file: str | Path, seed: int | None = None, replicates: int | None = None,
                 out: Path | None = None, overwrite: bool = False, fmt: str = "parquet", plots: bool = True,
                 progress: Callable[[int, str], ContextManager] | None = None,
                 on_stage: Callable[[str], None] | None = None, budget: Budget | None = None,
                 ensemble: str | None = None, members: int | None = None, workers: int | None = None,
                 scheduler: str | None = None) -> RunReport:
    """Run a scenario file (seed: ``seed`` or the scenario's ``[meta] seed``) and publish the
    results folder ``out`` (default ``results/<scenario>``, or ``-2``, ``-3``... if it exists)
    with its figures unless ``plots`` is false.

    With an ensemble (``ensemble`` = a posterior file, else the scenario's ``[meta] ensemble``;
    ``"none"`` runs the point scenario): ``members`` members (default: all, up to
    :data:`~adoptsim.experiments.ensemble.DEFAULT_MEMBERS`) x ``replicates`` (default 2) runs;
    without: ``replicates`` (default 10). Runs go to ``workers`` local processes (default: every
    core with an ensemble, the calling process without) or the Dask cluster at ``scheduler``.
    ``progress(total, description)`` may return a progress bar (a context manager with
    ``update(n)``) counting months; ``on_stage(text)`` hears of the stages after the simulation
    (writing, drawing). ``budget`` caps the estimated memory and runs (default: the machine's
    available memory, :data:`~adoptsim.experiments.budget.MAX_RUNS` runs)."""
    scenario, seed, replicates, plan = plan_run(scenario_file, seed, replicates, ensemble, members)
    if workers is not None and workers < 1:
        raise AdoptsimError(f"--workers: expected a whole number >= 1, got {workers}")
    n_members = plan.members if plan else 1
    n_runs = n_members * replicates
    if workers is None and not scheduler:
        workers = default_workers(scenario, n_runs, plan)
    local = 1 if scheduler else max(1, min(workers or 1, n_runs))
    out = prepare_out_dir(out, Path("results") / Path(scenario_file).stem, overwrite)
    estimate = estimate_run(scenario, replicates, n_members, local)
    check_budget(estimate, budget or Budget())
    check_writable(out, estimate.disk)
    client, n_dask = connect_dask(scheduler) if scheduler else (None, 1)
    with out_lock(out):  # a second writer of this folder fails now, before simulating
        check_out_dir(out, overwrite, "pass --overwrite to replace it")
        return _simulate_and_publish(scenario, scenario_file, seed, replicates, plan, out, fmt, plots, progress,
                                     on_stage, Workers(local, n_runs, scheduler, client, n_dask))


def _run_all(scenario, seed: int, replicates: int, plan: EnsemblePlan | None, pool: Workers, bar,
             metrics: tuple[str, ...] | None = None):
    """Every (member, replicate) run on ``pool``, a few per worker in flight; the tables in
    (member, replicate) order."""
    if plan is None:
        tasks = [(scenario, seed, 0, r, False, metrics) for r in range(replicates)]
    else:
        tasks = [(plan.scenarios[m], seed, k, r, True, metrics) for k, m in enumerate(plan.draws)
                 for r in range(replicates)]
    results: dict[int, object] = {}
    pending: dict = {}
    window = max(2, 2 * pool.n)
    nxt = 0
    while nxt < len(tasks) or pending:
        while nxt < len(tasks) and len(pending) < window:
            pending[pool.submit(run_member, *tasks[nxt])] = nxt
            nxt += 1
        done, _ = wait(list(pending), timeout=1.0, return_when=FIRST_COMPLETED)
        if not done:
            pool.check("the results folder (nothing is written)")
            continue
        for fut in done:
            i = pending.pop(fut)
            exc = fut.exception()
            if exc is not None:
                if isinstance(exc, BrokenProcessPool):
                    raise AdoptsimError("a worker process died (killed or out of memory); nothing was written; "
                                        "run again, with fewer --workers") from None
                raise exc
            results[i] = fut.result()
            if bar is not None:
                bar.update(scenario.meta.months)
    return concat_results([results[i] for i in range(len(tasks))])


def _simulate_and_publish(scenario, scenario_file, seed: int, replicates: int, plan: EnsemblePlan | None, out: Path,
                          fmt: str, plots: bool, progress, on_stage, pool: Workers) -> RunReport:
    t0 = time.perf_counter()
    n_runs = (plan.members if plan else 1) * replicates
    bar_cm = progress(scenario.meta.months * n_runs, scenario.meta.name) if progress else nullcontext()
    with bar_cm as bar:
        try:
            frame = _run_all(scenario, seed, replicates, plan, pool, bar)
        except BaseException:
            with signals_ignored():
                pool.close(cancel=True)
            raise
        pool.close(cancel=False)
    meta = run_manifest(scenario, str(scenario_file), seed, replicates, fmt, time.perf_counter() - t0,
                        ensemble=ensemble_record(plan), executor=pool.kind)
    done: dict = {}

    def build(tmp: Path) -> None:
        if on_stage:
            on_stage(f"writing tables{' and drawing figures' if plots else ''} of {scenario.meta.name}")
        check_format(fmt)
        # the time series (tens of millions of rows with an ensemble) is written in a thread while
        # this one summarises, writes the rest and draws: Arrow and Parquet release the GIL
        with ThreadPoolExecutor(1, thread_name_prefix="adoptsim-timeseries") as ex:
            series = ex.submit(write_table, frame, tmp / "timeseries", fmt)
            try:
                members_table = plan.members_table() if plan else None
                summary = summarise_run(frame)
                done["note"] = closing_note(frame, summary, plan is not None)
                write_run(tmp, frame, summary, scenario, meta, fmt, members_table, timeseries=False)
                if plots:
                    from ..viz.run_figures import draw_run_plots  # matplotlib only when drawing
                    draw_run_plots(frame, meta, tmp / "plots")
            finally:
                wait([series])
            series.result()

    publish_dir(build, out)
    return RunReport(scenario.meta.name, replicates, scenario.meta.months, meta["elapsed_seconds"], out,
                     plan.members if plan else 1, str(plan.posterior.path) if plan else None, done["note"])


def closing_note(frame, summary, ensemble: bool, min_share: float = 0.05) -> str:
    """The headline bands said when a run ends: the world's share by origin at the final month,
    median and 10–90% band of every origin above ``min_share``; with an ensemble also the band
    replicate noise alone gives (:func:`adoptsim.analysis.bands.inner_band`) — how much wider
    the parameter uncertainty makes it."""
    import pandas as pd

    s = summary[(summary["metric"] == "share_origin") & (summary["scope"] == "world")]
    if s.empty:
        return ""
    last = s[s["date"] == s["date"].max()].sort_values(["q50", "key"], ascending=[False, True])
    last = last[last["q50"] >= min_share]
    when = pd.Timestamp(last["date"].iloc[0]) if len(last) else None
    inner = None
    if ensemble and frame["replicate"].nunique() > 1:
        inner = inner_band(frame[(frame["metric"] == "share_origin") & (frame["scope"] == "world")], "world",
                           "world", "share_origin")
        inner = inner[pd.to_datetime(inner["date"]) == when].set_index("key")
    parts = []
    for row in last.itertuples(index=False):
        text = f"{row.key} {row.q50:.1%} (10-90%: {row.q10:.1%}-{row.q90:.1%}"
        if inner is not None and row.key in inner.index:
            i = inner.loc[row.key]
            text += f"; replicate noise alone {i['q10']:.1%}-{i['q90']:.1%}"
        parts.append(text + ")")
    if not parts:
        return ""
    return f"{when:%Y-%m} world share by origin: " + ", ".join(parts)


def ensemble_record(plan: EnsemblePlan | None) -> dict | None:
    """The manifest's ``ensemble`` entry: file, SHA-256, size, members drawn (posterior rows, in
    draw order), the paths members set and those the scenario kept, the seed rule."""
    if plan is None:
        return None
    post = plan.posterior
    return {"file": os.path.abspath(post.path), "sha256": post.sha256, "posterior_members": post.size,
            "members": plan.members, "draws": plan.draws, "applied": plan.applied, "kept": plan.kept,
            "method": post.meta.get("method"), "calibrated_scenario": post.meta.get("scenario"),
            "resampling": "systematic on the weights, offset from SeedSequence(seed, spawn_key=(ENSEMBLE_SPAWN,))",
            "seeds": "run (member k, replicate r): SeedSequence(seed, spawn_key=(k, r))"}
