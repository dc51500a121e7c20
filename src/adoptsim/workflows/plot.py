"""``adoptsim plot``: redraw figures from a results folder or a sweep folder, or compare a results
folder with a baseline (``--against``) (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path

from ..errors import AdoptsimError
from ..experiments.endpoints import sweep_key
from ..io.run_folder import load_results
from ..io.sweep_folder import SweepResults, is_sweep_folder, load_sweep
from ..viz.run_figures import FIGURES, adoption_figure, draw_figure, metric_figure
from ..viz.sweep_figures import draw_sweep_plots
from ..viz.style import slug
from .checks import check_metric, check_month, check_scope_ids
from .compare import compare_pair


def plot(results: str | Path, metric: str | None = None, by: str = "world", scope: list[str] | None = None,
         key: str | None = None, figure: str | None = None, date: str | None = None, fmt: str = "png",
         against: str | Path | None = None) -> list[Path]:
    """Draw the figures ``adoptsim plot`` asks for into ``RESULTS/plots``; return their paths.

    A sweep folder gets its sweep figures (:func:`plot_sweep`). A results folder gets, with
    ``against``, the comparison figure against that baseline; with ``figure``, ``date`` or a
    format other than png, the standard figure(s); else the adoption figure, or with ``metric``
    one panel per scope of ``by`` (only the ids in ``scope``)."""
    if is_sweep_folder(results):
        return plot_sweep(results, metric=metric, by=by, scope=scope, key=key, date=date)
    res = load_results(results)
    folder = Path(results) / "plots"
    if against is not None:
        sid = (scope or ["world"])[0] if by != "world" else "world"
        return [compare_pair(against, results, metric or "share_origin", by, sid, fmt, None)]
    if figure is not None or date is not None or fmt != "png":
        names = FIGURES if figure in (None, "all") else (figure,)
        if date is not None:
            check_month(date, res.frame, results)
            names = names if figure is not None else ("heatmap",)
        return [draw_figure(n, res.frame, res.manifest, folder, fmt, date) for n in names]
    if metric is None:
        return [adoption_figure(res.frame, res.manifest, folder / "adoption.png")]
    check_metric(metric)
    check_scope_ids(res.frame, by, scope or [], results)
    name = slug(f"{metric}_{by}" + ("_" + "_".join(scope) if scope else ""))
    return [metric_figure(res.frame, res.manifest, folder / f"{name}.png", metric, by, scope)]


def sweep_outcomes(sw: SweepResults, metric: str, by: str, scope: list[str] | None,
                   key: str | None) -> list[tuple[str, str]]:
    """The ``(scope id, key)`` pairs to draw of a sweep, after checking ``--level``/``--scope``/``--key``."""
    if by == "world":
        ids = ["world"]
    else:
        known = sorted(map(str, sw.endpoints.loc[sw.endpoints["scope"] == by, "scope_id"].unique()))
        if not scope:
            raise AdoptsimError(f"--scope: name the {by}(s) to draw with --level {by} --scope ID; "
                                f"known: {', '.join(known)}")
        for s in scope:
            if s not in known:
                raise AdoptsimError(f"--scope: no {by} {s!r} in {sw.path}; known: {', '.join(known)}")
        ids = list(scope)
    return [(sid, sweep_key(sw.endpoints, metric, by, sid, key)) for sid in ids]


def plot_sweep(folder: str | Path, metric: str | None = None, by: str = "world", scope: list[str] | None = None,
               key: str | None = None, date: str | None = None) -> list[Path]:
    """The standard figures of a sweep folder into ``folder/plots``: the metric (default the
    first one kept; at each run's final month, or at ``date``, one of the experiment's ``dates``)
    against each factor, a heat map over the first two factors, and all runs' curves."""
    sw = load_sweep(folder)
    metrics = sw.manifest.get("metrics", [])
    metric = metric or (metrics[0] if metrics else "adoption")
    if metric not in metrics:
        raise AdoptsimError(f"--metric: the sweep kept only {', '.join(metrics)}; got {metric!r}")
    if date is not None and date not in sw.manifest.get("dates", []):
        raise AdoptsimError(f"--date: the sweep summarised only the final month and "
                            f"{', '.join(sw.manifest.get('dates', [])) or 'no other date'}; got {date!r}")
    outcomes = sweep_outcomes(sw, metric, by, scope, key)
    return draw_sweep_plots(sw, Path(folder) / "plots", metric, by, outcomes, date)
