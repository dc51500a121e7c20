"""Designs: the points an experiment runs (docs/experiments.md).

``grid`` is the cartesian product of the factors' ``values`` (first factor varies slowest);
``list`` zips them (equal lengths); ``lhs`` and ``sobol`` draw ``samples`` points in the unit
hypercube with :class:`scipy.stats.qmc.LatinHypercube` / :class:`~scipy.stats.qmc.Sobol`
(scrambled, seeded from the experiment seed) and map them onto each factor's ``range``
(linear; rounded for whole-number fields) or onto its ``values`` (equal-probability bins).
``oat`` (one at a time) is the central point plus each factor alone at its low and high value.

:func:`unit_design` is the one Latin-hypercube/Sobol' sampler: sweeps draw with spawn key
:data:`SWEEP_SPAWN`, calibration with :data:`CALIBRATION_SPAWN` (independent streams from the
same seed).
"""

from __future__ import annotations

import inspect
import itertools
import math
from typing import Any

import numpy as np

from .paths import current_value

#: Spawn keys of the design streams: ``SeedSequence(seed, spawn_key=(spawn,))``.
SWEEP_SPAWN = 2**32 - 1
CALIBRATION_SPAWN = 2**32 - 2


def _engine(cls, d: int, rng: np.random.Generator, **kw):
    """A scipy QMC engine seeded by ``rng`` (scipy >= 1.15 calls the argument ``rng``, older
    versions ``seed``)."""
    if "rng" in inspect.signature(cls).parameters:
        return cls(d, rng=rng, **kw)
    return cls(d, seed=rng, **kw)


def unit_design(method: str, d: int, n: int, seed: int, spawn: int) -> np.ndarray:
    """``n`` x ``d`` points in [0, 1): a Latin hypercube (``method = "lhs"``) or scrambled
    Sobol' points (``"sobol"``; ``n`` a power of 2), drawn from
    ``SeedSequence(seed, spawn_key=(spawn,))``."""
    from scipy.stats import qmc

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(spawn,)))
    if method == "lhs":
        return _engine(qmc.LatinHypercube, d, rng).random(n)
    if method == "sobol":
        return _engine(qmc.Sobol, d, rng, scramble=True).random_base2(int(math.log2(n)))
    raise ValueError(f"unit_design: method must be 'lhs' or 'sobol', got {method!r}")


def map_unit(u: np.ndarray, factor, integer: bool) -> list:
    """Map unit values onto a factor: its ``values`` (equal-probability bins) or its ``range``
    (linear; whole numbers for an integer field, each equally likely)."""
    if factor.values is not None:
        k = len(factor.values)
        return [factor.values[min(int(x * k), k - 1)] for x in u]
    lo, hi = factor.range
    if integer:  # the whole numbers inside the range, each equally likely
        lo, hi = math.ceil(lo), math.floor(hi)
        return [int(min(math.floor(lo + x * (hi - lo + 1)), hi)) for x in u]
    return [float(lo + x * (hi - lo)) for x in u]


def unit_points(u: np.ndarray, factors: list, integer: dict[str, bool]) -> list[dict[str, Any]]:
    """Design points (path -> value) from unit points, one column per factor."""
    cols = [map_unit(u[:, j], f, integer.get(f.path, False)) for j, f in enumerate(factors)]
    return [dict(zip([f.path for f in factors], row)) for row in zip(*cols)]


def grid_points(factors: list) -> list[dict[str, Any]]:
    """The cartesian product of the factors' values (first factor varies slowest)."""
    paths = [f.path for f in factors]
    return [dict(zip(paths, combo)) for combo in itertools.product(*[f.values for f in factors])]


def list_points(factors: list) -> list[dict[str, Any]]:
    """The factors' values zipped (equal lengths)."""
    paths = [f.path for f in factors]
    return [dict(zip(paths, combo)) for combo in zip(*[f.values for f in factors])]


def _central(f, base, loc, integer: bool) -> Any:
    """A factor's central value: its middle value when ``values = [low, central, high]``; for a
    ``range``, the base scenario's value when it lies inside the range, else the midpoint."""
    if f.values is not None:
        return f.values[1]
    lo, hi = f.range
    cur = current_value(base, loc)
    if isinstance(cur, (int, float)) and not isinstance(cur, bool) and lo <= cur <= hi:
        return cur
    mid = (lo + hi) / 2
    return int(round(mid)) if integer else float(mid)


def _ends(f, integer: bool) -> tuple[Any, Any]:
    if f.values is not None:
        return f.values[0], f.values[2]
    lo, hi = f.range
    return (int(math.ceil(lo)), int(math.floor(hi))) if integer else (float(lo), float(hi))


def oat_points(factors, base, locators: dict[str, tuple], integer: dict[str, bool]) -> list[dict[str, Any]]:
    """One-at-a-time design: point 0 is the central point; points 2k+1 and 2k+2 set factor k
    to its low and high value with the others central."""
    central = {f.path: _central(f, base, locators[f.path], integer.get(f.path, False)) for f in factors}
    points = [dict(central)]
    for f in factors:
        lo, hi = _ends(f, integer.get(f.path, False))
        points.append({**central, f.path: lo})
        points.append({**central, f.path: hi})
    return points
