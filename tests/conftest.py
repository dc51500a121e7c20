"""Shared fixtures: the repository's folders, a small scenario and a writer of TOML files.

Tests use these fixtures (never ``from conftest import``): ``repo`` (the checkout, with
``repo.scenarios``, ``repo.examples``, ``repo.experiments``, ``repo.calibration``), ``small_text``
(tests/data/small.toml: three nations, three vendors, one export control, 24 months),
``small_path`` (that file written into a temporary folder) and ``write_toml`` (write dedented
text to ``folder/name`` and return the path).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import settings

# CI runs the property tests derandomised (reproducible); locally they explore new examples each run
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

_ROOT = Path(__file__).resolve().parent.parent
_SMALL = (Path(__file__).resolve().parent / "data" / "small.toml").read_text()


def _write(folder: Path, name: str, text: str) -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="session")
def repo() -> SimpleNamespace:
    """Folders of the checkout: root, scenarios, examples, experiments, calibration."""
    return SimpleNamespace(root=_ROOT, scenarios=_ROOT / "scenarios", examples=_ROOT / "scenarios" / "examples",
                           experiments=_ROOT / "experiments", calibration=_ROOT / "calibration",
                           shared_targets=_ROOT.parent / "shared" / "data" / "targets.toml")


@pytest.fixture(scope="session")
def small_text() -> str:
    """The small test scenario (tests/data/small.toml) as text."""
    return _SMALL


@pytest.fixture(scope="session")
def write_toml():
    """``write_toml(folder, name, text)``: write dedented text to folder/name; return the path."""
    return _write


@pytest.fixture
def small_path(tmp_path) -> Path:
    return _write(tmp_path, "small.toml", _SMALL)
