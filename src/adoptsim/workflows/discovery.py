"""``adoptsim discover``: scenario discovery (PRIM) over a sweep folder's runs — which factor
ranges lead to an outcome (docs/experiments.md). The analysis is
:func:`adoptsim.experiments.discovery.discover`; this writes its folder and figure."""

from __future__ import annotations

from pathlib import Path

from ..analysis.prim import ALPHA, MIN_MASS
from ..errors import AdoptsimError
from ..experiments.discovery import discover
from ..io.atomic import publish_dir
from ..io.manifest import write_manifest
from ..io.tables import FORMATS, write_table
from ..viz.analysis_figures import discovery_figure


def run_discovery(folder: str | Path, out: str | Path, metric: str, scope: str = "world",
                  scope_id: str | None = None, key: str | None = None, date: str | None = None,
                  above: float | None = None, below: float | None = None, alpha: float = ALPHA,
                  min_mass: float = MIN_MASS, min_density: float | None = None, fmt: str = "parquet") -> dict:
    """``adoptsim discover``: PRIM over a sweep folder's runs; writes ``prim_trajectory``,
    ``prim_box`` and ``cases`` tables, ``discovery.png`` and ``manifest.json`` into ``out``
    (atomically). Returns the summary (condition, chosen step, its coverage, density, mass, box)."""
    if fmt not in FORMATS:
        raise AdoptsimError(f"--format: expected parquet or csv, got {fmt!r}")
    res = discover(folder, metric, scope, scope_id, key, date, above, below, alpha, min_mass, min_density)

    def build(tmp: Path) -> None:
        write_table(res.trajectory, tmp / "prim_trajectory", fmt)
        write_table(res.box, tmp / "prim_box", fmt)
        write_table(res.cases, tmp / "cases", fmt)
        discovery_figure(res.trajectory, res.box, res.cases, res.step, tmp / "discovery.png", res.title, res.why)
        write_manifest(tmp, res.manifest)

    publish_dir(build, Path(out))
    return res.summary
