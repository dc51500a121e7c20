"""Vendor dynamics grounded in evidence: compute, efficiency spillovers, capability, derivatives.

Pure, vectorised functions of whole vendor arrays, called each month by
:class:`adoptsim.core.populations.VendorPopulation`. Notation: vendor v of origin o, month t (0 = start),
``Δ = 1/12`` year. Each equation, its unit and its source is in ``docs/model.md`` ("Vendors").

* **Chip supply** (:attr:`adoptsim.state.WorldState.chip_supply`):
  ``supply[o] = min(1, chip_access[o] + domestic[o]·domestic_mult[o])`` — ``chip_access`` is the
  share of world-frontier accelerators nation o can buy (export controls and retaliation multiply
  it); ``domestic`` is its domestic accelerator production in frontier-chip equivalents, as a
  share of what full access would give (domestic build-out adds to it), ``domestic_mult`` a
  factor of equipment/HBM controls on it. Policies only multiply factors or add gains, and the
  terms are combined once, so policy effects commute and an import control never cuts the
  domestic build-out.
* **Compute stock** (:func:`compute_flow`): usable compute is a stock of installed accelerators,
  ``K[v](0) = compute[v]`` (the lab's usable compute at the start, scaled to the cited national
  shares), and each month adds the lab's share of the world's new chips,
  ``K[v](t) = K[v](t−1) + compute[v]·(G(t) − G(t−1))·compute_mult[o]·supply[o](t)/supply0[o]``
  with ``G(t) = (1 + compute_growth)^(t/12)`` (world AI compute, doubling every ~9 months,
  Epoch AI 2025-06-05) and ``supply0`` the supply of the scenario's base world: under the start's
  conditions a lab keeps its share of world compute; a control or a build-out changes the
  flow of new chips, not the installed stock.
* **Efficiency** (:func:`advance_efficiency`), ``ℓ = log efficiency``::

      ℓ[v] += Δ·( efficiency_growth
                  + train_smarter·(1 − supply[o])·(1 − E[v]/max_u E[u])
                  + spillover_open·max(0, ℓ_open* − ℓ[v]) + spillover_closed·max(0, ℓ_closed* − ℓ[v]) )

  ``ℓ_open*`` is the best efficiency among released open-weight vendors (weights and papers are
  public), ``ℓ_closed*`` among the others; algorithmic progress common to all labs (Ho et al.
  2024, compute for a given performance halves every ~8 months), chip-constrained labs train
  smarter (seed 003), and techniques diffuse toward the leader, faster from open releases.
* **Capability** (:func:`capability_ceiling`): a log production function in effective compute
  ``E[v] = K[v]·efficiency[v]`` — ``C*[v] = C_ref + compute_returns·log(E[v]/E_ref)`` — each
  e-fold of effective compute is worth ``compute_returns`` points (log-linear returns: scaling
  laws, Kaplan et al. 2020, Hoffmann et al. 2022). ``E_ref`` is the largest effective compute at
  the start and ``C_ref`` the best capability on the market at the start plus ``frontier_gap``.
  A lab closes the share ``capability_growth·Δ`` of its gap to ``C*`` per month and never loses
  capability. The frontier is the best lab, ``max_v C[v]``; its growth is an outcome.
* **Open lag** (:func:`open_lag_months`): months by which the best released open-weight model
  trails the best released closed one: their capability gap divided by the closed frontier's
  mean monthly growth over the last ``LAG_WINDOW`` months (Epoch AI 2025-10-30 measures ~3.5).
* **Derivatives** (:func:`derivative_increment`): open vendors gain
  ``derivative_rate·derivative_mult[v]·fine_tunability[v]·license_permissiveness[v]·developers on v / 1000``
  per month: derivatives grow with the developer base and with how easily and how freely the
  family can be fine-tuned and redistributed.
"""

from __future__ import annotations

import math

import numpy as np

LAG_WINDOW = 12  # months over which the closed frontier's recent growth is measured


def world_compute_index(compute_growth: float, t: int) -> float:
    """``G(t) = (1 + compute_growth)^(t/12)``: world AI compute relative to the start."""
    return (1.0 + compute_growth) ** (t / 12.0)


def compute_flow(base_compute: np.ndarray, compute_growth: float, t: int, compute_mult: np.ndarray,
                 supply: np.ndarray, supply0: np.ndarray) -> np.ndarray:
    """Usable compute added in month t (≥ 1): the lab's share of the world's new chips, scaled by
    its origin's investment multiplier and its chip supply relative to the start's."""
    new = world_compute_index(compute_growth, t) - world_compute_index(compute_growth, t - 1)
    rel = np.divide(supply, supply0, out=np.zeros_like(supply), where=supply0 > 0)
    return base_compute * new * compute_mult * rel


def advance_efficiency(log_eff: np.ndarray, E: np.ndarray, supply: np.ndarray, released_open: np.ndarray,
                       efficiency_growth: float, train_smarter: float, spillover_open: float,
                       spillover_closed: float, dt: float = 1.0 / 12.0) -> np.ndarray:
    """One month of log efficiency (see the module docstring)."""
    behind = 1.0 - E / E.max()
    gain = efficiency_growth + train_smarter * (1.0 - supply) * behind
    if released_open.any():
        gain = gain + spillover_open * np.maximum(log_eff[released_open].max() - log_eff, 0.0)
    if (~released_open).any():
        gain = gain + spillover_closed * np.maximum(log_eff[~released_open].max() - log_eff, 0.0)
    return log_eff + dt * gain


def capability_ceiling(E: np.ndarray, E_ref: float, C_ref: float, compute_returns: float) -> np.ndarray:
    """``C*[v] = C_ref + compute_returns·log(E[v]/E_ref)``; −inf for a vendor without compute."""
    with np.errstate(divide="ignore"):
        return C_ref + compute_returns * np.log(E / E_ref)


def advance_capability(C: np.ndarray, ceiling: np.ndarray, capability_growth: np.ndarray,
                       dt: float = 1.0 / 12.0) -> np.ndarray:
    """Close the share ``min(1, capability_growth·Δ)`` of the gap to the ceiling; never fall."""
    rate = np.minimum(1.0, capability_growth * dt)
    return C + rate * np.maximum(ceiling - C, 0.0)


def derivative_increment(is_open: np.ndarray, derivative_rate: float, derivative_mult: np.ndarray,
                         fine_tunability: np.ndarray, permissiveness: np.ndarray,
                         devs_on: np.ndarray) -> np.ndarray:
    """Derivatives added this month (open vendors only)."""
    return np.where(is_open, derivative_rate * derivative_mult * fine_tunability * permissiveness
                    * devs_on / 1000.0, 0.0)


def open_lag_months(closed_best, open_best: float) -> float:
    """Months by which the best open model trails the best closed one.

    ``closed_best`` (a sequence of floats) is the best released closed capability of every
    month so far, or of the last ``LAG_WINDOW + 1`` months at least (this month last); the gap
    ``closed_best[-1] − open_best`` is divided by the closed frontier's mean monthly growth over
    the last ``LAG_WINDOW`` months (fewer at the start). NaN in the first month, when either
    side has no released model, or when the closed frontier did not grow."""
    k = min(LAG_WINDOW, len(closed_best) - 1)
    if k < 1 or not math.isfinite(open_best) or not math.isfinite(closed_best[-1]) \
            or not math.isfinite(closed_best[-1 - k]):
        return float("nan")
    growth = (closed_best[-1] - closed_best[-1 - k]) / k
    if growth <= 0:
        return float("nan")
    return float((closed_best[-1] - open_best) / growth)
