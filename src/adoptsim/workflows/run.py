"""``adoptsim run``: simulate a scenario, summarise it, write a results folder and its figures
(docs/outputs.md)."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager

from ..analysis.bands import summarise_run
from ..core.model import simulate
from ..errors import AdoptsimError
from ..experiments.budget import Budget, check_budget, estimate_run
from ..io.atomic import check_out_dir, check_writable, out_lock, prepare_out_dir, publish_dir
from ..io.manifest import run_manifest
from ..io.run_folder import write_run
from ..io.scenario_files import load_scenario


@dataclass
class RunReport:
    """What ``adoptsim run`` did: scenario name, replicates, months, seconds and the folder."""

    name: str
    replicates: int
    months: int
    elapsed: float
    out: Path


def run_scenario(scenario_file: str | Path, seed: int | None = None, replicates: int = 10,
                 out: Path | None = None, overwrite: bool = False, fmt: str = "parquet", plots: bool = True,
                 progress: Callable[[int, str], ContextManager] | None = None,
                 on_stage: Callable[[str], None] | None = None, budget: Budget | None = None) -> RunReport:
    """Run ``replicates`` replicates of a scenario file (seed: ``seed`` or the scenario's
    ``[meta] seed``) and publish the results folder ``out`` (default ``results/<scenario>``, or
    ``-2``, ``-3``... if it exists) with its figures unless ``plots`` is false. ``progress(total,
    description)`` may return a progress bar (a context manager with ``update(n)``) counting
    months; ``on_stage(text)`` hears of the stages after the simulation (writing, drawing).
    ``budget`` caps the estimated memory and runs (default: the machine's available memory,
    :data:`~adoptsim.experiments.budget.MAX_RUNS` runs)."""
    scenario = load_scenario(scenario_file)
    if replicates < 1:
        raise AdoptsimError(f"--replicates: expected a whole number >= 1, got {replicates}")
    if seed is not None and seed < 0:
        raise AdoptsimError(f"--seed: expected a whole number >= 0, got {seed}")
    seed = scenario.meta.seed if seed is None else seed
    out = prepare_out_dir(out, Path("results") / Path(scenario_file).stem, overwrite)
    estimate = estimate_run(scenario, replicates)
    check_budget(estimate, budget or Budget())
    check_writable(out, estimate.disk)
    with out_lock(out):  # a second writer of this folder fails now, before simulating
        check_out_dir(out, overwrite, "pass --overwrite to replace it")
        return _simulate_and_publish(scenario, scenario_file, seed, replicates, out, fmt, plots, progress,
                                     on_stage)


def _simulate_and_publish(scenario, scenario_file, seed: int, replicates: int, out: Path, fmt: str, plots: bool,
                          progress, on_stage) -> RunReport:
    t0 = time.perf_counter()
    bar_cm = progress(scenario.meta.months * replicates, scenario.meta.name) if progress else nullcontext()
    with bar_cm as bar:
        frame = simulate(scenario, seed=seed, replicates=replicates, progress=bar.update if bar is not None else None)
    meta = run_manifest(scenario, str(scenario_file), seed, replicates, fmt, time.perf_counter() - t0)

    def build(tmp: Path) -> None:
        if on_stage:
            on_stage(f"writing tables{' and drawing figures' if plots else ''} of {scenario.meta.name}")
        write_run(tmp, frame, summarise_run(frame), scenario, meta, fmt)
        if plots:
            from ..viz.run_figures import draw_run_plots  # matplotlib only when drawing
            draw_run_plots(frame, meta, tmp / "plots")

    publish_dir(build, out)
    return RunReport(scenario.meta.name, replicates, scenario.meta.months, meta["elapsed_seconds"], out)
