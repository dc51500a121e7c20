"""Prior files: the ranges of a scenario's assumed parameters (docs/calibration.md, "Priors").

A **prior file** (``calibration/priors.toml``) lists every assumed parameter that can move an
outcome, each with a uniform prior on a range and the reason for its bounds::

    scenario = "../scenarios/baseline.toml"   # optional: the scenario its paths name (validate)
    [[priors]]
    path = "choice.trust"                     # a factor path (adoptsim.experiments.paths)
    range = [1.0, 4.0]                        # uniform prior on [low, high]
    reason = "why these bounds"               # required, one line
    balance = "sectors.general.share"         # optional: a field that takes up the change, so
                                              # that a sum (sector shares = 1) is kept

A calibration spec names it with ``priors = "priors.toml"`` (its parameters are then the
priors, plus any ``[[parameters]]`` of the spec); ``adoptsim validate priors.toml`` checks the
file, and its paths and ranges against ``scenario`` when it names one. Every path must be a
numeric field of the scenario (an unknown one gets the nearest valid paths) and both ends of
its range must give a valid scenario (:func:`adoptsim.experiments.paths.check_factor_values`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator

from ...core.schema import Scenario, parse_scenario
from ...errors import Problem
from ...io.scenario_files import load_raw, read_toml
from ..paths import (check_factor_values, current_value, integer_range_problems, is_integer_field, nearest_paths,
                     valid_paths, whole_range)
from ..spec import Strict, check_range, named_file, validated


class Prior(Strict):
    path: str = Field(min_length=1)
    range: list[float] = Field(min_length=2, max_length=2)
    reason: str = Field(min_length=1)
    balance: str | None = None  # a field that takes up the change (e.g. sectors.general.share)

    @field_validator("range")
    @classmethod
    def _order(cls, v):
        return check_range(v)


class PriorFile(Strict):
    description: str = ""
    scenario: str | None = None
    priors: list[Prior] = Field(min_length=1)


@dataclass
class Priors:
    file: str
    spec: PriorFile
    scenario_file: Path | None


def parameter_problems(entries: list, raw: dict, base: Scenario, locators: dict[str, tuple], file: str,
                       table: str, seen: set[str] | None = None) -> tuple[list[Problem], dict[str, bool]]:
    """Each entry (``path``, ``range``) of ``table``: a known numeric path (not ``meta.*``), given
    once (across ``seen``), both ends of its range valid; returns the problems and which paths
    take whole numbers."""
    integer: dict[str, bool] = {}
    problems: list[Problem] = []
    seen = set() if seen is None else seen
    pool = sorted(k for k in locators if not k.startswith("meta."))
    for i, p in enumerate(entries):
        where = f"{table}[{i}]"
        if p.path in seen:
            problems.append(Problem(file, f"{where}.path", f"parameter {p.path!r} is given twice"))
            continue
        seen.add(p.path)
        if p.path not in locators or p.path.startswith("meta."):
            problems.append(Problem(file, f"{where}.path", f"no scenario parameter {p.path!r}"
                                    + nearest_paths(p.path, pool)))
            continue
        cur = current_value(base, locators[p.path])
        if cur is None or isinstance(cur, (str, bool)):
            problems.append(Problem(file, f"{where}.path", f"{p.path} is not a number ({cur!r}); only numeric "
                                    "parameters can be fitted"))
            continue
        integer[p.path] = is_integer_field(base, locators[p.path])
        if integer[p.path] and integer_range_problems(p.range, file, f"{where}.range"):
            problems += integer_range_problems(p.range, file, f"{where}.range")
            continue
        ends = list(whole_range(*p.range)) if integer[p.path] else [float(value) for value in p.range]
        problems += check_factor_values(raw, locators, p.path, ends, file, f"{where}.range")
        bal = getattr(p, "balance", None)
        if bal is not None and (bal not in locators or isinstance(current_value(base, locators[bal]), (str, bool))
                                or current_value(base, locators[bal]) is None):
            problems.append(Problem(file, f"{where}.balance", f"no numeric scenario field {bal!r}"
                                    + nearest_paths(bal, pool)))
    return problems, integer


def read_priors(path: str | Path) -> Priors:
    """Read a prior file and check its schema (the paths are checked against a scenario by
    :func:`check_priors`)."""
    path = Path(path)
    file = str(path)
    spec = validated(read_toml(path, file), PriorFile, file)
    scen = named_file(path, file, "scenario", spec.scenario) if spec.scenario is not None else None
    return Priors(file=file, spec=spec, scenario_file=scen)


def load_priors(path: str | Path) -> Priors:
    """Read a prior file and check every path and range against the scenario it names (the
    check of ``adoptsim validate``); raises one InputError listing every problem."""
    from ...errors import InputError

    pr = read_priors(path)
    if pr.scenario_file is not None:
        raw = load_raw(pr.scenario_file)
        base = parse_scenario(raw, str(pr.scenario_file))
        problems, _ = parameter_problems(pr.spec.priors, raw, base, valid_paths(base), pr.file, "priors")
        if problems:
            raise InputError(problems)
    return pr
