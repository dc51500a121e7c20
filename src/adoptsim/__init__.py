"""adoptsim: an agent-based simulator of how the world adopts open-weight and closed AI models.

The public Python API (the README shows an example)::

    from adoptsim import load_scenario, simulate
    scenario = load_scenario("scenarios/baseline.toml")
    frame = simulate(scenario, seed=7, replicates=4)      # tidy pandas table
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["AdoptionModel", "Scenario", "__version__", "load_scenario", "run_sweep", "simulate"]

_EXPORTS = {
    "AdoptionModel": ("adoptsim.io.models", "AdoptionModel"),  # also takes a scenario file path
    "Scenario": ("adoptsim.core.schema", "Scenario"),
    "load_scenario": ("adoptsim.io.scenario_files", "load_scenario"),
    "run_sweep": ("adoptsim.experiments.runner", "run_sweep"),
    "simulate": ("adoptsim.core.model", "simulate"),
}


def __getattr__(name: str):
    """Import the public names on first use (``import adoptsim`` stays fast for the CLI)."""
    if name in _EXPORTS:
        import importlib

        module, attr = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'adoptsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))
