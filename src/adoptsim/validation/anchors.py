"""The validation anchors (docs/validation.md): scenarios written as TOML dicts whose outcome
theory predicts (:mod:`adoptsim.validation.theory`), and running them through the same code path
as ``adoptsim run`` (:func:`~adoptsim.io.scenario_files.load_scenario`, then
:func:`~adoptsim.core.model.simulate`).

* **Bass** — one nation, one vendor, complete network, optimism 0.5, no revision;
* **Logit** — closed vendors, frozen capability and price, ``revision_rate = 1``, no peer,
  inertia or ecosystem weight; banning a vendor leaves the others' ratios unchanged (IIA);
* **Brock–Durlauf** — two closed vendors, complete network, everyone adopted, peer weight J,
  utility gap h, temperature T;
* **Arthur lock-in** — two equal vendors and a strong peer effect: every run locks in to one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from ..core.model import simulate
from ..io.scenario_files import load_scenario

START = "2025-01"


def _world(months: int, seed: int, name: str, description: str) -> dict:
    return {"meta": {"name": name, "description": description, "start": START, "months": months, "seed": seed}}


def bass_scenario(p: float, q: float, months: int = 60, communities: int = 20_000, seed: int = 1) -> dict:
    """One nation (optimism 0.5), one closed vendor, complete network, no revision."""
    sc = _world(months, seed, "bass", f"Bass anchor p={p}, q={q}")
    sc["adoption"] = {"p": p, "q": q, "revision_rate": 0.0, "initial": 0.0}
    sc["network"] = {"kind": "complete"}
    sc["communities"] = {"per_nation": communities}
    sc["choice"] = {"default_trust": 0.5}  # one origin: trust shifts every utility alike
    sc["nations"] = [{"id": "A", "developers": 1000.0, "optimism": 0.5}]
    sc["vendors"] = [{"id": "only", "origin": "A", "license": "closed", "capability": 50.0, "price": 1.0}]
    return sc


#: The logit anchor's world: four closed vendors from four origins, five nations that differ in
#: gdp, trust, infrastructure and sovereignty, and (optionally) two sectors with multipliers.
LOGIT_CHOICE = {"temperature": 0.7, "capability": 0.06, "cost": 0.8, "trust": 1.5, "sovereignty": 0.9,
                "infrastructure": 1.2, "ecosystem": 0.0, "peer": 0.0, "inertia": 0.0}
LOGIT_SECTORS = {"general": {"share": 0.7},
                 "government": {"share": 0.3, "trust": 2.0, "cost": 0.5, "capability": 1.5, "infrastructure": 0.5}}
LOGIT_NATIONS = [
    {"id": "US", "region": "North America", "developers": 4000.0, "gdp_per_capita": 80000.0, "sovereignty": 0.3,
     "trust": {"US": 0.9, "CN": 0.2, "FR": 0.7, "KR": 0.6}, "infrastructure": {"US": 1.0, "FR": 0.2}},
    {"id": "CN", "region": "Asia", "developers": 5000.0, "gdp_per_capita": 13000.0, "sovereignty": 0.8,
     "trust": {"US": 0.3, "CN": 0.9, "FR": 0.4, "KR": 0.5}, "infrastructure": {"CN": 1.0, "KR": 0.1}},
    {"id": "FR", "region": "Europe", "developers": 800.0, "gdp_per_capita": 45000.0, "sovereignty": 0.6,
     "trust": {"US": 0.6, "CN": 0.3, "FR": 0.9, "KR": 0.5}, "infrastructure": {"US": 0.7, "FR": 0.8}},
    {"id": "KR", "region": "Asia", "developers": 700.0, "gdp_per_capita": 35000.0, "sovereignty": 0.4,
     "trust": {"US": 0.7, "CN": 0.4, "FR": 0.5, "KR": 0.9}, "infrastructure": {"US": 0.6, "KR": 0.9, "CN": 0.2}},
    {"id": "BR", "region": "South America", "developers": 1500.0, "gdp_per_capita": 9000.0, "sovereignty": 0.2,
     "trust": {"US": 0.6, "CN": 0.6, "FR": 0.5, "KR": 0.5}, "infrastructure": {"US": 0.5, "CN": 0.3}},
]
LOGIT_VENDORS = [
    {"id": "gpt", "origin": "US", "license": "closed", "capability": 70.0, "price": 10.0},
    {"id": "qwen", "origin": "CN", "license": "closed", "capability": 62.0, "price": 1.2},
    {"id": "mistral", "origin": "FR", "license": "closed", "capability": 58.0, "price": 2.0},
    {"id": "exaone", "origin": "KR", "license": "closed", "capability": 55.0, "price": 0.8},
]


def logit_scenario(sectors: bool = True, ban: str | None = None, months: int = 12,
                   communities: int = 20_000, seed: int = 3) -> dict:
    """The logit anchor: everyone adopted from the start (``initial = 1``), ``revision_rate = 1``
    so every community redraws every month; capability and price frozen. ``ban`` removes one
    vendor in every nation from the start (a ``model_ban`` policy)."""
    sc = _world(months, seed, "logit" + (f"-ban-{ban}" if ban else ""), "Logit anchor")
    sc["adoption"] = {"p": 0.01, "q": 0.0, "revision_rate": 1.0, "initial": 1.0}
    sc["choice"] = dict(LOGIT_CHOICE)
    sc["network"] = {"kind": "complete"}
    sc["communities"] = {"per_nation": communities}
    sc["sectors"] = {k: dict(v) for k, v in LOGIT_SECTORS.items()} if sectors else {"general": {"share": 1.0}}
    sc["nations"] = [dict(n) for n in LOGIT_NATIONS]
    sc["vendors"] = [dict(v, capability_growth=0.0, price_decline=0.0) for v in LOGIT_VENDORS]
    if ban:
        sc["policies"] = [{"name": "ban", "type": "model_ban", "issuer": "US", "vendors": [ban],
                           "targets": [n["id"] for n in LOGIT_NATIONS], "start": START}]
    return sc



def bd_scenario(J: float, h: float, T: float = 1.0, push: float = 0.0, push_months: int = 3,
                months: int = 60, communities: int = 20_000, seed: int = 5) -> dict:
    """Brock–Durlauf anchor: two closed vendors of one origin, everyone adopted from the start,
    ``revision_rate = 1``; vendor ``a`` leads by ``h`` in utility (``w_capability = 1``,
    capability gap h), ``w_peer = J``. A nonzero ``push`` sets the starting state: a
    ``price_change`` on ``a`` by ``exp(−push)`` (utility ``+push`` with ``w_cost = 1``) in force
    for the first ``push_months`` months, so the initial choice and the first months lean
    towards ``a`` (push > 0) or ``b`` (push < 0)."""
    sc = _world(months, seed, "brock-durlauf", f"Brock-Durlauf anchor J={J}, h={h}, T={T}")
    sc["adoption"] = {"p": 0.01, "q": 0.0, "revision_rate": 1.0, "initial": 1.0}
    sc["choice"] = {"temperature": T, "capability": 1.0, "cost": 1.0, "trust": 0.0, "sovereignty": 0.0,
                    "infrastructure": 0.0, "ecosystem": 0.0, "peer": J, "inertia": 0.0, "default_trust": 0.5}
    sc["network"] = {"kind": "complete"}
    sc["communities"] = {"per_nation": communities}
    sc["nations"] = [{"id": "A", "developers": 1000.0}]
    sc["vendors"] = [
        {"id": "a", "origin": "A", "license": "closed", "capability": 50.0 + h, "price": 1.0},
        {"id": "b", "origin": "A", "license": "closed", "capability": 50.0, "price": 1.0},
    ]
    if push:
        end_year, end_month = divmod(push_months, 12)
        sc["policies"] = [{"name": "push", "type": "price_change", "vendors": ["a"], "factor": math.exp(-push),
                           "start": START, "end": f"{2025 + end_year}-{end_month + 1:02d}"}]
    return sc


def arthur_scenario(J: float = 6.0, T: float = 1.0, months: int = 120, communities: int = 5_000,
                    seed: int = 11) -> dict:
    """Arthur lock-in: two identical closed vendors, Bass adoption from zero (p = 0.03,
    q = 0.4), adopters reconsider with probability 0.2 a month, strong peer weight J."""
    sc = _world(months, seed, "arthur", f"Arthur lock-in anchor J={J}, T={T}")
    sc["adoption"] = {"p": 0.03, "q": 0.4, "revision_rate": 0.2, "initial": 0.0}
    sc["choice"] = {"temperature": T, "capability": 0.1, "cost": 0.5, "trust": 1.0, "sovereignty": 0.0,
                    "infrastructure": 0.0, "ecosystem": 0.0, "peer": J, "inertia": 0.0, "default_trust": 0.5}
    sc["network"] = {"kind": "complete"}
    sc["communities"] = {"per_nation": communities}
    sc["nations"] = [{"id": "A", "developers": 1000.0}]
    sc["vendors"] = [
        {"id": "a", "origin": "A", "license": "closed", "capability": 50.0, "price": 1.0},
        {"id": "b", "origin": "A", "license": "closed", "capability": 50.0, "price": 1.0},
    ]
    return sc


def write_scenario(sc: dict, folder: Path, name: str) -> Path:
    """Write a scenario as TOML into ``folder``; return its path."""
    path = Path(folder) / f"{name}.toml"
    path.write_text(tomli_w.dumps(sc))
    return path


def run_file(path: Path, seed: int | None = None, replicates: int = 1,
             metrics: tuple[str, ...] = ("adoption", "share_vendor")) -> pd.DataFrame:
    """Load a scenario file and simulate it as ``adoptsim run`` does (tidy table)."""
    scenario = load_scenario(path)
    return simulate(scenario, seed=seed, replicates=replicates, metrics=metrics, create_community_agents=False)


def series(frame: pd.DataFrame, metric: str, key: str = "", scope_id: str = "world") -> np.ndarray:
    """Values of one metric as an array (replicates, steps)."""
    sel = frame[(frame["scope_id"] == scope_id) & (frame["metric"] == metric) & (frame["key"] == key)]
    return sel.pivot(index="replicate", columns="step", values="value").to_numpy()
