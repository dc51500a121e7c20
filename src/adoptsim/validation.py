"""Validation of the engine against theory (DESIGN §6), and the validation report.

Four anchors, each a scenario written as TOML and run through the same code path as
``adoptsim run`` (:func:`~adoptsim.scenario.load_scenario`, then :func:`~adoptsim.model.simulate`):

* **Bass** — one nation, one vendor, complete network, optimism 0.5, no revision: mean adoption
  follows the discrete recursion ``F[t+1] = F[t] + (1 − F[t])·(1 − exp(−(p + q·F[t])))``,
  which tends to Bass's closed form as steps shrink;
* **Logit** — closed vendors, frozen capability and price, ``revision_rate = 1``, no peer,
  inertia or ecosystem weight: shares are ``softmax(U / T)``; banning a vendor leaves the
  others' ratios unchanged (IIA);
* **Brock–Durlauf** — two closed vendors, complete network, everyone adopted, peer weight J,
  utility gap h, temperature T: with ``m = 2·share − 1`` the long-run share solves
  ``m = tanh((h + J·m) / (2T))``;
* **Arthur lock-in** — two equal vendors and a strong peer effect: every run locks in to one.

The theory here is computed from the documented equations only: nothing in this module calls
the engine's choice kernel. ``python -m adoptsim.validation [--out DIR]`` (or ``adoptsim
validation-report``) reruns every anchor and writes one figure per anchor into ``DIR``
(default ``docs/validation``) and the report ``DIR.md`` (default ``docs/validation.md``).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w
from scipy.optimize import brentq

from .model import simulate
from .scenario import load_scenario

# ---- theory -----------------------------------------------------------------------------


def bass_recursion(p: float, q: float, months: int, dt: float = 1.0) -> np.ndarray:
    """``F[1..months]`` of the discrete Bass recursion with step ``dt`` months, from F[0] = 0::

        F[t+1] = F[t] + (1 − F[t])·(1 − exp(−(p + q·F[t])·dt))

    With ``dt = 1`` this is the expected adoption of the engine on a complete network with
    optimism 0.5; as ``dt → 0`` it tends to Bass's closed form. Returns the values at the ends
    of months 1..months (for ``dt < 1``, every ``1/dt``-th value).
    """
    k = int(round(1.0 / dt))
    F, out = 0.0, []
    for _ in range(months):
        for _ in range(k):
            F = F + (1.0 - F) * (1.0 - math.exp(-(p + q * F) * dt))
        out.append(F)
    return np.array(out)


def bass_closed_form(p: float, q: float, t: np.ndarray) -> np.ndarray:
    """Bass (1969): ``F(t) = (1 − e^{−(p+q)t}) / (1 + (q/p)·e^{−(p+q)t})``."""
    e = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1.0 - e) / (1.0 + (q / p) * e)


def bass_run_sd(p: float, q: float, months: int, n: int) -> np.ndarray:
    """Standard deviation of one run's adoption at months 1..months around the recursion.

    Linear noise approximation of the engine's binomial sampling with ``n`` equal communities:
    with ``g(F) = F + (1 − F)·P(F)``, ``P(F) = 1 − e^{−(p+qF)}``, the deviation ``e`` of a run
    obeys ``e[t+1] ≈ g'(F[t])·e[t] + η[t]``, where ``Var η[t] = (1 − F)·P·(1 − P)/n`` (binomial
    draws of the non-adopters) and ``g'(F) = e^{−(p+qF)}·(1 + q·(1 − F))``, so
    ``V[t+1] = g'² V[t] + (1 − F)·P·(1 − P)/n``.
    """
    F, V, out = 0.0, 0.0, []
    for _ in range(months):
        P = 1.0 - math.exp(-(p + q * F))
        g1 = math.exp(-(p + q * F)) * (1.0 + q * (1.0 - F))
        V = g1 * g1 * V + (1.0 - F) * P * (1.0 - P) / n
        F = F + (1.0 - F) * P
        out.append(math.sqrt(V))
    return np.array(out)


def softmax(U: np.ndarray, temperature: float, axis: int = -1) -> np.ndarray:
    """``exp(U/T) / Σ exp(U/T)`` along ``axis`` (stable; ``-inf`` marks unavailable)."""
    Z = np.asarray(U, dtype=float) / temperature
    Z = Z - Z.max(axis=axis, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=axis, keepdims=True)


def bd_map(m: np.ndarray | float, h: float, J: float, T: float):
    """Mean-field map of two-vendor logit choice with peer weight J: ``tanh((h + J·m)/(2T))``."""
    return np.tanh((h + J * np.asarray(m, dtype=float)) / (2.0 * T))


@dataclass(frozen=True)
class Equilibrium:
    m: float
    stable: bool

    @property
    def share(self) -> float:
        return (1.0 + self.m) / 2.0


def bd_equilibria(h: float, J: float, T: float) -> list[Equilibrium]:
    """Every solution of ``m = tanh((h + J·m)/(2T))`` in [−1, 1], ascending, by
    :func:`scipy.optimize.brentq` on the sign changes of ``f(m) = tanh(...) − m`` over a fine
    grid; a root is stable when ``|d tanh/dm| = (J/2T)(1 − m²) < 1``."""
    f = lambda m: float(bd_map(m, h, J, T)) - m  # noqa: E731
    grid = np.linspace(-1.0, 1.0, 4001)
    vals = np.array([f(m) for m in grid])
    roots = []
    for a, b, fa, fb in zip(grid[:-1], grid[1:], vals[:-1], vals[1:]):
        if fa == 0.0:
            roots.append(a)
        elif fa * fb < 0:
            roots.append(brentq(f, a, b, xtol=1e-14))
    if vals[-1] == 0.0:
        roots.append(grid[-1])
    return [Equilibrium(float(m), bool(J / (2 * T) * (1 - m * m) < 1)) for m in roots]


def bd_share_sd(share: float, J: float, T: float, n: int, months: int) -> float:
    """Standard deviation of the mean share over ``months`` months at a stable equilibrium.

    Everyone re-chooses each month, so the share is a binomial draw of ``n`` communities with
    probability ``P(share_prev)``: ``s[t+1] = f(s[t]) + η``, ``Var η = s(1 − s)/n``, with slope
    ``λ = f'(s) = (J/2T)·(1 − m²) = 2·(J/T)·s(1 − s)`` (the utility gap is ``h + J·(2s − 1)``).
    The linearised AR(1) gives the mean of ``months`` consecutive values a variance of at most
    ``Var η / (months·(1 − λ)²)``.
    """
    lam = 2.0 * J / T * share * (1.0 - share)
    return math.sqrt(share * (1.0 - share) / n) / (math.sqrt(months) * (1.0 - lam))


# ---- scenarios ----------------------------------------------------------------------------

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


def logit_utility(sc: dict) -> np.ndarray:
    """``U[n, s, v]`` of a logit-anchor scenario from DESIGN §1's equation (closed vendors, no
    peer, inertia or ecosystem term): ``w_cap·cap − w_cost·log(price/gdp) + w_trust·trust[n, o(v)]
    + w_inf·infrastructure[n, o(v)]`` with every weight times the sector's multiplier."""
    ch, nations, vendors = sc["choice"], sc["nations"], sc["vendors"]
    sectors = list(sc["sectors"].values())
    U = np.zeros((len(nations), len(sectors), len(vendors)))
    for i, n in enumerate(nations):
        for j, s in enumerate(sectors):
            w = {k: ch[k] * s.get(k, 1.0) for k in ("capability", "cost", "trust", "infrastructure")}
            for k, v in enumerate(vendors):
                U[i, j, k] = (w["capability"] * v["capability"]
                              - w["cost"] * math.log(v["price"] / n["gdp_per_capita"])
                              + w["trust"] * n["trust"].get(v["origin"], 0.5)
                              + w["infrastructure"] * n["infrastructure"].get(v["origin"], 0.0))
    return U


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


