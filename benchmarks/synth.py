"""Synthetic 12-vendor benchmark scenarios, written as TOML and loaded through adoptsim.

``write_scenario(folder, communities, months, network)`` writes ``bench-<n>.toml`` and
returns its path; :func:`synthetic` loads it with :func:`adoptsim.io.scenario_files.load_scenario`.
20 nations in 5 regions, 4 sectors, 12 vendors from 4 origins (6 open, 6 closed; three closed
ones also sell a cheap tier: 15 products), a nested logit (nests by origin and licence,
λ = 0.5 and 0.3, as the baseline), two policies (an export control and an open-source push),
so every phase of a step does work.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

N_NATIONS = 20
REGIONS = ["North America", "Europe", "East Asia", "Global South", "Middle East"]
ORIGINS = ["N00", "N01", "N02", "N03"]
N_VENDORS = 12


def scenario_text(communities: int, months: int = 72, network: str = "regional", seed: int = 7,
                  market: bool = True) -> str:
    """The scenario as TOML; ``market=False`` leaves out the cheap tiers and the nests (the plain
    Mesa comparison implements the plain logit over one product per vendor)."""
    if communities % N_NATIONS:
        raise ValueError(f"communities must be a multiple of {N_NATIONS}")
    per_nation = communities // N_NATIONS
    out = [
        "[meta]",
        f'name = "bench-{communities}"',
        'start = "2025-01"',
        f"months = {months}",
        f"seed = {seed}",
        "[adoption]\np = 0.01\nq = 0.3\nrevision_rate = 0.05\ninitial = 0.1",
        "[choice]\ntemperature = 1.0\ncapability = 0.2\ncost = 0.3\ntrust = 2.0\nsovereignty = 0.5",
        "infrastructure = 1.0\necosystem = 0.05\npeer = 1.5\ninertia = 1.5",
        'nests = "origin_license"\nnest_lambda = [0.5, 0.3]' if market else 'nests = "none"',
        f'[network]\nkind = "{network}"\ndegree = 8\ncross_border = 0.15\nsame_region = 0.5',
        f"[communities]\nper_nation = {per_nation}",
        "[dynamics]\ncompute_growth = 1.0\nprice_share_response = 0.2",
        "[sectors.general]\nshare = 0.55",
        "[sectors.enterprise]\nshare = 0.3\ncost = 0.7\nsovereignty = 1.5",
        "[sectors.government]\nshare = 0.08\ntrust = 2.0\nsovereignty = 2.5",
        "[sectors.health]\nshare = 0.07\ntrust = 1.5\nsovereignty = 2.0",
    ]
    for i in range(N_NATIONS):
        trust = ", ".join(f"{o} = {0.3 + 0.1 * ((i + j) % 5):.2f}" for j, o in enumerate(ORIGINS))
        infra = ", ".join(f"{o} = {0.1 + 0.15 * ((i * 3 + j) % 6):.2f}" for j, o in enumerate(ORIGINS))
        out += [
            "[[nations]]",
            f'id = "N{i:02d}"',
            f'region = "{REGIONS[i % len(REGIONS)]}"',
            f"developers = {100_000 * (1 + (i * 7) % 13)}",
            f"gdp_per_capita = {5_000 + 4_000 * ((i * 5) % 17)}",
            f"compute = {0.5 + (i % 4)}",
            f"chip_access = {1.0 if i % 3 else 0.6}",
            f"optimism = {0.3 + 0.03 * (i % 12):.2f}",
            f"sovereignty = {0.1 + 0.04 * (i % 10):.2f}",
            f"trust = {{ {trust} }}",
            f"infrastructure = {{ {infra} }}",
        ]
    for v in range(N_VENDORS):
        out += [
            "[[vendors]]",
            f'id = "v{v:02d}"',
            f'origin = "{ORIGINS[v % len(ORIGINS)]}"',
            f'license = "{"open" if v % 2 else "closed"}"',
            f"capability = {60 + 2 * v}",
            f"price = {0.5 + 1.5 * (v % 5)}",
            f"compute = {1.0 + (v % 3)}",
            f"capability_growth = 0.5",
            f"price_decline = 0.3",
        ]
        if market and v % 4 == 0:  # closed vendors v00, v04, v08: a cheap tier
            out += ["[[vendors.products]]", 'id = "mini"', "price = 0.4", "capability_offset = -4"]
    month = lambda k: f"{2025 + k // 12}-{k % 12 + 1:02d}"  # noqa: E731  (k months after 2025-01)
    out += [
        "[[policies]]",
        'name = "chips"\ntype = "export_control"\nissuer = "N00"\ntargets = ["N01", "N05"]',
        f'start = "{month(months // 6)}"\nchip_access = 0.3',
        "[[policies]]",
        'name = "push"\ntype = "open_source_push"\nissuer = "N02"',
        f'start = "{month(months // 3)}"\nsubsidy = 0.3\nderivatives_boost = 1.0',
    ]
    return "\n".join(out) + "\n"


def write_scenario(folder: str | Path, communities: int, months: int = 72, network: str = "regional",
                   seed: int = 7, market: bool = True) -> Path:
    path = Path(folder) / f"bench-{communities}-{network}-{months}{'' if market else '-plain'}.toml"
    path.write_text(scenario_text(communities, months, network, seed, market))
    return path


def synthetic(communities: int, months: int = 72, network: str = "regional", seed: int = 7, market: bool = True):
    """The loaded Scenario (through a TOML file in a temporary folder)."""
    from adoptsim.io.scenario_files import load_scenario

    with tempfile.TemporaryDirectory() as tmp:
        return load_scenario(write_scenario(tmp, communities, months, network, seed, market))
