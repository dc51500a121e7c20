"""Ensemble runs: a scenario run over the members of a posterior (docs/experiments.md, "Ensembles").

**Members.** ``K`` members are drawn from the posterior by *systematic resampling* on the
weights (:func:`systematic_draws`): one uniform ``u`` from the seed's own child stream
``SeedSequence(seed, spawn_key=(ENSEMBLE_SPAWN,))``, then member ``i`` is drawn once for each
``(u + j) / K`` (``j = 0..K-1``) that falls in its slice of the cumulative weights. Each member
thus appears ``floor(K w_i)`` or ``ceil(K w_i)`` times; with ``K`` equal to the posterior size and
equal weights every member appears exactly once. The draws are sorted by member row.

**Deliberate changes win.** A member sets every posterior path of the scenario *except* a path
whose value in the scenario (resolved, ``extends`` applied) differs from the posterior's
``base`` value (its value in the calibrated scenario): there the scenario changed the value on
purpose (a library scenario that raises a policy severity) and its value is kept. The kept
paths are recorded in the manifest.

**Seeds.** Run (draw ``k``, replicate ``r``) uses ``SeedSequence(seed, spawn_key=(k, r))``
(:func:`ensemble_seed`); without an ensemble replicate ``r`` keeps
``SeedSequence(seed, spawn_key=(r,))`` (:func:`adoptsim.core.model.replicate_seed`). A run's
numbers depend only on its scenario and these seeds: never on the number of workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.schema import Scenario, parse_scenario
from ..errors import InputError, Problem
from ..io.posterior import Posterior
from .paths import apply_point, current_value, nearest_paths, valid_paths

#: The spawn key of the stream that draws the members (apart from every run's (k, r) keys).
ENSEMBLE_SPAWN = 0x656E73  # "ens"
#: Default number of members drawn (all members up to this many): 50 members x 2 replicates keep
#: the default baseline run to about half a minute on two cores; --members raises it.
DEFAULT_MEMBERS = 50
#: Default replicates per member with an ensemble, and without one.
DEFAULT_REPLICATES_ENSEMBLE = 2
DEFAULT_REPLICATES = 10
#: The grid of the systematic-resampling offset: u is the middle of one of 2**20 cells, so it is
#: never within 2**-21 of a cell edge of the cumulative weights because of rounding.
U_GRID = 2 ** 20


def systematic_draws(weights, k: int, u: float) -> np.ndarray:
    """Rows drawn by systematic resampling: for each ``j`` in ``0..k-1`` the row whose slice of
    the cumulative weights (scaled to ``k``) holds ``u + j``. ``u`` in ``[0, 1)``."""
    w = np.asarray(weights, dtype=float)
    if k < 1:
        raise ValueError("k must be >= 1")
    if w.ndim != 1 or not len(w) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError("weights must be finite, >= 0 and not all 0")
    edges = np.cumsum(w) / w.sum() * k
    edges[-1] = k  # the last edge exactly: no draw can fall past it by rounding
    return np.minimum(np.searchsorted(edges, u + np.arange(k), side="right"), len(w) - 1)


def draw_offset(seed: int) -> float:
    """The systematic-resampling offset of ``seed``: from its own child stream, on :data:`U_GRID`."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(ENSEMBLE_SPAWN,)))
    return (int(rng.integers(U_GRID)) + 0.5) / U_GRID


def draw_members(weights, k: int, seed: int) -> np.ndarray:
    """``k`` member rows drawn from ``weights`` reproducibly from ``seed`` (module docstring)."""
    return systematic_draws(weights, k, draw_offset(seed))


