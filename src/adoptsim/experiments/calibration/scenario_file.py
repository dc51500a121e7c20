"""The calibrated scenario file: a TOML file that ``extends`` the base scenario and sets only
the fitted values, each with a comment giving its interval (docs/experiments.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from ...analysis.bands import quantiles
from ..paths import current_value
from .spec import Calibration


def toml_value(v) -> str:
    """One value written as TOML (the right-hand side of ``key = value``)."""
    return tomli_w.dumps({"x": v}).strip()[4:]


def _prior(cal: Calibration, path: str, i: int) -> str:
    p = next(p for p in cal.parameters if p.path == path)
    return f"{p.range[i]:g}"


#: The resolved copy of the base scenario written beside a calibrated scenario that could not
#: reach its base without ``../`` (``OUT/calibrated.toml``): the folder stays self-contained.
BASE_COPY = "base.resolved.toml"


def base_reference(cal: Calibration, path: Path) -> str:
    """What the calibrated scenario at ``path`` extends: the base scenario by a relative path
    inside its folder tree, else :data:`BASE_COPY` (written beside it)."""
    rel = os.path.relpath(cal.scenario_file.resolve(), Path(path).resolve().parent).replace(os.sep, "/")
    return BASE_COPY if rel.startswith("../") or os.path.isabs(rel) else rel


def _header(cal: Calibration, acc: pd.DataFrame, rule: str, path: Path, n_samples: int, refined: bool) -> list[str]:
    rel = base_reference(cal, path)
    lines = [
        f"# {cal.base.meta.name}, calibrated: written by `adoptsim calibrate {cal.file}`.",
        f"# Method: ABC rejection over a Latin hypercube of {n_samples} parameter samples x "
        f"{cal.spec.replicates} replicate(s) (seed {cal.spec.seed})",
        f"# accepting {len(acc)} samples: {rule}.",
        "# Fitted values: " + ("refined by Nelder-Mead on the distance (common random numbers); "
                               if refined else "the posterior median; ")
        + "the comment gives the 10-90% posterior interval, the prior range and the base value.",
        f"# Fitted to the targets of {cal.targets_file.name} (beside the calibration spec):",
    ]
    for t in cal.targets:
        lines.append(f"#   {t.id} ({t.quantity or t.metric}): {t.value} in [{t.range[0]}, {t.range[1]}]")
    return lines + ["# Everything else comes from the base scenario.", f"extends = {toml_value(rel)}", "",
                    "[meta]", f"name = {toml_value(cal.base.meta.name + '_calibrated')}",
                    "description = " + toml_value(f"{cal.base.meta.name} with {', '.join(cal.paths)} fitted to "
                                                  f"{len(cal.targets)} targets by adoptsim calibrate.")]


def calibrated_toml(cal: Calibration, fitted: dict[str, Any], acc: pd.DataFrame, rule: str, path: Path,
                    n_samples: int, refined: bool) -> str:
    """A scenario file that extends the base scenario and sets the fitted values (with comments)."""
    lines = _header(cal, acc, rule, path, n_samples, refined)
    groups: dict[tuple, list[str]] = {}
    for p in cal.paths:
        loc = cal.locators[p]
        q10, _, q90 = quantiles(acc[p])
        v = fitted[p]
        comment = (f"  # fitted: 10-90% {q10:.4g} .. {q90:.4g}; prior {_prior(cal, p, 0)} .. {_prior(cal, p, 1)}; "
                   f"base {current_value(cal.base, loc)}")
        if loc[0] in ("nations", "vendors", "policies"):
            head = (loc[0], loc[1])
            body = (f"{loc[2]} = {{{loc[3]} = {toml_value(v)}}}" if len(loc) == 4 else f"{loc[2]} = {toml_value(v)}")
        elif loc[0] == "sectors":
            head, body = ("sectors", loc[1]), f"{loc[2]} = {toml_value(v)}"
        else:
            head, body = (loc[0],), f"{loc[1]} = {toml_value(v)}"
        groups.setdefault(head, []).append(body + comment)
    for head, bodies in groups.items():
        lines.append("")
        if head[0] in ("nations", "vendors", "policies"):
            lines.append(f"[[{head[0]}]]")
            lines.append(("name" if head[0] == "policies" else "id") + f" = {toml_value(head[1])}")
        elif head[0] == "sectors":
            lines.append(f"[sectors.{head[1]}]")
        else:
            lines.append(f"[{head[0]}]")
        lines += bodies
    return "\n".join(lines) + "\n"
