"""``adoptsim.AdoptionModel``: the Mesa model of :mod:`adoptsim.core.model`, also made from a
scenario file.

The core does no I/O (docs/architecture.md), so ``adoptsim.core.model.AdoptionModel`` takes a
:class:`~adoptsim.core.schema.Scenario` only. This subclass adds what a Mesa user expects —
``AdoptionModel("scenarios/baseline.toml", rng=7)``, a bundled name such as ``"baseline"`` is
not resolved here (give the path) — by loading the file with :func:`load_scenario` first
(``extends`` resolved, checked: a bad file raises :class:`~adoptsim.errors.InputError`). Every
number is the core model's: same scenario and ``rng``, same run.
"""

from __future__ import annotations

import os

import numpy as np

from ..core import model as core_model
from ..core.schema import Scenario
from .scenario_files import load_scenario


class AdoptionModel(core_model.AdoptionModel):
    """The adoption model of a scenario (a ``Scenario`` or a path to a scenario TOML file) and
    Mesa 3's ``rng=`` (an int seed or a ``numpy.random.SeedSequence``; default the scenario's
    ``[meta] seed``). See :class:`adoptsim.core.model.AdoptionModel`."""

    def __init__(self, scenario: Scenario | str | os.PathLike, rng: np.random.SeedSequence | int | None = None,
                 **kwargs):
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        super().__init__(scenario, rng, **kwargs)