def ensemble_seed(seed: int, member: int, replicate: int) -> np.random.SeedSequence:
    """The SeedSequence of run (draw ``member``, replicate ``replicate``) of an ensemble run."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(member), int(replicate)))


@dataclass
class EnsemblePlan:
    """What an ensemble run runs: the posterior, the rows drawn (``draws[k]`` is the posterior
    member of draw k), the scenario of each distinct member, the paths members set (``applied``)
    and those the scenario kept (``kept``, with the scenario's and the base value)."""

    posterior: Posterior
    draws: list[int]
    scenarios: dict[int, Scenario]
    applied: list[str]
    kept: dict[str, dict] = field(default_factory=dict)

    @property
    def members(self) -> int:
        return len(self.draws)

    def members_table(self) -> pd.DataFrame:
        """``member`` (the draw, 0..K-1), ``posterior_member``, ``weight`` (posterior weight) and
        the values each draw's scenario runs with, one column per posterior path."""
        post = self.posterior.members.set_index("member")
        rows = []
        for k, m in enumerate(self.draws):
            point = self.posterior.point(m)
            for p, info in self.kept.items():
                point[p] = info["scenario"]
            rows.append({"member": k, "posterior_member": m, "weight": float(post.loc[m, "weight"]), **point})
        out = pd.DataFrame(rows)
        out["member"] = out["member"].astype(np.int32)
        out["posterior_member"] = out["posterior_member"].astype(np.int32)
        return out


def _same(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return a == b


def plan_ensemble(scenario: Scenario, raw: dict, posterior: Posterior, members: int, seed: int,
                  file: str, where: str = "meta.ensemble") -> EnsemblePlan:
    """Draw ``members`` members and build each distinct member's scenario from the merged raw
    data ``raw`` of ``scenario`` (:func:`adoptsim.experiments.paths.apply_point`, then the
    scenario schema). A posterior column that names no field of the scenario, or a member whose
    values make an invalid scenario, is an :class:`InputError` naming ``file`` and ``where``."""
    locators = valid_paths(scenario)
    problems = [Problem(file, where, f"{posterior.path}: column {p!r} names no field of this scenario"
                        + nearest_paths(p, list(locators))) for p in posterior.params if p not in locators]
    if problems:
        raise InputError(problems[:1])
    base = posterior.base
    kept = {}
    for p in posterior.params:
        if p in base:
            now = current_value(scenario, locators[p])
            if now is not None and not _same(now, base[p]):
                kept[p] = {"scenario": now, "base": base[p]}
    applied = [p for p in posterior.params if p not in kept]
    draws = [int(i) for i in draw_members(posterior.members["weight"].to_numpy(), members, seed)]
    scenarios: dict[int, Scenario] = {}
    for m in sorted(set(draws)):
        point = {p: v for p, v in posterior.point(m).items() if p in applied}
        try:
            scenarios[m] = parse_scenario(apply_point(raw, locators, point), file)
        except InputError as exc:
            first = exc.problems[0]
            raise InputError([Problem(file, where, f"{posterior.path}: member {m} makes an invalid scenario: "
                                      f"{first.field}: {first.message}")]) from None
    return EnsemblePlan(posterior, draws, scenarios, applied, kept)


@dataclass
class RunResult:
    """What a worker sends back for one run: its draw ``member``, ``replicate``, the value column
    and the :class:`~adoptsim.core.metrics.TidyLayout` of its rows (a few MB less to pickle than
    a DataFrame, and the parent repeats one layout instead of concatenating frames)."""

    member: int
    replicate: int
    value: np.ndarray
    layout: object  # adoptsim.core.metrics.TidyLayout

    def frame(self) -> pd.DataFrame:
        """This run's tidy table with an int32 ``member`` column first; labels as categories."""
        frame = self.layout.frame(self.value, self.replicate)
        frame.insert(0, "member", np.full(len(frame), self.member, dtype=np.int32))
        return frame


def run_member(scenario: Scenario, seed: int, member: int, replicate: int, ensemble: bool,
               metrics: tuple[str, ...] | None = None) -> RunResult:
    """One run (in a worker): (draw ``member``, replicate ``replicate``) as a :class:`RunResult`
    (its tidy table: :meth:`RunResult.frame`). Without an ensemble, ``member`` is 0 and the seed
    is today's replicate seed. ``metrics``: only these (default all)."""
    from ..core.metrics import tidy_arrays  # the model (Mesa) is loaded by runs only: validate stays fast
    from ..core.model import AdoptionModel, release, replicate_seed

    seq = ensemble_seed(seed, member, replicate) if ensemble else replicate_seed(seed, replicate)
    model = AdoptionModel(scenario, seq, create_community_agents=False, collect_agents=False)
    try:
        model.run()
        value, layout = tidy_arrays(model, metrics)
    finally:
        release(model)
    return RunResult(int(member), int(replicate), value, layout)


def concat_results(results: list[RunResult]) -> pd.DataFrame:
    """The runs' tidy tables in the order given (as :func:`concat_runs` of their frames). When
    every run has the same layout — the rule for a scenario's replicates and an ensemble's
    members — the table is that layout repeated, without building one frame per run."""
    if not results:
        raise ValueError("no runs")
    first = results[0].layout
    if not all(r.layout.same(first) for r in results[1:]):
        return concat_runs([r.frame() for r in results])
    n, rows = len(results), first.step.size

    def stacked(parts) -> np.ndarray:  # one row per run, flattened (plain copies, no np.tile/np.repeat)
        parts = list(parts)
        out = np.empty((n, rows), dtype=np.asarray(parts[0]).dtype)
        for i, part in enumerate(parts):
            out[i] = part
        return out.reshape(-1)

    cols = {"member": stacked(np.int32(r.member) for r in results),
            "replicate": stacked(np.int32(r.replicate) for r in results),
            "step": stacked([first.step] * n), "date": stacked([first.date] * n)}
    for col, cat in first.labels.items():
        cols[col] = pd.Categorical.from_codes(stacked([cat.codes] * n), dtype=cat.dtype)
    cols["value"] = stacked(r.value for r in results)
    return pd.DataFrame(cols, copy=False)


def concat_runs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The runs' tables in the order given, labels kept as categories (union of categories)."""
    from pandas.api.types import union_categoricals

    labels = ("scope", "scope_id", "metric", "key")
    out = pd.concat([f.drop(columns=list(labels)) for f in frames], ignore_index=True)
    for col in labels:
        out[col] = union_categoricals([f[col] for f in frames])
    cols = list(frames[0].columns)
    return out[cols]
