"""Errors that carry a message fit for a user: file, field, what was expected."""

from __future__ import annotations

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