# ---- running ------------------------------------------------------------------------------

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


# ---- report ---------------------------------------------------------------------------------

COMMUNITIES = 20_000  # per nation, in the report's Bass, logit and Brock–Durlauf runs
BASS_CASES = ((0.03, 0.38), (0.01, 0.3), (0.02, 0.6), (0.2, 0.0))
BASS_REPLICATES = 20
LOGIT_Z = 4.5
BD_TAIL = 20  # months averaged at the end of a Brock-Durlauf run
BD_Z = 5.0
BD_SEEDS = 8


@dataclass
class Check:
    anchor: str
    case: str
    measured: float
    tolerance: float
    note: str = ""
    at_least: bool = False  # the check is measured >= tolerance (a count that must be reached)

    @property
    def ok(self) -> bool:
        return bool(self.measured >= self.tolerance if self.at_least else self.measured <= self.tolerance)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fig_bytes(fig) -> bytes:
    plt = _plt()

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return buf.getvalue()


def _bass(work: Path, rep: Report) -> bytes:
    plt = _plt()

    months, n = 60, COMMUNITIES
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    ax, ax2 = axes
    steps = np.arange(1, months + 1)
    notes = rep.notes.setdefault("bass", [])
    for i, (p, q) in enumerate(BASS_CASES):
        frame = run_file(write_scenario(bass_scenario(p, q, months, n), work, f"bass{i}"),
                         replicates=BASS_REPLICATES, metrics=("adoption",))
        sim = series(frame, "adoption")
        theory = bass_recursion(p, q, months)
        closed = bass_closed_form(p, q, steps)
        err = np.abs(sim.mean(axis=0) - theory).max()
        tol = 4.0 * bass_run_sd(p, q, months, n).max() / math.sqrt(BASS_REPLICATES)
        rep.checks.append(Check("Bass", f"p={p}, q={q}", err, tol,
                                f"max over 60 months of |mean of {BASS_REPLICATES} runs − recursion|"))
        d_closed = np.abs(theory - closed).max()
        halves = [np.abs(bass_recursion(p, q, months, dt) - closed).max() for dt in (1.0, 0.5, 0.25, 0.125)]
        notes.append(f"p={p}, q={q}: max |recursion − closed form| = {d_closed:.4f} at monthly steps; "
                     f"with steps of 1, 1/2, 1/4, 1/8 month: " + ", ".join(f"{x:.4f}" for x in halves))
        c = f"C{i}"
        ax.plot(steps, sim.T, color=c, alpha=0.25, linewidth=0.8)
        ax.plot(steps, theory, color=c, linewidth=1.6, label=f"p={p}, q={q}: recursion")
        ax.plot(steps, closed, color=c, linewidth=1.0, linestyle="--")
        ax2.plot(steps, sim.mean(axis=0) - theory, color=c, label=f"p={p}, q={q}")
        ax2.fill_between(steps, -tol, tol, color=c, alpha=0.08)
    ax.set_title(f"Bass: {n:,} communities, {BASS_REPLICATES} runs each (thin)\n"
                 "thick: discrete recursion, dashed: continuous closed form", fontsize=10)
    ax.set_xlabel("month")
    ax.set_ylabel("adoption")
    ax.legend(fontsize=8, loc="lower right")
    ax2.axhline(0, color="k", linewidth=0.6)
    ax2.set_title("mean of runs − recursion (bands: tolerance)", fontsize=10)
    ax2.set_xlabel("month")
    ax2.legend(fontsize=8)
    return _fig_bytes(fig)


