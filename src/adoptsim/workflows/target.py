"""``adoptsim target``: the smallest value of one factor that makes a metric reach a threshold
by a date, found by bisection over sweeps (docs/experiments.md). The search is
:func:`adoptsim.experiments.target.find_target`; this writes its folder and figure."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import AdoptsimError
from ..experiments.target import evaluations_table, find_target, load_target, target_manifest, target_result
from ..io.atomic import atomic_write_text, publish_dir
from ..io.manifest import write_manifest
from ..io.tables import FORMATS, write_table
from ..viz.analysis_figures import target_figure


def run_target(path: str | Path, out: str | Path, workers: int | None = None, scheduler: str | None = None,
               fmt: str = "parquet", progress=None) -> dict:
    """``adoptsim target EXPERIMENT --out DIR``: load the target experiment and bisect; write
    ``target.json``, ``evaluations.<fmt>`` (factor value, replicate, value, with the mean),
    ``target.png``, ``manifest.json`` and the candidates' sweep folders (``evaluations/NN``) into
    ``out``, atomically. Returns the content of ``target.json``."""
    if fmt not in FORMATS:
        raise AdoptsimError(f"--format: expected parquet or csv, got {fmt!r}")
    problem = load_target(path)
    t, exp = problem.target, problem.experiment
    where = "world" if t.scope == "world" else f"{t.scope} {t.scope_id}"
    title = f"{exp.name}: {t.metric}{f'[{t.key}]' if t.key else ''}, {where}, {t.date}"
    result: dict = {}

    def build(tmp: Path) -> None:
        res = find_target(problem, tmp / "evaluations", workers, scheduler, progress)
        result.update(target_result(problem, res))
        write_table(evaluations_table(res), tmp / "evaluations", fmt)
        atomic_write_text(tmp / "target.json", json.dumps(result, indent=2) + "\n")
        target_figure(result, tmp / "target.png", title)
        write_manifest(tmp, target_manifest(problem, res))

    publish_dir(build, Path(out))
    return result
