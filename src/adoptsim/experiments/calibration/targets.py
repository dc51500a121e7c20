"""Calibration targets: the target file, each target's simulated value and the distance
(docs/experiments.md).

**Target file** (``calibration/targets.toml`` converts ``shared/data/targets.toml``)::

    [[targets]]
    id = "open_weight_token_share_late_2025"  # unique
    quantity = "open_weight_share_2025_11"    # a column of adoptsim.analysis.targets.target_metrics
    kind = "share"                            # share (a number) | month ("YYYY-MM")
    value = 0.33                              # observed value
    range = [0.25, 0.40]                      # band a calibrated model should land in
    weight = 1.0                              # weight in the distance (default 1)
    use = true                                # false: recorded but not fitted (no model quantity)
    description = "..."; when = "2025-11"; source = "..."; quality = "primary"; note = "..."
    window = ["2025-11", "2025-11"]           # first and last month the observation covers
    view = "openrouter"                       # the view of usage it is read in (documentation)
    added = ""                                # why a target is not in shared/data/targets.toml

A file-level ``calibration_window = "2025-12"`` (before the first ``[[targets]]``) splits the
targets: those whose window ends by that month are for calibration
(:func:`calibration_targets`), later ones are out-of-sample checks (:func:`out_of_sample_targets`).
Without it every target is in the window.

Instead of ``quantity`` a target may name a value of the tidy table: ``metric``, ``scope``
(default ``world``), ``scope_id`` (default: the scope's ``world``), ``key`` (default ``""``) and
``when`` (``YYYY-MM``). Unused targets may carry ``values = {...}`` (a record of the source).

A target's normalised deviation is ``z = (sim − value) / (high − value)`` above the observed
value and ``(value − sim) / (value − low)`` below, so ``|z| ≤ 1`` exactly when the simulated
value lies inside the band; the **distance** of a set of simulated values is
``sqrt(Σ w·z² / Σ w)``. Month targets are compared as decimal years (2025-07 = 2025.5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError

from ...analysis.targets import MONTH_QUANTITIES, QUANTITIES, TARGET_METRICS, target_metrics
from ...core import SCOPES
from ...core.checks import indexed_problems
from ...core.metrics import METRICS, scope_ids
from ...core.schema import Scenario
from ...errors import AdoptsimError, InputError, Problem, did_you_mean
from ...io.scenario_files import read_toml
from ...months import format_month, parse_month
from ..paths import metric_reference_problems
from ..spec import Strict

__all__ = ["MONTH_QUANTITIES", "QUANTITIES", "TARGET_METRICS", "Target", "TargetFile", "calibration_targets",
           "deviation", "distance", "load_target_file", "load_targets", "out_of_sample_targets", "quantity_bands",
           "run_values", "target_numbers"]


class Target(Strict):
    id: str = Field(min_length=1)
    quantity: str | None = None
    metric: str | None = None
    scope: Literal[SCOPES] = "world"
    scope_id: str | None = None
    key: str = ""
    kind: Literal["share", "month"] = "share"
    value: float | str | None = None
    range: list[float] | list[str] | None = Field(default=None, min_length=2, max_length=2)
    values: dict[str, float] | None = None
    weight: Annotated[float, Field(ge=0)] = 1.0
    use: bool = True
    description: str = ""
    when: str = ""
    source: str = ""
    quality: str = ""
    note: str = ""
    window: list[str] | None = Field(default=None, min_length=2, max_length=2)  # [first, last] month observed
    view: str = ""  # the view of usage the target is read in (docs/model.md, "Views")
    added: str = ""  # a target that is not in shared/data/targets.toml: where it comes from

    def window_end(self) -> str:
        """The last month the observation covers (``window``, else ``when``'s last month)."""
        if self.window is not None:
            return self.window[1]
        return self.when.split("..")[-1]


class TargetFile(Strict):
    calibration_window: str | None = None  # "YYYY-MM": observations up to it calibrate, later ones check
    targets: list[Target] = Field(min_length=1)


def month_number(text: str) -> float:
    """A month YYYY-MM as a decimal year (2025-07 -> 2025.5)."""
    return parse_month(text) / 12.0


def month_text(x: float) -> str:
    """A decimal year as its month YYYY-MM (the inverse of :func:`month_number`)."""
    return format_month(int(round(x * 12.0)))


def _check_target(t: Target, where: str, file: str) -> list[Problem]:
    """The problems of one used target: its quantity or metric, value and band."""
    if (t.quantity is None) == (t.metric is None):
        return [Problem(file, where, "give exactly one of 'quantity' (a target_metrics column) or "
                        "'metric' (a value of the tidy table)")]
    if t.quantity is not None and t.quantity not in QUANTITIES:
        return [Problem(file, f"{where}.quantity", f"unknown quantity {t.quantity!r}"
                        + did_you_mean(t.quantity, QUANTITIES, 0.5))]
    problems = []
    if t.metric is not None:
        if t.metric not in METRICS:
            problems.append(Problem(file, f"{where}.metric", f"unknown metric {t.metric!r}"
                                    + did_you_mean(t.metric, METRICS, 0.5)))
        try:
            parse_month(t.when)
        except Exception:
            problems.append(Problem(file, f"{where}.when", f"a metric target needs 'when' = \"YYYY-MM\", "
                                    f"got {t.when!r}"))
    if not np.isfinite(t.weight):
        problems.append(Problem(file, f"{where}.weight", f"expected a finite number >= 0, got {t.weight}"))
    month = t.kind == "month" or t.quantity in MONTH_QUANTITIES
    if t.quantity in MONTH_QUANTITIES and t.kind != "month":
        return problems + [Problem(file, f"{where}.kind", f"quantity {t.quantity!r} is a month: use kind = \"month\"")]
    if t.value is None or t.range is None:
        return problems + [Problem(file, where, "a used target needs 'value' and 'range' (set use = false to keep "
                                   "it only as a record)")]
    try:
        v, lo, hi = ((month_number(t.value), month_number(t.range[0]), month_number(t.range[1])) if month
                     else (float(t.value), float(t.range[0]), float(t.range[1])))
    except Exception:
        want = '"YYYY-MM" months' if month else "numbers"
        return problems + [Problem(file, f"{where}.value", f"value and range must be {want}, got "
                                   f"{t.value!r} and {t.range!r}")]
    if not all(np.isfinite([v, lo, hi])):
        return problems + [Problem(file, f"{where}.value", f"value and range must be finite numbers, got "
                                   f"{t.value!r} and {t.range!r}")]
    if not lo <= v <= hi or lo == hi:
        problems.append(Problem(file, f"{where}.range", f"expected low <= value <= high with low < high, got "
                                f"value {t.value!r}, range {t.range!r}"))
    return problems


def target_reference_problems(targets: list[Target], base: Scenario, file: str) -> list[Problem]:
    """What a target file can be checked against only with its scenario: each used metric
    target's scope id, key and month must exist in the scenario's tables."""
    problems = []
    for i, t in enumerate(targets):
        if not t.use or t.metric is None or t.metric not in METRICS:
            continue
        where = f"targets[{i}]"
        known = scope_ids(base, t.scope)
        sid = t.scope_id or ("world" if t.scope == "world" else None)
        if sid not in known:
            problems.append(Problem(file, f"{where}.scope_id", f"no {t.scope} {t.scope_id!r} in the scenario"
                                    + did_you_mean(str(t.scope_id), known, 0.5)))
        problems += metric_reference_problems(base, t.metric, t.scope, t.key, file, where)
        try:
            if parse_month(t.when) < base.start_month:
                problems.append(Problem(file, f"{where}.when", f"{t.when} is before the scenario's start "
                                        f"{format_month(base.start_month)}"))
        except ValueError:
            pass  # reported by load_targets
    return problems


def load_targets(path: str | Path) -> list[Target]:
    """Load and check a target file (see the module docstring); one InputError for all problems."""
    return load_target_file(path).targets


def calibration_targets(tf: "TargetFile") -> list[Target]:
    """The used targets inside the file's calibration window (all used ones without a window)."""
    used = [t for t in tf.targets if t.use]
    if tf.calibration_window is None:
        return used
    end = parse_month(tf.calibration_window)
    return [t for t in used if parse_month(t.window_end()) <= end]


def out_of_sample_targets(tf: "TargetFile") -> list[Target]:
    """The used targets observed after the calibration window (the out-of-sample checks)."""
    inside = {t.id for t in calibration_targets(tf)}
    return [t for t in tf.targets if t.use and t.id not in inside]


def quantity_bands(targets: list[Target]) -> dict[str, tuple]:
    """``{quantity: (low, high)}`` of the used targets that name a quantity (the bands that
    :func:`adoptsim.analysis.targets.target_check` compares with)."""
    return {t.quantity: tuple(t.range) for t in targets if t.use and t.quantity is not None}


def load_target_file(path: str | Path) -> "TargetFile":
    """Load and check a target file with its file-level fields (``calibration_window``)."""
    path = Path(path)
    file = str(path)
    data = read_toml(path, file)
    try:
        tf = TargetFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(indexed_problems(exc, file, TargetFile)) from None
    problems = []
    seen = set()
    for i, t in enumerate(tf.targets):
        where = f"targets[{i}]"
        if t.id in seen:
            problems.append(Problem(file, f"{where}.id", f"target {t.id!r} is given twice"))
        seen.add(t.id)
        if t.use:
            problems += _check_target(t, where, file)
        for j, m in enumerate(t.window or []):
            try:
                parse_month(m)
            except Exception:
                problems.append(Problem(file, f"{where}.window[{j}]", f"expected a month \"YYYY-MM\", got {m!r}"))
        if t.window is not None and not problems and parse_month(t.window[0]) > parse_month(t.window[1]):
            problems.append(Problem(file, f"{where}.window", f"expected [first, last] with first <= last, got {t.window}"))
    if tf.calibration_window is not None:
        try:
            parse_month(tf.calibration_window)
        except Exception:
            problems.append(Problem(file, "calibration_window", f"expected a month \"YYYY-MM\", got "
                                    f"{tf.calibration_window!r}"))
    if problems:
        raise InputError(problems)
    return tf


def target_numbers(t: Target) -> tuple[float, float, float]:
    """A target's observed value and band ``(value, low, high)``; months as decimal years."""
    if t.kind == "month":
        return month_number(t.value), month_number(t.range[0]), month_number(t.range[1])
    return float(t.value), float(t.range[0]), float(t.range[1])


def deviation(t: Target, sim: np.ndarray | float) -> np.ndarray:
    """Normalised deviation z of simulated values: |z| <= 1 exactly inside the band."""
    v, lo, hi = target_numbers(t)
    sim = np.asarray(sim, dtype=float)
    up = (sim - v) / (hi - v) if hi > v else np.where(sim > v, np.inf, 0.0)
    down = (sim - v) / (v - lo) if v > lo else np.where(sim < v, -np.inf, 0.0)
    return np.where(sim >= v, up, down)


def distances(targets: list[Target], sims: pd.DataFrame) -> np.ndarray:
    """The distance of every row of ``sims`` (one column per target id); a row with a missing or
    non-finite value is infinitely far."""
    z = np.column_stack([deviation(t, sims[t.id].to_numpy(dtype=float)) for t in targets])
    w = np.array([t.weight for t in targets])
    with np.errstate(invalid="ignore"):
        dist = np.sqrt(np.nansum(w * z ** 2, axis=1) / w.sum())
    dist[~np.isfinite(z).all(axis=1)] = np.inf
    return dist


def distance(targets: list[Target], sims: dict[str, float]) -> float:
    """sqrt(Σ w z² / Σ w) over the used targets."""
    w = np.array([t.weight for t in targets])
    z = np.array([float(deviation(t, sims[t.id])) for t in targets])
    nan = [t.id for t, x in zip(targets, z) if np.isnan(x)]
    if nan:
        raise AdoptsimError(f"distance: the simulated value of target(s) {', '.join(map(repr, nan))} is not a "
                            "number (NaN)")
    return float(np.sqrt(np.sum(w * z ** 2) / np.sum(w)))


def require_values(targets: list[Target], values: pd.DataFrame, file: str, what: str) -> None:
    """No NaN result: every target needs a finite simulated value in ``values`` (one column per
    target id), else one AdoptsimError naming the targets and ``what`` was simulated."""
    bad = [t for t in targets if not np.isfinite(pd.to_numeric(values[t.id], errors="coerce")).any()]
    if bad:
        names = ", ".join(f"{t.id!r} ({t.quantity or f'{t.metric} {t.scope} {t.scope_id or t.scope} {t.key!r}'}"
                          f" {t.when})" for t in bad)
        raise AdoptsimError(f"{file}: no finite simulated value for target(s) {names} in {what}; check the "
                            "target's metric, scope, scope_id, key and when")


def run_values(frame: pd.DataFrame, scenario: Scenario, targets: list[Target]) -> pd.DataFrame:
    """Each used target's simulated value per replicate of a tidy frame (columns: replicate and one
    per target id; months as decimal years, never reached = the month after the last)."""
    reps = sorted(int(r) for r in pd.unique(frame["replicate"]))
    out = pd.DataFrame({"replicate": reps})
    if any(t.quantity for t in targets):
        tm = target_metrics(frame, scenario).set_index("replicate").reindex(reps)
    last = pd.Timestamp(pd.to_datetime(frame["date"]).max())
    never = (last.year * 12 + last.month) / 12.0  # decimal year of the month after the last one
    for t in targets:
        if t.quantity is not None:
            col = tm[t.quantity]
            if t.quantity in MONTH_QUANTITIES:
                vals = [never if pd.isna(x) else (x.year * 12 + x.month - 1) / 12.0 for x in col]
            else:
                vals = col.astype(float).tolist()
        else:
            scope_id = t.scope_id or ("world" if t.scope == "world" else "")
            sel = frame[(frame["metric"] == t.metric) & (frame["scope"] == t.scope)]  # first: a small part
            sel = sel[(sel["scope_id"].astype(str) == scope_id) & (sel["key"].astype(str) == t.key)
                      & (pd.to_datetime(sel["date"]) == pd.Timestamp(t.when + "-01"))]
            s = sel.groupby("replicate", observed=True)["value"].sum()
            vals = [float(s.get(r, np.nan)) for r in reps]
        out[t.id] = vals
    return out
