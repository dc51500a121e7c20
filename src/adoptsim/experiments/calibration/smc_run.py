"""``adoptsim calibrate`` with ``[method] kind = "smc"``: ABC-SMC on the sweep runner, resumable,
writing a weighted posterior ensemble (docs/calibration.md, "ABC-SMC").

The algorithm is :mod:`.smc`. Every batch of proposals is one sweep
(:func:`adoptsim.experiments.runner.run_sweep`: local processes or Dask, replicate r of every
particle with the same seed — common random numbers), stored in
``OUT/generations/NN/batch_BB/``; a finished generation is stored as
``OUT/generations/NN/population.parquet``. Proposals depend only on the seed and on finished
batches, so the posterior is the same whatever the number of workers, and ``--resume`` after a
kill (even SIGKILL) recomputes the same proposals, skips the stored runs and continues.

**Outputs** in OUT: ``posterior.parquet`` (the contract in docs/calibration.md: ``member``,
``weight``, one column per parameter path; key-value metadata ``adoptsim.posterior``),
``generations.parquet`` (per generation: ``epsilon``, ``proposed``, ``accepted``,
``acceptance_rate``, ``ess``, ``unique`` (distinct particles), ``runs``, ``batches``, ``complete``), ``identification.parquet``
(per parameter: prior range, base value, weighted mean and 10/50/90% quantiles, ``width_ratio`` =
posterior 10–90% width / prior width, ``identified``), ``targets.parquet`` (per target: observed
value and band, prior and posterior 10/50/90% of the simulated value), ``fit.json`` (all of it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import AdoptsimError
from ...io.atomic import atomic_write_text, check_out_dir, out_lock
from ...io.manifest import build_manifest
from ...io.tables import read_parquet, write_table
from ..budget import Budget, check_runs
from ..designs import CALIBRATION_SPAWN, unit_design
from ..paths import current_value
from ..runner import run_sweep
from ..executors import process_pool
from .abc import calibration_experiment
from .posterior import identification, posterior_frame, posterior_targets, write_posterior
from .smc import (batch_rng, ess, importance_weights, kernel_cov, move, next_batch_size, propose, resample,
                  weighted_quantile)
from .spec import Calibration
from .targets import distances, month_text, run_values

GENERATION_COLUMNS = ["generation", "epsilon", "proposed", "accepted", "acceptance_rate", "ess", "unique", "runs",
                      "batches", "complete"]


METHODS = {"mcmc": "resample-move, Del Moral et al. 2012", "pmc": "population Monte Carlo, Beaumont et al. 2009"}


def kernel_scale(cal: Calibration) -> float:
    """The kernel's covariance factor: the spec's, else 2 (pmc: Beaumont et al. 2009) or
    2.38² / d (mcmc: the random-walk Metropolis scaling of Roberts & Rosenthal 2001)."""
    m = cal.spec.method
    if m.kernel_scale is not None:
        return float(m.kernel_scale)
    return 2.0 if m.algorithm == "pmc" else 2.38 ** 2 / len(cal.paths)


def unique_count(cal: Calibration, pop: pd.DataFrame) -> int:
    """Number of distinct particles of a population."""
    return int(len(np.unique(unit_matrix(cal, pop), axis=0)))


@dataclass
class SmcReport:
    """What :func:`run_smc` did (the CLI prints :meth:`summary`)."""

    out: Path
    posterior_path: Path
    posterior: pd.DataFrame
    generations: pd.DataFrame
    fit: pd.DataFrame
    targets: pd.DataFrame
    elapsed: float
    posterior_title: str = ""
    calibration_title: str = ""
    figures: list[Path] = field(default_factory=list)

    @property
    def scenario_path(self) -> Path:
        return self.posterior_path

    @property
    def accepted(self) -> int:
        return len(self.posterior)

    @property
    def rule(self) -> str:
        return f"ABC-SMC, {len(self.generations) - 1} generation(s) after the prior"

    @property
    def distance(self) -> float:
        return float(self.generations["epsilon"].iloc[-1])

    def summary(self) -> str:
        g = self.generations
        lines = [f"calibration (ABC-SMC): {len(self.posterior)} members, {len(g)} generations, "
                 f"{int(g['runs'].sum())} runs, final epsilon {self.distance:.3g}; {self.elapsed:.1f} s -> {self.out}"]
        for r in g.itertuples(index=False):
            lines.append(f"  generation {r.generation}: epsilon {r.epsilon:.3g}, accepted {r.accepted}/{r.proposed} "
                         f"({r.acceptance_rate:.0%}), ESS {r.ess:.0f}, {r.unique:.0f} distinct"
                         + ("" if r.complete else " (stopped)"))
        for r in self.fit.itertuples(index=False):
            lines.append(f"  {r.parameter}: {r.q50:.4g} (10-90%: {r.q10:.4g} .. {r.q90:.4g}; prior {r.prior_low:g} .. "
                         f"{r.prior_high:g}; width ratio {r.width_ratio:.2f}, {r.identified})")
        lines.append(f"posterior: {self.posterior_path}")
        return "\n".join(lines)


# ---- parameters <-> unit cube ------------------------------------------------------------------

def bounds(cal: Calibration) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([p.range[0] for p in cal.parameters], float),
            np.array([p.range[1] for p in cal.parameters], float))


def balanced(cal: Calibration) -> dict[str, list[str]]:
    """Fields that take up the change of others (``balance`` of a prior): field -> the paths."""
    out: dict[str, list[str]] = {}
    for p in cal.parameters:
        b = getattr(p, "balance", None)
        if b:
            out.setdefault(b, []).append(p.path)
    return out


def to_points(cal: Calibration, units: np.ndarray) -> list[dict[str, Any]]:
    """Design points (path -> value, whole numbers rounded) of unit-cube particles, with each
    balancing field set so that the sum over it and its paths is unchanged from the base."""
    lo, hi = bounds(cal)
    bal = balanced(cal)
    base = {b: float(current_value(cal.base, cal.locators[b])) for b in bal}
    base.update({p: float(current_value(cal.base, cal.locators[p])) for ps in bal.values() for p in ps})
    points = []
    for u in np.atleast_2d(units):
        x = lo + u * (hi - lo)
        pt: dict[str, Any] = {p: (int(round(v)) if cal.integer[p] else float(v)) for p, v in zip(cal.paths, x)}
        for b, ps in bal.items():
            pt[b] = float(base[b] - sum(pt[p] - base[p] for p in ps))
        points.append(pt)
    return points


# ---- one batch: a sweep of proposals -----------------------------------------------------------

def shard_values(path: Path, scenario, targets: list, point: int, replicate: int) -> pd.DataFrame:
    """The target values of one stored run (in a worker process)."""
    frame = read_parquet(path)
    frame["replicate"] = int(replicate)
    vals = run_values(frame, scenario, targets)
    vals.insert(0, "point", int(point))
    return vals


def batch_values(cal: Calibration, exp, folder: Path, workers: int | None, scheduler: str | None) -> pd.DataFrame:
    """Every successful run's target values (columns point, replicate, one per target id), read
    from the sweep folder by a local process pool of ``workers`` (in-process with one worker or a
    Dask scheduler: the shards are local files); the order is the runs table's."""
    runs = read_parquet(folder / "runs.parquet")
    ok = runs[runs["status"] == "ok"][["point", "replicate", "run_key"]]
    jobs = [(folder / "runs" / f"{key}.parquet", exp.point_scenario(int(point)), cal.targets, int(point), int(rep))
            for point, rep, key in ok.itertuples(index=False)]
    n = 1 if scheduler else max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if n == 1 or len(jobs) < 64:  # starting processes costs more than reading a few runs
        parts = [shard_values(*job) for job in jobs]
    else:
        pool = process_pool(n)
        try:
            parts = list(pool.map(shard_values, *zip(*jobs), chunksize=max(1, len(jobs) // (4 * n))))
        finally:
            pool.shutdown(wait=True)
    ids = [t.id for t in cal.targets]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["point", "replicate", *ids])


def run_batch(cal: Calibration, folder: Path, units: np.ndarray, run: dict) -> pd.DataFrame:
    """Run the particles ``units`` as one sweep in ``folder``; one row per particle: its values,
    unit coordinates ``u:<path>``, replicate medians ``sim:<id>`` and ``distance``."""
    points = to_points(cal, units)
    exp = calibration_experiment(cal, points)
    run_sweep(exp, folder, resume=True, **run)
    ids = [t.id for t in cal.targets]
    values = batch_values(cal, exp, folder, run.get("workers"), run.get("scheduler"))
    if values.empty:  # every run failed: every particle is infinitely far
        med = pd.DataFrame(np.nan, index=range(len(points)), columns=ids)
    else:
        med = values.groupby("point")[ids].median().reindex(range(len(points)))
    frame = pd.DataFrame(points)
    for j, p in enumerate(cal.paths):
        frame[f"u:{p}"] = units[:, j]
    for t in cal.targets:
        frame[f"sim:{t.id}"] = med[t.id].to_numpy(dtype=float)
    frame["distance"] = distances(cal.targets, med)
    return frame


def unit_matrix(cal: Calibration, frame: pd.DataFrame) -> np.ndarray:
    return frame[[f"u:{p}" for p in cal.paths]].to_numpy(dtype=float)


def generation_zero(cal: Calibration, out: Path, run: dict) -> tuple[pd.DataFrame, dict]:
    """The prior: ``population`` Latin-hypercube particles, equal weights, all kept."""
    n = cal.spec.method.population
    units = unit_design("lhs", len(cal.paths), n, cal.spec.seed, CALIBRATION_SPAWN)
    pop = run_batch(cal, out / "generations" / "00" / "batch_00", units, run)
    pop["weight"] = 1.0 / n
    finite = pop["distance"][np.isfinite(pop["distance"])]
    eps = float(finite.max()) if len(finite) else math.inf
    return pop, {"generation": 0, "epsilon": eps, "proposed": n, "accepted": n, "acceptance_rate": 1.0,
                 "ess": float(n), "unique": n, "runs": n * cal.spec.replicates, "batches": 1, "complete": True}


def next_generation(cal: Calibration, out: Path, t: int, prev: pd.DataFrame, eps: float, run: dict
                    ) -> tuple[pd.DataFrame | None, dict]:
    """Generation ``t``: batches of proposals until ``population`` are within ``eps`` (None when
    the generation's proposal limit, population / min_acceptance, is reached first)."""
    m = cal.spec.method
    n = m.population
    units, w = unit_matrix(cal, prev), prev["weight"].to_numpy(dtype=float)
    cov = kernel_cov(units, w, kernel_scale(cal))
    limit = int(math.ceil(n / m.min_acceptance))
    parts: list[pd.DataFrame] = []
    proposed = accepted = b = 0
    while accepted < n:
        size = next_batch_size(n, accepted, proposed, limit)
        if size <= 0:
            break
        new = propose(batch_rng(cal.spec.seed, t, b), units, w, cov, size)
        frame = run_batch(cal, out / "generations" / f"{t:02d}" / f"batch_{b:02d}", new, run)
        parts.append(frame[frame["distance"] <= eps])
        proposed, accepted, b = proposed + size, accepted + int((frame["distance"] <= eps).sum()), b + 1
    row = {"generation": t, "epsilon": float(eps), "proposed": proposed, "accepted": min(accepted, n),
           "acceptance_rate": accepted / proposed if proposed else 0.0, "ess": float("nan"), "unique": min(accepted, n),
           "runs": proposed * cal.spec.replicates, "batches": b, "complete": accepted >= n}
    if accepted < n:
        return None, row
    pop = pd.concat(parts, ignore_index=True).iloc[:n].reset_index(drop=True)
    pop["weight"] = importance_weights(unit_matrix(cal, pop), units, w, cov)
    row["ess"] = ess(pop["weight"].to_numpy())
    return pop, row


def move_generation(cal: Calibration, out: Path, t: int, prev: pd.DataFrame, eps: float, run: dict
                    ) -> tuple[pd.DataFrame, dict]:
    """Generation ``t`` of the resample-move algorithm (``algorithm = "mcmc"``, see :mod:`.smc`):
    resample ``population`` particles among those of generation t−1 within ``eps`` and move each
    by one Metropolis step, run as one batch. The population is always complete."""
    n = cal.spec.method.population
    alive = prev[prev["distance"] <= eps].reset_index(drop=True)
    w = alive["weight"].to_numpy(dtype=float)
    rng = batch_rng(cal.spec.seed, t, 0)
    start = alive.iloc[resample(rng, w, n)].reset_index(drop=True)
    cov = kernel_cov(unit_matrix(cal, alive), w, kernel_scale(cal))
    prop = move(rng, unit_matrix(cal, start), cov)
    frame = run_batch(cal, out / "generations" / f"{t:02d}" / "batch_00", prop, run)
    ok = (frame["distance"] <= eps).to_numpy()
    pop = start.copy()
    for col in frame.columns:
        vals = pop[col].to_numpy(dtype=frame[col].dtype, copy=True)
        vals[ok] = frame[col].to_numpy()[ok]
        pop[col] = vals
    accepted = int(ok.sum())
    pop["weight"] = 1.0 / n
    row = {"generation": t, "epsilon": float(eps), "proposed": n, "accepted": accepted,
           "acceptance_rate": accepted / n, "ess": float(n), "unique": unique_count(cal, pop),
           "runs": n * cal.spec.replicates, "batches": 1, "complete": True}
    return pop, row


# ---- the folder ------------------------------------------------------------------------------

def smc_hash(cal: Calibration) -> str:
    """What a resumed calibration must share with the stored one: spec, priors, targets, scenario."""
    h = hashlib.sha256()
    for part in (cal.text, cal.priors_file.read_text() if cal.priors_file else "", cal.targets_file.read_text(),
                 cal.base.digest(), json.dumps(cal.spec.model_dump(), sort_keys=True, default=str)):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def check_folder(out: Path, cal: Calibration, resume: bool) -> str:
    digest = smc_hash(cal)
    if check_out_dir(out, resume, "pass --resume to continue the calibration stored there"):
        try:
            stored = json.loads((out / "smc.json").read_text()).get("hash")
        except (OSError, json.JSONDecodeError, AttributeError):
            raise AdoptsimError(f"{out}: --resume: not an ABC-SMC calibration folder (smc.json missing or "
                                "unreadable)") from None
        if stored != digest:
            raise AdoptsimError(f"{out}: --resume: this folder holds a different calibration (spec, priors, targets "
                                "or scenario changed); choose another --out")
    return digest


def stored_generation(out: Path, t: int) -> tuple[pd.DataFrame, dict] | None:
    """A finished generation stored by an earlier (killed) run: its population and record."""
    folder = out / "generations" / f"{t:02d}"
    try:
        pop = read_parquet(folder / "population.parquet")
        row = json.loads((folder / "generation.json").read_text())
    except (OSError, ValueError):
        return None
    return pop, row


def store_generation(out: Path, t: int, pop: pd.DataFrame | None, row: dict) -> None:
    folder = out / "generations" / f"{t:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    if pop is not None:
        write_table(pop, folder / "population", "parquet")
    atomic_write_text(folder / "generation.json", json.dumps(row, sort_keys=True) + "\n")


def run_smc(cal: Calibration, out: str | Path, workers: int | None = None, scheduler: str | None = None,
            resume: bool = False, posterior_out: str | Path | None = None, progress=None,
            budget: Budget | None = None) -> SmcReport:
    """Run (or resume) an ABC-SMC calibration into ``out`` (see the module docstring)."""
    t0 = time.perf_counter()
    out = Path(out)
    m = cal.spec.method
    most = m.population * (1 + m.generations * math.ceil(1 / m.min_acceptance)) * cal.spec.replicates
    check_runs(f"{cal.file}: ABC-SMC, population {m.population} x {m.generations} generation(s) x "
               f"{cal.spec.replicates} replicate(s) (at most)", m.population * cal.spec.replicates, budget)
    if posterior_out is not None and not Path(posterior_out).parent.is_dir():
        raise AdoptsimError(f"{posterior_out}: --posterior-out: folder {Path(posterior_out).parent} does not exist")
    digest = check_folder(out, cal, resume)
    out.mkdir(parents=True, exist_ok=True)
    run = {"workers": workers, "scheduler": scheduler, "progress": progress, "budget": budget}
    with out_lock(out):
        atomic_write_text(out / "smc.json", json.dumps({"hash": digest, "spec": cal.file}) + "\n")
        got = stored_generation(out, 0)
        if got is None:
            got = generation_zero(cal, out, run)
            store_generation(out, 0, *got)
        prior, row0 = got
        row0.setdefault("unique", unique_count(cal, prior))
        pops, rows = [prior], [row0]
        for t in range(1, m.generations + 1):
            prev = pops[-1]
            if rows[-1]["epsilon"] <= m.final_epsilon:
                break
            eps = max(m.final_epsilon, weighted_quantile(prev["distance"], prev["weight"], m.quantile))
            got = stored_generation(out, t)
            if got is None:
                step = move_generation if m.algorithm == "mcmc" else next_generation
                got = step(cal, out, t, prev, eps, run)
                store_generation(out, t, *got)
            pop, row = got
            rows.append(row)
            if pop is None:
                break
            pops.append(pop)
            if m.algorithm == "mcmc" and row["acceptance_rate"] < m.min_acceptance:
                break  # the moves hardly move: more generations would only shrink epsilon
        post = pops[-1]
        result = finish(cal, out, prior, post, rows, posterior_out, most, t0)
    return result


def finish(cal: Calibration, out: Path, prior: pd.DataFrame, post: pd.DataFrame, rows: list[dict],
           posterior_out: str | Path | None, most: int, t0: float) -> SmcReport:
    """Write the posterior, the diagnostics tables and fit.json."""
    gens = pd.DataFrame(rows, columns=GENERATION_COLUMNS)
    frame = posterior_frame(cal, post)
    meta = posterior_meta(cal, len(gens) - 1)
    write_posterior(frame, out / "posterior.parquet", meta)
    target = out / "posterior.parquet"
    if posterior_out is not None:
        target = Path(posterior_out)
        write_posterior(frame, target, meta)
    write_table(gens, out / "generations", "parquet")
    fit = identification(cal, post)
    write_table(fit, out / "identification", "parquet")
    tdf = posterior_targets(cal, prior, post)
    write_table(tdf, out / "targets", "parquet")
    info = build_manifest(
        "calibration", spec=cal.file, scenario_file=str(cal.scenario_file), targets_file=str(cal.targets_file),
        priors_file=str(cal.priors_file) if cal.priors_file else None, method=meta["method"],
        population=cal.spec.method.population, replicates=cal.spec.replicates, seed=cal.spec.seed,
        horizon=cal.horizon, posterior=str(target), runs_at_most=most,
        generations=[{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                     for r in gens.to_dict("records")],
        parameters=fit.to_dict("records"),
        targets=[{k: (month_text(r[k]) if r["kind"] == "month" and k in ("observed", "low", "high") or
                      (r["kind"] == "month" and k.endswith(("_q10", "_q50", "_q90")) and np.isfinite(r[k]))
                      else r[k]) for k in r} for r in tdf.to_dict("records")],
        elapsed_seconds=round(time.perf_counter() - t0, 3))
    atomic_write_text(out / "fit.json", json.dumps(info, indent=2, default=str) + "\n")
    name = Path(cal.file).stem
    return SmcReport(out=out, posterior_path=target, posterior=frame, generations=gens, fit=fit, targets=tdf,
                     elapsed=time.perf_counter() - t0,
                     posterior_title=f"{name}: prior and ABC-SMC posterior ({len(frame)} members, "
                                     f"{len(gens) - 1} generations, epsilon {gens['epsilon'].iloc[-1]:.3g})",
                     calibration_title=f"{name}: simulated vs observed (prior = generation 0; posterior weighted)")


def posterior_meta(cal: Calibration, generations: int) -> dict:
    """The ``adoptsim.posterior`` metadata of the posterior file (docs/calibration.md)."""
    from ... import __version__

    lo, hi = bounds(cal)
    priors = {p: [float(a), float(b)] for p, a, b in zip(cal.paths, lo, hi)}
    base = {p: current_value(cal.base, cal.locators[p]) for p in cal.paths}
    for b, ps in balanced(cal).items():
        cur = float(current_value(cal.base, cal.locators[b]))
        span = [cur - sum(float(priors[p][1]) - float(base[p]) for p in ps),
                cur - sum(float(priors[p][0]) - float(base[p]) for p in ps)]
        priors[b], base[b] = span, cur
    return {"format": 1, "scenario": cal.spec.scenario,
            "scenario_sha256": hashlib.sha256(cal.scenario_file.read_bytes()).hexdigest(),
            "base": base, "priors": priors, "method": f"ABC-SMC (adoptsim, {METHODS[cal.spec.method.algorithm]}; population "
            f"{cal.spec.method.population}, quantile {cal.spec.method.quantile}, MVN kernel x{kernel_scale(cal):.3g})",
            "seed": cal.spec.seed, "generations": generations, "created_by": f"adoptsim {__version__}"}
