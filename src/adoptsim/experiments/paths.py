"""Factor paths: the scalar fields of a resolved scenario that experiments may vary.

A **factor path** names a field of the resolved scenario: ``adoption.p``, ``choice.trust``,
``network.degree``, ``sectors.government.trust``, ``nations.BR.optimism``,
``nations.BR.trust.CN``, ``vendors.deepseek.price``, ``policies.<name>.<parameter>``, and an
element of a list of numbers as ``choice.nest_lambda.0`` (docs/experiments.md). A design point is applied to the merged raw scenario (``extends``
resolved) and the result is validated by the scenario schema, so an override gets exactly the
checks a scenario file gets. :func:`check_factor_values` is the one check of factor values,
used by sweeps, target-seeking and calibration.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from pydantic import BaseModel

from ..core.metrics import metric_keys, metric_scopes
from ..core.policies import REGISTRY
from ..core.schema import NationSpec, Scenario, Sector, VendorSpec, parse_scenario
from ..errors import InputError, Problem, did_you_mean, suggest

_TABLES = ("adoption", "choice", "network", "communities", "dynamics")
_FIXED = {"id", "name", "type", "remove", "description"}
_LISTS = ("nations", "vendors", "policies")


def _field_names(model: type[BaseModel]) -> list[str]:
    out = []
    for name, f in model.model_fields.items():
        ann = str(f.annotation)
        if name in _FIXED or "list" in ann or "dict" in ann:
            continue
        out.append(name)
    return out


def valid_paths(scenario: Scenario) -> dict[str, tuple]:
    """Every factor path of a resolved scenario -> its locator in the raw scenario data.

    A locator is ``(table, key)`` for ``[table]`` fields, ``("sectors", name, key)``,
    ``(list, id, key)`` or ``(list, id, key, origin)`` for nations, vendors and policies."""
    paths: dict[str, tuple] = {"meta.months": ("meta", "months"), "meta.start": ("meta", "start")}
    d = scenario.to_dict()
    for table in _TABLES:
        for k, v in d[table].items():
            paths[f"{table}.{k}"] = (table, k)
            if isinstance(v, list) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                for i in range(len(v)):  # a list of numbers: each element (choice.nest_lambda.0)
                    paths[f"{table}.{k}.{i}"] = (table, k, i)
    for sec in d["sectors"]:
        for k in _field_names(Sector):
            paths[f"sectors.{sec}.{k}"] = ("sectors", sec, k)
    origins = [n.id for n in scenario.nations]
    for n in scenario.nations:
        for k in _field_names(NationSpec):
            paths[f"nations.{n.id}.{k}"] = ("nations", n.id, k)
        for table in ("trust", "infrastructure"):
            for o in origins:
                paths[f"nations.{n.id}.{table}.{o}"] = ("nations", n.id, table, o)
    for v in scenario.vendors:
        for k in _field_names(VendorSpec):
            paths[f"vendors.{v.id}.{k}"] = ("vendors", v.id, k)
    for p in scenario.policies:
        for k in _field_names(REGISTRY[p.type]):
            paths[f"policies.{p.name}.{k}"] = ("policies", p.name, k)
    return paths


def current_value(scenario: Scenario, loc: tuple) -> Any:
    """The resolved value at a locator (None when unset)."""
    d = scenario.to_dict()
    if loc[0] in _LISTS:
        key = "name" if loc[0] == "policies" else "id"
        node = next(e for e in d[loc[0]] if e[key] == loc[1])
        rest = loc[2:]
    else:
        node, rest = d[loc[0]], loc[1:]
    for k in rest:
        if isinstance(node, list) and isinstance(k, int) and 0 <= k < len(node):
            node = node[k]
            continue
        if not isinstance(node, dict) or k not in node:
            return None
        node = node[k]
    return node


def is_integer_field(scenario: Scenario, loc: tuple) -> bool:
    """Whether the field at a locator holds a whole number (not a bool): its values are rounded."""
    cur = current_value(scenario, loc)
    return isinstance(cur, int) and not isinstance(cur, bool)


def whole_range(lo: float, hi: float) -> tuple[int, int]:
    """The whole numbers of a range ``[lo, hi]``: ``(ceil(lo), floor(hi))``."""
    return int(math.ceil(lo)), int(math.floor(hi))


def integer_range_problems(rng, file: str, where: str) -> list[Problem]:
    """A whole-number field's range must hold a whole number (values are rounded into it)."""
    lo, hi = whole_range(*rng)
    if lo > hi:
        return [Problem(file, where, f"the field takes whole numbers and {list(rng)} holds none")]
    return []


def metric_reference_problems(scenario: Scenario, metric: str, scope: str, key: str, file: str,
                              where: str) -> list[Problem]:
    """A reference to a value of the tidy table (``metric`` at ``scope`` with ``key``) must name a
    scope the metric is reported at and one of its keys in ``scenario``."""
    problems = []
    if scope not in metric_scopes(metric):
        problems.append(Problem(file, f"{where}.scope", f"{metric!r} is reported at world scope only, not {scope!r}"))
    keys = metric_keys(scenario, metric)
    if key not in keys:
        known = ", ".join(repr(k) for k in keys)
        problems.append(Problem(file, f"{where}.key", f"no key {key!r} for {metric!r}"
                                + (did_you_mean(key, keys, 0.5, False) or f"; known: {known}")))
    return problems


def apply_point(raw: dict, locators: dict[str, tuple], point: dict[str, Any]) -> dict:
    """A deep copy of the raw (merged) scenario data with the point's values set."""
    out = copy.deepcopy(raw)
    for path, value in point.items():
        loc = locators[path]
        if loc[0] in _LISTS:
            key = "name" if loc[0] == "policies" else "id"
            node = next(e for e in out[loc[0]] if isinstance(e, dict) and e.get(key) == loc[1])
            rest = loc[2:]
        else:
            node, rest = out.setdefault(loc[0], {}), loc[1:]
        for k in rest[:-1]:
            node = node.setdefault(k, {})
        node[rest[-1]] = value
    return out


def nearest_paths(path: str, pool: list[str]) -> str:
    """The hint for an unknown factor path: ``"; nearest valid paths: a, b"`` (the closest
    paths, else those sharing the first component), or ``""``."""
    close = suggest(path, pool, n=5, cutoff=0.5)
    if not close:  # fall back to paths sharing the first component
        head = path.split(".")[0]
        close = [p for p in pool if p.split(".")[0] == head][:5]
    return f"; nearest valid paths: {', '.join(close)}" if close else ""


def check_factor_values(raw: dict, locators: dict[str, tuple], path: str, values: list, file: str,
                        where: str) -> list[Problem]:
    """The one check of a factor's values: each value alone must give a valid scenario for its
    field. Problems are reported as ``file: where: path = value: message``; checking stops at
    the first bad value. Checks across fields (such as sector shares summing to 1) are made per
    design point, when the runs are planned."""
    problems: list[Problem] = []
    for value in values:
        try:
            parse_scenario(apply_point(raw, locators, {path: value}), file)
        except InputError as exc:
            own = [p for p in exc.problems if p.field == path or p.field.startswith(path + ".")]
            problems += [Problem(file, where, f"{path} = {value!r}: {p.message}") for p in own]
            if own:
                break
    return problems
