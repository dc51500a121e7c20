"""Calendar months as integers: ``YYYY-MM`` <-> year*12 + month-1."""

from __future__ import annotations

import re
from typing import Annotated

import numpy as np
from pydantic import AfterValidator

_RE = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> int:
    """Return the month index of ``YYYY-MM``; raise ValueError with a clear message otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected a date string 'YYYY-MM', got {type(text).__name__} {text!r}")
    m = _RE.match(text)
    if not m:
        raise ValueError(f"expected a date 'YYYY-MM' (for example '2025-01'), got {text!r}")
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 01..12, got {text!r}")
    if not 1900 <= year <= 2200:
        raise ValueError(f"year must be 1900..2200, got {text!r}")
    return year * 12 + month - 1


def _checked(text: str) -> str:
    parse_month(text)
    return text


#: A ``YYYY-MM`` string field, checked by :func:`parse_month` (use in pydantic models).
YearMonth = Annotated[str, AfterValidator(_checked)]


def format_month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_dates(start: int, n: int) -> np.ndarray:
    """First day of each of ``n`` months from month index ``start``, as datetime64[ms]."""
    idx = np.arange(start, start + n)
    return (np.datetime64("1970-01", "M") + (idx - 1970 * 12)).astype("datetime64[ms]")
