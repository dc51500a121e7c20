"""Community choices: first adoption, utilities, the multinomial logit and sampling.

The market the communities choose from — products, hosts, self-hosting, the base utility and
the nested logit — is in :mod:`adoptsim.core.market`.

Everything here is vectorised numpy over communities; no function loops over communities.
Notation: ``c`` community, ``n`` its nation, ``s`` its sector, ``v`` vendor, ``o(v)`` the
vendor's origin (a nation).
"""

from __future__ import annotations

import numpy as np


def first_adoption_probability(p: float, q: float, optimism: np.ndarray, education: np.ndarray,
                               neighbours_adopted: np.ndarray) -> np.ndarray:
    """Monthly probability that a non-adopting community adopts::

        P[c] = 1 − exp(−(p · 2·optimism[n] · education[n] + q · A[c]))

    ``A[c]`` is the size-weighted share of c's neighbours that have adopted (the world share on
    a complete network). With optimism 0.5 and education 1 on a complete network the expected
    adoption follows ``F[t+1] = F[t] + (1 − F[t])·(1 − exp(−(p + q·F[t])))``: Bass (1969) in
    discrete time, whose continuous limit is ``F(t) = (1 − e^{−(p+q)t}) / (1 + (q/p)·e^{−(p+q)t})``.
    """
    return -np.expm1(-(p * 2.0 * optimism * education + q * neighbours_adopted))


def utilities(base: np.ndarray, neighbour_share: np.ndarray, current: np.ndarray,
              w_peer: np.ndarray, w_inertia: np.ndarray) -> np.ndarray:
    """Full utility of the choosing communities, shape (m, V)::

        U[c,v] = U0[n(c), s(c), v] + w_peer[s]·neighbour_share[c,v] + w_inertia[s]·[v = current[c]]

    ``base`` is U0 already gathered for the m communities; ``current`` is −1 for non-adopters.
    """
    U = base + w_peer[:, None] * neighbour_share
    has = current >= 0
    rows = np.flatnonzero(has)
    U[rows, current[has]] += w_inertia[has]
    return U


def logit_probabilities(U: np.ndarray, available: np.ndarray, temperature: float) -> np.ndarray:
    """Multinomial logit over the available vendors::

        P[c,v] = exp(U[c,v]/T) / Σ_{u available} exp(U[c,u]/T)     (0 where v is unavailable)

    Rows with no available vendor are all zero. Computed stably (max subtracted per row).
    """
    everywhere = bool(available.all())
    Z = U / temperature if everywhere else np.where(available, U / temperature, -np.inf)
    zmax = column_max(Z)[:, None]
    if not everywhere:
        zmax = np.where(np.isfinite(zmax), zmax, 0.0)
    E = np.exp(Z - zmax)
    tot = E.sum(axis=1, keepdims=True)
    if everywhere:  # every row has a vendor, so tot >= 1
        return E / tot
    return np.divide(E, tot, out=np.zeros_like(E), where=tot > 0)


def column_max(Z: np.ndarray) -> np.ndarray:
    """Row maxima of a narrow (m, V) array, column by column (faster than Z.max(axis=1), exact)."""
    out = Z[:, 0].copy()
    for j in range(1, Z.shape[1]):
        np.maximum(out, Z[:, j], out=out)
    return out


def sample_choices(P: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draw one vendor per row of ``P`` by inverting its CDF with uniforms ``u`` in [0, 1).

    Returns the vendor index, or −1 for rows with no available vendor. The draw uses
    ``x = (1 − u)·Σ P`` > 0, so the chosen vendor always has a positive probability.
    """
    # the chosen index is the number of partial sums below x (capped at V − 1); partial sums are
    # accumulated column by column, in the same order as np.cumsum(P, axis=1), which is slow on
    # narrow rows
    m, V = P.shape
    cum = P[:, 0].copy()
    partial = []
    for j in range(1, V):
        partial.append(cum.copy())
        cum += P[:, j]
    total = cum
    x = (1.0 - u) * total
    idx = np.zeros(m, dtype=np.int64)
    for col in partial:
        idx += col < x
    return np.where(total > 0, idx, -1)
