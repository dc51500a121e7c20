"""Size before allocation: estimate the memory, number of runs and disk space of a job before
it starts, and refuse one that cannot fit (docs/cli.md, "Size caps").

The estimate of one simulation is ``communities × vendors × 8 bytes × WORK_ARRAYS`` (the
choice kernel's arrays) plus the network (``communities × degree × 16`` bytes) plus its tidy
table (``months × scopes × keys`` rows of ``ROW_BYTES``); ``run`` keeps every replicate's table,
a sweep holds one run per worker process (each with ``PROCESS_BYTES`` of interpreter and
libraries). A job is refused (exit 2) when its memory exceeds ``--max-memory`` (default: the
memory the machine has available, at least half its memory) or its runs exceed ``--max-runs``
(default :data:`MAX_RUNS`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from ..core.metrics import METRICS, metric_keys, metric_scopes
from ..core.schema import Scenario
from ..errors import AdoptsimError

#: Default cap on the number of runs of one command (raise it with ``--max-runs``).
MAX_RUNS = 1_000_000
WORK_ARRAYS = 12  # float arrays of communities x vendors alive at once in the choice kernel
ROW_BYTES = 160  # one row of the tidy table in memory, with the copies made while building it
DISK_ROW_BYTES = 12  # one row of a compressed Parquet table on disk
PROCESS_BYTES = 250 * 2**20  # a Python process with numpy, pandas, pyarrow and Mesa loaded

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """A size such as ``40G``, ``512M``, ``1.5T`` or a number of bytes (binary units)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgtKMGT]?)(i?[bB])?\s*", str(text))
    if not m:
        raise AdoptsimError(f"--max-memory: expected a size such as 40G, 512M or 2T, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_size(n: float) -> str:
    """Bytes as ``7.4G``, ``512M``... (binary units, the form ``--max-memory`` takes)."""
    for unit in ("T", "G", "M", "K"):
        if n >= _UNITS[unit.lower()]:
            return f"{n / _UNITS[unit.lower()]:.1f}{unit}"
    return f"{int(n)}B"


def _meminfo() -> dict[str, int]:
    """Linux /proc/meminfo in bytes (empty elsewhere)."""
    info = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                name, _, rest = line.partition(":")
                info[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return info


def available_memory() -> int | None:
    """The default memory cap: the memory available to new work, but never less than half the
    machine's memory (so that the cap of a modest job does not depend on what else runs), or
    None when unknown."""
    info = _meminfo()
    if "MemAvailable" in info:
        return max(info["MemAvailable"], info.get("MemTotal", 0) // 2)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class Budget:
    """The caps of a command: ``max_memory`` bytes (None: the available memory) and ``max_runs``."""

    max_memory: int | None = None
    max_runs: int = MAX_RUNS


@dataclass(frozen=True)
class Estimate:
    """What a job needs: peak ``memory`` bytes, ``runs`` simulations, ``disk`` bytes written."""

    what: str
    memory: int
    runs: int
    disk: int


def communities(scenario: Scenario) -> int:
    return scenario.communities.per_nation * max(1, len(scenario.nations))


def table_rows(scenario: Scenario, metrics=METRICS) -> int:
    """Rows of one replicate's tidy table: scope metrics at every scope, vendor and world
    metrics at world scope, one row per key (:func:`adoptsim.core.metrics.metric_keys`)."""
    scopes = 1 + len({n.region for n in scenario.nations}) + len(scenario.nations)
    per_month = sum(len(metric_keys(scenario, m)) * (scopes if len(metric_scopes(m)) > 1 else 1)
                    for m in metrics if m in METRICS)
    return (scenario.meta.months + 1) * per_month


def run_memory(scenario: Scenario, metrics=METRICS) -> int:
    """Peak bytes of one simulation and its tidy table."""
    n, v = communities(scenario), max(1, len(scenario.vendors))
    kernel = n * v * 8 * WORK_ARRAYS
    network = 0 if scenario.network.kind == "complete" else n * scenario.network.degree * 16
    return kernel + network + table_rows(scenario, metrics) * ROW_BYTES


def estimate_run(scenario: Scenario, replicates: int, members: int = 1, workers: int = 1) -> Estimate:
    """``adoptsim run``: ``members`` x ``replicates`` runs (an ensemble's members, or one member
    without), every tidy table kept by the parent; ``workers`` > 1 worker processes each hold one
    run besides."""
    runs = members * replicates
    rows = table_rows(scenario) * runs
    extra = (workers - 1) * (PROCESS_BYTES + run_memory(scenario)) if workers > 1 else 0
    memory = PROCESS_BYTES + run_memory(scenario) + rows * ROW_BYTES + extra
    what = (f"{scenario.meta.name}: {members} member(s) x {replicates} replicate(s)" if members > 1
            else f"{scenario.meta.name}: {replicates} replicate(s)")
    return Estimate(what, memory, runs, rows * DISK_ROW_BYTES + (1 << 20))


def estimate_sweep(what: str, base: Scenario, runs: int, workers: int, metrics) -> Estimate:
    """A sweep (and the sweeps of sensitivity, target, calibration): ``workers`` processes
    each holding one run, the parent holding the runs and endpoints tables."""
    per_run = run_memory(base, metrics)
    memory = PROCESS_BYTES + workers * (PROCESS_BYTES + per_run) + runs * 2048
    return Estimate(what, memory, runs, runs * (table_rows(base, metrics) * DISK_ROW_BYTES + 512) + (1 << 20))


def check_runs(what: str, runs: int, budget: Budget | None) -> None:
    """Refuse more than ``budget.max_runs`` runs (before any design point is generated)."""
    cap = (budget or Budget()).max_runs
    if runs > cap:
        raise AdoptsimError(f"{what}: {runs} runs, more than the cap of {cap}; raise it with "
                            f"--max-runs {runs} (or make the design smaller)")


def check_budget(est: Estimate, budget: Budget | None) -> None:
    """Refuse a job whose runs exceed the cap or whose memory exceeds ``--max-memory`` (default:
    the available memory): one message with the estimate and the option that raises the cap."""
    budget = budget or Budget()
    check_runs(est.what, est.runs, budget)
    cap, source = budget.max_memory, "--max-memory"
    if cap is None:
        cap, source = available_memory(), "the memory this machine has available"
    if cap is not None and est.memory > cap:
        need = format_size(math.ceil(est.memory * 1.1))
        raise AdoptsimError(f"{est.what}: needs about {format_size(est.memory)} of memory, more than "
                            f"{source} ({format_size(cap)}); make the job smaller (communities, replicates, "
                            f"workers) or raise the cap with --max-memory {need}")