def _logit_expected(sc: dict) -> tuple[np.ndarray, np.ndarray]:
    """Expected nation shares (N, V) and their standard errors for one month."""
    U = logit_utility(sc)
    shares = np.array([s["share"] for s in sc["sectors"].values()])
    n = sc["communities"]["per_nation"]
    if sc.get("policies"):
        banned = [v["id"] for v in sc["vendors"]].index(sc["policies"][0]["vendors"][0])
        U[:, :, banned] = -np.inf
    P = softmax(U, sc["choice"]["temperature"])  # (N, S, V)
    expected = np.einsum("s,nsv->nv", shares, P)
    var = np.einsum("s,nsv->nv", shares ** 2 / (shares * n), P * (1 - P))
    return expected, np.sqrt(var)


def _logit(work: Path, rep: Report) -> bytes:
    plt = _plt()

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    vendors = [v["id"] for v in LOGIT_VENDORS]
    nations = [n["id"] for n in LOGIT_NATIONS]
    results = {}
    for label, sc in (("two sectors", logit_scenario(sectors=True, communities=COMMUNITIES)),
                      ("one sector", logit_scenario(sectors=False, communities=COMMUNITIES)),
                      ("one sector, qwen banned", logit_scenario(sectors=False, ban="qwen",
                                                                communities=COMMUNITIES))):
        frame = run_file(write_scenario(sc, work, sc["meta"]["name"] + str(len(sc["sectors"]))),
                         metrics=("share_vendor",))
        months = sc["meta"]["months"]
        sim = np.array([[series(frame, "share_vendor", v, n)[0].mean() for v in vendors] for n in nations])
        exp, se1 = _logit_expected(sc)
        se = se1 / math.sqrt(months)
        z = np.divide(np.abs(sim - exp), se, out=np.zeros_like(sim), where=se > 0)
        rep.checks.append(Check("Logit", f"{label}: largest |z|", float(z.max()), LOGIT_Z,
                                f"z = (share − softmax) / standard error over {len(nations)} nations × "
                                f"{len(vendors)} vendors, mean of {months} months; largest |share − softmax| "
                                f"= {np.abs(sim - exp).max():.4f}"))
        results[label] = (sim, exp)
    ax = axes[0]
    for label, marker in (("two sectors", "o"), ("one sector", "s"), ("one sector, qwen banned", "^")):
        sim, exp = results[label]
        ax.scatter(exp.ravel(), sim.ravel(), marker=marker, s=22, label=label, alpha=0.8)
    ax.plot([0, 1], [0, 1], color="k", linewidth=0.6)
    ax.set_xlabel("softmax(U / T) from the documented utility")
    ax.set_ylabel("simulated share (mean of 12 months)")
    ax.set_title("Logit: 5 nations × 4 closed vendors", fontsize=10)
    ax.legend(fontsize=8)
    # IIA: log ratios to gpt with and without the ban
    ax = axes[1]
    (s0, _), (s1, _) = results["one sector"], results["one sector, qwen banned"]
    keep = [k for k, v in enumerate(vendors) if v not in ("gpt", "qwen")]
    x = np.log(s0[:, keep] / s0[:, [0]]).ravel()
    y = np.log(s1[:, keep] / s1[:, [0]]).ravel()
    ax.scatter(x, y, s=22)
    lo, hi = min(x.min(), y.min()) - 0.2, max(x.max(), y.max()) + 0.2
    ax.plot([lo, hi], [lo, hi], color="k", linewidth=0.6)
    ax.set_xlabel("log(share / share of gpt), all vendors")
    ax.set_ylabel("same, with qwen banned")
    ax.set_title("IIA: banning qwen leaves the other ratios unchanged", fontsize=10)
    n = COMMUNITIES * 12
    dev = np.abs(y - x)
    se = np.sqrt(2 * (1 / (s0[:, keep] * n) + 1 / (s0[:, [0]] * n))).ravel()
    rep.checks.append(Check("Logit", "IIA, qwen banned: largest |z|", float((dev / se).max()), LOGIT_Z,
                            f"z = change of log(share / share of gpt) / standard error, {dev.size} ratios; "
                            f"largest change {dev.max():.4f}"))
    return _fig_bytes(fig)


