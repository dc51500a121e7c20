"""Checks of command options shared by several workflows: each raises one AdoptsimError that
names the option (``--metric``, ``--scope``, ``--date``...) before anything is drawn or written."""

from __future__ import annotations

import pandas as pd

from ..core.metrics import METRICS
from ..errors import AdoptsimError
from ..months import parse_month


def check_metric(metric: str) -> None:
    """``--metric`` must name a metric of the model."""
    if metric not in METRICS:
        raise AdoptsimError(f"--metric: unknown metric {metric!r}; expected one of: {', '.join(METRICS)}")


def check_month_text(date: str) -> None:
    """``--date`` must be a month ``YYYY-MM``."""
    try:
        parse_month(date)
    except ValueError as exc:
        raise AdoptsimError(f"--date: {exc}") from None


def check_month(date: str, frame: pd.DataFrame, where) -> None:
    """``--date`` must be a month ``YYYY-MM`` of the results ``frame`` (read from ``where``)."""
    check_month_text(date)
    dates = pd.to_datetime(frame["date"])
    if pd.Timestamp(date + "-01") not in set(dates):
        raise AdoptsimError(f"--date: no month {date} in {where} ({dates.min():%Y-%m}..{dates.max():%Y-%m})")


def known_scope_ids(frame: pd.DataFrame, level: str) -> set[str]:
    """The region or nation ids (or ``world``) present at one scope level of a tidy table."""
    return set(map(str, frame.loc[frame["scope"] == level, "scope_id"].unique()))


def check_scope_ids(frame: pd.DataFrame, level: str, ids, where) -> None:
    """Every id of ``--scope`` must be a ``level`` of the results read from ``where``."""
    known = known_scope_ids(frame, level)
    for s in ids:
        if s not in known:
            raise AdoptsimError(f"--scope: no {level} {s!r} in {where}; known: {', '.join(sorted(known))}")


def check_executor(workers: int | None, scheduler: str | None) -> None:
    """Local worker processes or a Dask scheduler, not both."""
    if workers is not None and scheduler:
        raise AdoptsimError("--workers and --scheduler: give one or the other")
