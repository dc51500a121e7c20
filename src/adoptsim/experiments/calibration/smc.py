"""The ABC-SMC algorithm (adaptive population Monte Carlo ABC), without I/O: proposals,
importance weights, tolerance schedule and diagnostics (docs/calibration.md, "ABC-SMC").

The algorithm is Beaumont et al. (2009, *Biometrika* 96:983) with the adaptive tolerance of
Del Moral, Doucet & Jasra (2012, *Stat. Comput.* 22:1009) as pyabc implements it (a quantile of
the previous population's distances) and the Gaussian kernel of Filippi et al. (2013, *Stat.
Appl. Genet. Mol. Biol.* 12:87): covariance ``kernel_scale`` (2) times the weighted covariance
of the previous population. Parameters live in the unit cube (each prior range mapped onto
[0, 1]); every prior is uniform, so the prior density is constant inside the cube.

* Generation 0 is the prior: ``N`` Latin-hypercube points, equal weights, every one kept.
* Generation t ≥ 1: tolerance ``ε_t = max(final_epsilon, weighted q-quantile of the distances of
  generation t−1)``. Proposals come in **batches**: batch b of generation t draws its particles
  from its own random stream (``SeedSequence(seed, spawn_key=(CALIBRATION_SPAWN, t, b))``):
  pick a parent by weight, add MVN noise, redraw until inside the cube. Every proposal of a
  batch is run (through the sweep machinery), and only then are they accepted (distance ≤
  ε_t), so the result does not depend on the order in which runs finish or on the number of
  workers. Batches continue until ``N`` are accepted; the first ``N`` in proposal order are kept.
* Weights: ``w_i ∝ π(θ_i) / Σ_j W_j K(θ_i | θ_j)`` (π uniform; the kernel density is the
  untruncated normal, as in pyabc), normalised; effective sample size ``1 / Σ w²``.

``algorithm = "mcmc"`` is the resample-move ABC-SMC of Del Moral, Doucet & Jasra (2012) instead:
generation t keeps the particles of generation t−1 within ``ε_t`` (the q-quantile of their
distances), resamples ``N`` of them (systematic resampling) and moves each by one random-walk
Metropolis step (MVN with ``kernel_scale`` × the covariance of the kept particles, reflected at
the faces of the cube; accepted when within ``ε_t``, the uniform prior and the symmetric
reflected kernel cancelling in the Metropolis ratio). Every generation runs one batch of
``N`` particles and the weights stay equal, so it does not degenerate in many dimensions as importance weights do;
diversity is reported as the number of distinct particles.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import multivariate_normal

from ..designs import CALIBRATION_SPAWN


def batch_rng(seed: int, generation: int, batch: int) -> np.random.Generator:
    """The random stream of batch ``batch`` of generation ``generation``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(CALIBRATION_SPAWN, generation, batch)))


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The weighted q-quantile of ``x`` (inverse of the weighted empirical CDF, no interpolation)."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    order = np.argsort(x, kind="stable")
    cdf = np.cumsum(w[order]) / w.sum()
    return float(x[order][min(np.searchsorted(cdf, q, side="left"), len(x) - 1)])


def kernel_cov(units: np.ndarray, weights: np.ndarray, scale: float) -> np.ndarray:
    """``scale`` times the weighted covariance of the population (unit cube), with a small
    floor on the diagonal so a collapsed parameter can still move."""
    cov = np.atleast_2d(np.cov(units, rowvar=False, aweights=weights, ddof=0))
    return scale * cov + np.eye(units.shape[1]) * 1e-8


def propose(rng: np.random.Generator, units: np.ndarray, weights: np.ndarray, cov: np.ndarray, n: int,
            max_tries: int = 1000) -> np.ndarray:
    """``n`` proposals: a parent by weight, plus MVN(0, cov) noise, redrawn until inside [0, 1]^d."""
    d = units.shape[1]
    chol = np.linalg.cholesky(cov)
    out = np.empty((n, d))
    for i in range(n):
        for _ in range(max_tries):
            j = rng.choice(len(units), p=weights)
            x = units[j] + chol @ rng.standard_normal(d)
            if np.all((x >= 0.0) & (x <= 1.0)):
                break
        else:  # pragma: no cover - only with a kernel far wider than the cube
            x = np.clip(x, 0.0, 1.0)
        out[i] = x
    return out


def importance_weights(new: np.ndarray, units: np.ndarray, weights: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Normalised weights of accepted particles ``new`` given the previous population."""
    dens = np.zeros(len(new))
    for x, w in zip(units, weights):
        dens += w * multivariate_normal.pdf(new, mean=x, cov=cov, allow_singular=True).reshape(len(new))
    raw = 1.0 / dens
    return raw / raw.sum()


def reflect(x: np.ndarray) -> np.ndarray:
    """Fold values into [0, 1] by reflection at 0 and 1 (period 2)."""
    r = np.mod(x, 2.0)
    return np.where(r <= 1.0, r, 2.0 - r)


def move(rng: np.random.Generator, units: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """One random-walk Metropolis proposal per particle: MVN(0, cov) noise, reflected into the
    unit cube. The reflected Gaussian kernel is symmetric, so with a uniform prior the
    Metropolis ratio is 1 inside the cube (a kernel that rejected proposals outside the cube
    would almost never stay inside in many dimensions: 47 coordinates)."""
    chol = np.linalg.cholesky(cov)
    return reflect(units + rng.standard_normal(units.shape) @ chol.T)


def resample(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` particles drawn by weight (systematic resampling: one uniform draw)."""
    w = np.asarray(weights, float)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, (rng.random() + np.arange(n)) / n, side="left")


def ess(weights: np.ndarray) -> float:
    """Effective sample size 1 / Σ w² of normalised weights."""
    w = np.asarray(weights, float)
    w = w / w.sum()
    return float(1.0 / np.sum(w ** 2))


def next_batch_size(population: int, accepted: int, proposed: int, limit: int) -> int:
    """How many particles the next batch proposes: enough to complete the population at the
    acceptance rate seen so far in the generation (the first batch: ``population``), with 20%
    slack, at least half the population (each batch is a sweep: few large ones), within the
    generation's ``limit`` of proposals."""
    need = population - accepted
    if proposed == 0:
        size = population
    else:
        rate = max(accepted / proposed, 1.0 / proposed)
        size = math.ceil(1.2 * need / rate)
    return int(max(0, min(max(size, math.ceil(0.5 * population)), limit - proposed)))