BD_CASES = (  # (label, J, h, T)
    ("J = T < 2T, h = 0.5", 1.0, 0.5, 1.0),
    ("J = 3T, h = 0", 3.0, 0.0, 1.0),
    ("J = 3T, h = 0.2", 3.0, 0.2, 1.0),
)


def _bd(work: Path, rep: Report) -> bytes:
    plt = _plt()

    months, n = 60, COMMUNITIES
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    notes = rep.notes.setdefault("bd", [])
    for ax, (label, J, h, T) in zip(axes, BD_CASES):
        eqs = bd_equilibria(h, J, T)
        stable = [e for e in eqs if e.stable]
        notes.append(f"{label}: equilibria m = " + ", ".join(
            f"{e.m:+.4f} ({'stable' if e.stable else 'unstable'}, share {e.share:.4f})" for e in eqs))
        curves = []  # (label, share of a per month)
        for push in (4.0, -4.0):
            sc = bd_scenario(J, h, T, push=push, months=months, communities=n)
            frame = run_file(write_scenario(sc, work, f"bd-{J}-{h}-{push}"), metrics=("share_vendor",))
            curves.append((f"push {push:+g}", series(frame, "share_vendor", "a")[0]))
        sc = bd_scenario(J, h, T, months=months, communities=n)
        frame = run_file(write_scenario(sc, work, f"bd-{J}-{h}-seeds"), replicates=BD_SEEDS,
                         metrics=("share_vendor",))
        curves += [(f"{BD_SEEDS} seeds, no push" if r == 0 else None, s)
                   for r, s in enumerate(series(frame, "share_vendor", "a"))]
        worst = (-1.0, 0.0, 0.0)  # (error / tolerance, error, tolerance)
        for i, (rl, s) in enumerate(curves):
            tail = s[-BD_TAIL:].mean()
            if i < 2:
                # the starting state decides the basin: a push towards a must end on the highest
                # stable equilibrium, a push towards b on the lowest
                target = stable[-1] if i == 0 else stable[0]
            else:
                target = min(stable, key=lambda e: abs(e.share - tail))
            err, tol = abs(tail - target.share), BD_Z * bd_share_sd(target.share, J, T, n, BD_TAIL)
            worst = max(worst, (err / tol, err, tol))
            ax.plot(np.arange(1, months + 1), s, linewidth=1.0 if i < 2 else 0.7, alpha=0.85,
                    color=f"C{i}" if i < 2 else "C2", linestyle="-" if i < 2 else ":", label=rl)
        ends = np.array([s[-BD_TAIL:].mean() for _, s in curves[2:]])
        reached = sorted({min(range(len(stable)), key=lambda k: abs(stable[k].share - x)) for x in ends})
        notes.append(f"{label}: the {BD_SEEDS} unpushed seeds end on equilibria "
                     + ", ".join(f"{stable[k].share:.4f} ({int((np.abs(ends - stable[k].share) < 0.05).sum())} runs)"
                                 for k in reached))
        for e in eqs:
            ax.axhline(e.share, color="k", linewidth=1.2 if e.stable else 0.6,
                       linestyle="-" if e.stable else "--")
        rep.checks.append(Check("Brock–Durlauf", label, worst[1], worst[2],
                                f"|mean share of a over the last {BD_TAIL} months − equilibrium|, worst of "
                                f"{len(curves)} runs (relative to its tolerance)"))
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{label}\nsolid: stable solutions, dashed: unstable", fontsize=10)
        ax.set_xlabel("month")
        ax.set_ylabel("share of vendor a")
        ax.legend(fontsize=7, loc="center right")
    return _fig_bytes(fig)


