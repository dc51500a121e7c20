"""Errors that carry a message fit for a user: file, field, what was expected."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


class AdoptsimError(Exception):
    """An error caused by the user's input. The CLI prints it and exits with code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file: `file: field: message`."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


class InputError(AdoptsimError):
    """One or more problems in an input file."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def suggest(word: str, pool, n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The entries of ``pool`` closest to ``word`` (difflib ratio at least ``cutoff``), best first."""
    return difflib.get_close_matches(str(word), [str(p) for p in pool], n=n, cutoff=cutoff)


def did_you_mean(word: str, pool, cutoff: float = 0.6, list_all: bool = True) -> str:
    """The hint appended to an "unknown X" message: ``"; did you mean 'x'?"`` when a close match
    exists, else ``"; expected one of: a, b, c"`` (when ``list_all`` and the pool is not empty),
    else ``""``. The one did-you-mean of adoptsim: every message that names an unknown word uses it."""
    close = suggest(word, pool, 1, cutoff)
    if close:
        return f"; did you mean {close[0]!r}?"
    pool = [str(p) for p in pool]
    return f"; expected one of: {', '.join(pool)}" if list_all and pool else ""
