"""Theory the engine is validated against (docs/validation.md), computed from the documented
equations only (docs/model.md): nothing here calls the engine's choice kernel.

* **Bass** — the discrete recursion ``F[t+1] = F[t] + (1 − F[t])·(1 − exp(−(p + q·F[t])))``
  (mean adoption on a complete network with optimism 0.5), Bass's closed form, and the run-to-run
  standard deviation of the engine's binomial draws;
* **Logit** — ``softmax(U / T)`` of the documented utility (:func:`logit_utility`);
* **Brock–Durlauf** — with ``m = 2·share − 1`` the long-run share solves
  ``m = tanh((h + J·m) / (2T))`` (:func:`bd_equilibria`), and its sampling noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

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


def logit_utility(sc: dict) -> np.ndarray:
    """``U[n, s, v]`` of a logit-anchor scenario (a scenario dict, see
    :func:`adoptsim.validation.anchors.logit_scenario`) from the utility equation of docs/model.md
    (closed vendors, no peer, inertia or ecosystem term): ``w_cap·cap − w_cost·log(price/gdp)
    + w_trust·trust[n, o(v)] + w_inf·infrastructure[n, o(v)]`` with every weight times the
    sector's multiplier."""
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