ARTHUR_REPLICATES = 24


def _arthur(work: Path, rep: Report) -> bytes:
    plt = _plt()

    sc = arthur_scenario()
    frame = run_file(write_scenario(sc, work, "arthur"), replicates=ARTHUR_REPLICATES,
                     metrics=("adoption", "share_vendor"))
    a = series(frame, "share_vendor", "a") / series(frame, "adoption")
    final = a[:, -1]
    low, high = int((final < 0.05).sum()), int((final > 0.95).sum())
    eq = bd_equilibria(0.0, sc["choice"]["peer"], sc["choice"]["temperature"])
    rep.checks.append(Check("Arthur", f"{ARTHUR_REPLICATES} seeds: runs ending between 5% and 95%",
                            float(ARTHUR_REPLICATES - low - high), 0.0,
                            f"{high} end above 95%, {low} below 5% for vendor a"))
    rep.checks.append(Check("Arthur", "runs locked in to the rarer vendor (at least)", float(min(high, low)), 4.0,
                            f"which vendor wins is a fair coin: Binomial({ARTHUR_REPLICATES}, 1/2) "
                            "is below 4 with probability 1.5e-4", at_least=True))
    rep.notes["arthur"] = [f"share of a among adopters at month {sc['meta']['months']}: {high} runs above 95%, "
                           f"{low} below 5%; locked-in equilibria (J = {sc['choice']['peer']:g}T, full adoption): "
                           + ", ".join(f"{e.share:.4f}" for e in eq if e.stable)]
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    steps = np.arange(1, a.shape[1] + 1)
    for row in a:
        ax.plot(steps, row, color="C0" if row[-1] > 0.5 else "C3", linewidth=0.8, alpha=0.7)
    ax.axhspan(0.95, 1.0, color="C0", alpha=0.08)
    ax.axhspan(0.0, 0.05, color="C3", alpha=0.08)
    ax.plot(steps, series(frame, "adoption").mean(axis=0), color="k", linewidth=1.2, linestyle="--",
            label="adoption (mean)")
    ax.set_title(f"Arthur lock-in: two equal vendors, peer weight {sc['choice']['peer']:g}·T\n"
                 f"{ARTHUR_REPLICATES} seeds: {high} lock in to a, {low} to b", fontsize=10)
    ax.set_xlabel("month")
    ax.set_ylabel("share of vendor a among adopters")
    ax.legend(fontsize=8, loc="center right")
    return _fig_bytes(fig)


