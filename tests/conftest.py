"""Shared fixtures: small scenarios written to temporary folders and run for real."""

from __future__ import annotations

import textwrap
from pathlib import Path

import os

import pytest
from hypothesis import settings

# CI runs the property tests derandomised (reproducible); locally they explore new examples each run
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
EXAMPLES = SCENARIOS / "examples"

SMALL = """
[meta]
name = "small"
start = "2025-01"
months = 24
seed = 3

[adoption]
p = 0.02
q = 0.4
revision_rate = 0.1
initial = 0.1

[network]
kind = "regional"
degree = 6

[communities]
per_nation = 30

[sectors.general]
share = 0.7
[sectors.government]
share = 0.3

[[nations]]
id = "US"
region = "North America"
developers = 4000000
gdp_per_capita = 80000
compute = 10
trust = {US = 0.6, CN = 0.2}
infrastructure = {US = 1.0}

[[nations]]
id = "CN"
region = "East Asia"
developers = 7000000
gdp_per_capita = 13000
compute = 3
chip_access = 0.3
trust = {US = 0.2, CN = 0.8}
infrastructure = {CN = 1.0}

[[nations]]
id = "BR"
region = "Latin America"
developers = 1000000
gdp_per_capita = 10000
trust = {US = 0.5, CN = 0.5}
infrastructure = {US = 0.6, CN = 0.2}

[[vendors]]
id = "openai"
origin = "US"
license = "closed"
capability = 80
price = 10
capability_growth = 0.5
price_decline = 0.5
compute = 10

[[vendors]]
id = "deepseek"
origin = "CN"
license = "open"
capability = 75
price = 1.1
capability_growth = 0.5
price_decline = 0.5
compute = 2

[[vendors]]
id = "llama"
origin = "US"
license = "open"
capability = 70
price = 0.8

[[policies]]
name = "chips"
type = "export_control"
issuer = "US"
targets = ["CN"]
chip_access = 0.5
start = "2025-06"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def small_path(tmp_path) -> Path:
    return write(tmp_path, "small.toml", SMALL)