def run_report(work: Path) -> tuple[Report, dict[str, bytes]]:
    """Run every anchor (scenario files written into ``work``); return the checks and figures."""
    rep = Report()
    figs = {"bass.png": _bass(work, rep), "logit.png": _logit(work, rep),
            "brock_durlauf.png": _bd(work, rep), "arthur.png": _arthur(work, rep)}
    return rep, figs


def render_markdown(rep: Report, figdir: str) -> str:
    esc = lambda text: text.replace("|", "\\|")  # noqa: E731
    rows = "\n".join(f"| {c.anchor} | {esc(c.case)} | {c.measured:.4f} | {c.tolerance:.4f} | "
                     f"{'pass' if c.ok else '**FAIL**'} | {esc(c.note)} |" for c in rep.checks)
    notes = lambda k: "\n".join(f"- {x}" for x in rep.notes.get(k, []))  # noqa: E731
    return f"""# Validation against theory

The engine is checked against four results known from theory (DESIGN §6). Each anchor is a
scenario written as TOML and run through the same code path as `adoptsim run`; the same checks
run in the test suite (`tests/test_theory.py`). Regenerate this page and its figures with

```bash
adoptsim validation-report            # or: python -m adoptsim.validation [--out docs/validation]
```

Tolerances follow from sampling error (binomial standard errors with the number of
communities), never from a fitted fudge factor; see each section and the test file.

| anchor | case | measured | limit | result | what is measured |
| --- | --- | --- | --- | --- | --- |
{rows}

## Bass diffusion

One nation (optimism 0.5), one closed vendor, complete network, no revision, {COMMUNITIES:,}
communities; {BASS_REPLICATES} runs per (p, q). The engine's expected adoption is exactly the
discrete recursion `F[t+1] = F[t] + (1 − F[t])·(1 − exp(−(p + q·F[t])))` (step 1 is the end of
the first month). The tolerance is 4 standard deviations of the mean of the runs, from a
linear-noise propagation of the binomial draws (`bass_run_sd`); at 20,000 communities it is
below the 0.01 the issue asks for in every case.

![Bass]({figdir}/bass.png)

Distance from the monthly recursion to Bass's continuous closed form (it shrinks in proportion
to the step):

{notes("bass")}

## Multinomial logit and IIA

Five nations × four closed vendors from four origins with different capability, price, trust,
infrastructure and gdp; two sectors with different multipliers (and a one-sector variant);
`revision_rate = 1`, `initial = 1`, no peer, inertia or ecosystem weight; frozen capability and
price. Every community redraws every month, so a nation's share of a vendor is a mean of
independent multinomial draws: its standard error is `sqrt(Σ_s share_s²·P_s(1 − P_s)/n_s)` per
month, divided by √12 for the 12-month mean; the tolerance is {LOGIT_Z} standard errors
(20–40 comparisons per case). The utility is computed from DESIGN §1's equation
(`logit_utility`), not by the engine's kernel. With `qwen` banned in every nation (a
`model_ban`), the log-ratios of the other vendors' shares do not change (IIA); standard error
of a log share ratio `sqrt(1/(n·s_a) + 1/(n·s_b))` per run.

![Logit]({figdir}/logit.png)

## Brock–Durlauf

Two closed vendors of one origin, complete network, everyone adopted from the start and
re-choosing every month (`revision_rate = 1`), utility gap h (capability), peer weight J,
temperature T. With `m = 2·share − 1` the mean-field map is `m' = tanh((h + J·m)/(2T))`; its
fixed points are found with `scipy.optimize.brentq`. The starting state is set by a temporary
`price_change` on vendor a (factor `e^{{∓4}}` for the first three months); other runs start
from the logit choice without peers under different seeds. The tolerance is {BD_Z} standard
deviations of the mean share over the last {BD_TAIL} months, from a linearised AR(1) of the
binomial draws (`bd_share_sd`).

{notes("bd")}

![Brock–Durlauf]({figdir}/brock_durlauf.png)

## Arthur lock-in

Two identical closed vendors, Bass adoption from zero, adopters reconsider with probability
0.2 a month, peer weight 6·T, {ARTHUR_REPLICATES} seeds. As adoption passes `2T/J` the
symmetric state becomes unstable and every run locks in to one vendor; which one is decided by
early chance.

{notes("arthur")}

![Arthur]({figdir}/arthur.png)

## Known deviations from the textbook models

- On the complete network a community's neighbourhood is the whole world *including itself*
  (`A` and `neighbour_share` are world totals). The self-term is `1/n` of the total, below 10⁻⁴
  at these sizes.
- `neighbour_share` counts non-adopters in the denominator, so the Brock–Durlauf anchor needs
  everyone adopted; during diffusion (Arthur) the effective peer weight is `J·F`.
"""


def write_report(out: str | Path = "docs/validation") -> Path:
    """Run every anchor; write the figures into ``out`` and the report ``out.md``; return it."""
    from .results import atomic_write_bytes, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="adoptsim-validation-") as work:
        rep, figs = run_report(Path(work))
    for name, data in figs.items():
        atomic_write_bytes(out / name, data)
    md = out.with_suffix(".md")
    atomic_write_text(md, render_markdown(rep, out.name))
    for c in rep.checks:
        op = ">=" if c.at_least else "<="
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.anchor}: {c.case}: {c.measured:.4g} ({op} {c.tolerance:.4g})")
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m adoptsim.validation",
                                 description="Rerun the theory anchors and write the validation report.")
    ap.add_argument("--out", type=Path, default=Path("docs/validation"),
                    help="folder for the figures (default docs/validation); the report is <out>.md")
    args = ap.parse_args(argv)
    print(write_report(args.out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
