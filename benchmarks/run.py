"""adoptsim benchmarks: scaling, the engine against plain Mesa, the baseline and sweeps.

    python benchmarks/run.py            # the full run (several minutes): prints the tables
    python benchmarks/run.py --quick    # a smoke test (< 1 minute): small sizes, asserts it works

Every figure comes from a fresh subprocess, so peak memory (``ru_maxrss``) is the peak of
that measurement alone. Scenarios are synthetic (``synth.py``): 20 nations, 4 sectors,
12 vendors, a regional network of degree 8, two policies, written as TOML to a temporary
folder and loaded through ``adoptsim.io.scenario_files.load_scenario``. Timings are wall-clock on
one core; on a shared machine they are noisy (run twice, compare).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def _rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _current_rss_mb() -> float:
    """Resident memory now, MB (Linux /proc; the peak where that is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return _rss_mb()


# ---- measurements (each runs inside its own subprocess) -----------------------------------

def measure_scaling(n: int, months: int, agents: bool) -> dict:
    """Build and run one synthetic scenario of ``n`` communities for ``months`` months."""
    import numpy as np

    from adoptsim.core.populations import CommunityLayout
    from adoptsim.core.metrics import tidy
    from adoptsim.core.model import AdoptionModel, replicate_seed
    from adoptsim.core.network import build_network
    from adoptsim.core.state import WorldIndex
    from synth import synthetic

    sc = synthetic(n, months)
    rss0 = _rss_mb()
    # the network alone (as AdoptionModel builds it)
    idx = WorldIndex.build([x.id for x in sc.nations], [v.id for v in sc.vendors], list(sc.sectors),
                           [x.region for x in sc.nations], [v.origin for v in sc.vendors])
    layout = CommunityLayout.layout(sc, idx)
    t = time.perf_counter()
    W = build_network(sc.network.kind, layout.nation, idx.nation_region[layout.nation], layout.size,
                      degree=sc.network.degree, cross_border=sc.network.cross_border,
                      same_region=sc.network.same_region, rewire=sc.network.rewire,
                      rng=np.random.default_rng(1))
    network_s = time.perf_counter() - t
    del W
    t = time.perf_counter()
    model = AdoptionModel(sc, replicate_seed(7, 0), create_community_agents=agents)
    build_s = time.perf_counter() - t
    rss_built = _current_rss_mb()
    steps = []
    cpu = time.process_time()
    for _ in range(months):
        t = time.perf_counter()
        model.step()
        steps.append(time.perf_counter() - t)
    cpu = time.process_time() - cpu
    t = time.perf_counter()
    df = tidy(model)
    tidy_s = time.perf_counter() - t
    defined = (df["metric"] != "open_lag_months").to_numpy()  # the open lag is NaN in the first month
    assert len(df) > 0 and np.isfinite(df["value"].to_numpy()[defined]).all()
    adoption = float(df[(df.metric == "adoption") & (df.scope == "world")]["value"].iloc[-1])
    assert 0.0 <= adoption <= 1.0
    if agents:
        from adoptsim.core.agents import Community
        assert len(model.agents_by_type[Community]) == n
    run_s = sum(steps)
    return {
        "communities": n, "months": months, "agents": agents, "network_s": network_s, "build_s": build_s,
        "run_s": run_s, "run_cpu_s": cpu, "s_per_step": run_s / months, "us_per_community_step": run_s / months / n * 1e6,
        "max_step_s": max(steps), "tidy_s": tidy_s, "total_s": build_s + run_s + tidy_s,
        "peak_mb": _rss_mb(), "rss_after_import_mb": rss0, "rss_after_build_mb": rss_built, "adoption": adoption,
    }


def scaled_baseline(n: int, months: int | None = None):
    """The baseline world (scenarios/baseline.toml: 33 nations, 12 vendors, 15 products, nested
    logit, regional network, 16 policies) with ``per_nation`` scaled to about ``n`` communities."""
    sc = _baseline()
    per = max(1, round(n / len(sc.nations)))
    update = {"communities": sc.communities.model_copy(update={"per_nation": per})}
    if months is not None:
        update["meta"] = sc.meta.model_copy(update={"months": months})
    return sc.model_copy(update=update)


def triad_seconds(n: int, v: int, repeats: int = 5) -> dict:
    """The stream triad ``a = b + s·c`` on (n, v) float64 arrays (one compiled pass, best of
    ``repeats``): the time to touch 3·n·v·8 bytes once — the memory-bandwidth bound of a step
    that reads and writes a few N×V arrays. Measured on at most 10^6 rows and scaled linearly
    above (bandwidth no longer depends on size there; spares the 10^7 run 3.6 GB of arrays)."""
    import numpy as np
    from numba import njit

    @njit(cache=False)
    def triad(a, b, c, s):
        for i in range(a.size):
            a[i] = b[i] + s * c[i]

    rows = min(n, 10**6)
    b, c = np.random.default_rng(0).random((2, rows * v))
    a = np.empty(rows * v)
    triad(a, b, c, 0.5)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        triad(a, b, c, 0.5)
        best = min(best, time.perf_counter() - t)
    return {"triad_s": best * n / rows, "triad_gb_s": 3 * rows * v * 8 / best / 1e9}


def _warm_up() -> None:
    """numba's fixed start-up, not timed: import it and load every compiled kernel from its
    on-disk cache (a compiled function is loaded on its first call) by two months of a small
    baseline world, its network built by the compiled builder."""
    from adoptsim.core import network
    from adoptsim.core.model import AdoptionModel

    saved, network.COMPILED_FROM = network.COMPILED_FROM, 0
    try:
        AdoptionModel(scaled_baseline(2_000, 2), 0, create_community_agents=False).run()
    finally:
        network.COMPILED_FROM = saved


def measure_world(world: str, n: int, months: int) -> dict:
    """One world (``baseline`` scaled, or ``synthetic``) of about ``n`` communities for
    ``months`` months with the fused kernel: build, per-step time and CPU, peak RSS, and the
    triad bound measured in the same process after the run."""
    import numpy as np

    from adoptsim.core import model as model_module
    from adoptsim.core import populations
    from adoptsim.core.model import AdoptionModel, replicate_seed
    from adoptsim.core.network import build_network
    from synth import synthetic

    populations.KERNEL = "fused"
    _warm_up()
    sc = scaled_baseline(n, months) if world == "baseline" else synthetic(n, months)
    net = {}

    def timed_network(*args, **kw):  # build_network alone, inside the model's construction
        t, c = time.perf_counter(), time.process_time()
        W = build_network(*args, **kw)
        net.update(network_s=time.perf_counter() - t, network_cpu_s=time.process_time() - c)
        return W

    model_module.build_network = timed_network
    t, c = time.perf_counter(), time.process_time()
    try:
        model = AdoptionModel(sc, replicate_seed(7, 0), create_community_agents=False)
    finally:
        model_module.build_network = build_network
    build_s, build_cpu = time.perf_counter() - t, time.process_time() - c
    steps, cpu = [], time.process_time()
    for _ in range(months):
        t = time.perf_counter()
        model.step()
        steps.append(time.perf_counter() - t)
    cpu = time.process_time() - cpu
    peak = _rss_mb()
    cm = model.communities
    adoption = float(cm.size[cm.current >= 0].sum() / cm.total_size)
    assert 0.0 < adoption <= 1.0
    n_real, V = cm.n, cm.V
    run_s = sum(steps)
    tri = triad_seconds(n_real, V)
    return {"world": world, "communities": n_real, "products": V, "months": months, "build_s": build_s, **net,
            "build_cpu_s": build_cpu, "run_s": run_s, "run_cpu_s": cpu, "s_per_step": run_s / months,
            "cpu_per_step": cpu / months, "median_step_s": float(np.median(steps)),
            "us_per_community_step": run_s / months / n_real * 1e6,
            "cpu_us_per_community_step": cpu / months / n_real * 1e6,
            "peak_mb": peak, "adoption": adoption, **tri,
            "bound_ratio": (cpu / months) / tri["triad_s"], "load": os.getloadavg()[0]}


def measure_plain(n: int, steps: int) -> dict:
    """Per-step time of plain Mesa and of the engine on the same scenario, same months."""
    from adoptsim.core.model import AdoptionModel, replicate_seed
    from plain_mesa import PlainMesaModel
    from synth import synthetic

    sc = synthetic(n, 72, market=False)  # plain Mesa implements the plain logit
    t = time.perf_counter()
    plain = PlainMesaModel(sc, seed=7)
    plain_build_s = time.perf_counter() - t
    engine = AdoptionModel(sc, replicate_seed(7, 0), create_community_agents=False)
    # the same months one after the other: plain Mesa, then the engine. (Interleaving their
    # steps would let plain Mesa's millions of Python objects evict the engine's arrays from
    # the caches between its steps, which no real run does.)
    tp, te, cp, ce = [], [], [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        plain.step()
        tp.append(time.perf_counter() - t)
        cp.append(time.process_time() - c)
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        engine.step()
        te.append(time.perf_counter() - t)
        ce.append(time.process_time() - c)
    c = engine.communities
    engine_adoption = float(c.size[c.current >= 0].sum() / c.total_size)
    plain_adoption = plain.adoption()
    assert 0.0 <= plain_adoption <= 1.0 and 0.0 <= engine_adoption <= 1.0
    return {
        "communities": n, "steps": steps, "plain_build_s": plain_build_s,
        "plain_s_per_step": statistics.fmean(tp), "engine_s_per_step": statistics.fmean(te),
        "speedup": statistics.fmean(tp) / statistics.fmean(te),
        "plain_cpu_per_step": statistics.fmean(cp), "engine_cpu_per_step": statistics.fmean(ce),
        "cpu_speedup": statistics.fmean(cp) / statistics.fmean(ce),
        "plain_adoption": plain_adoption, "engine_adoption": engine_adoption,
    }


def measure_lean(n: int, steps: int, kernel: str = "fused") -> dict:
    """Per-step time of the lean per-agent Mesa version and of the engine on the baseline world
    scaled to ``n`` communities, the same first months from the same start (one after the
    other, as measure_plain)."""
    from adoptsim.core import populations
    from adoptsim.core.model import AdoptionModel, replicate_seed
    from plain_mesa import LeanMesaModel

    populations.KERNEL = kernel
    _warm_up()
    sc = scaled_baseline(n, max(steps, 1))
    lean = LeanMesaModel(sc, seed=7)
    engine = AdoptionModel(sc, replicate_seed(7, 0), create_community_agents=False)
    tp, te, cp, ce = [], [], [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        lean.step()
        tp.append(time.perf_counter() - t)
        cp.append(time.process_time() - c)
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        engine.step()
        te.append(time.perf_counter() - t)
        ce.append(time.process_time() - c)
    cm = engine.communities
    engine_adoption = float(cm.size[cm.current >= 0].sum() / cm.total_size)
    return {"world": "baseline", "kernel": kernel, "communities": cm.n, "steps": steps,
            "plain_s_per_step": statistics.fmean(tp), "engine_s_per_step": statistics.fmean(te),
            "speedup": statistics.fmean(tp) / statistics.fmean(te),
            "plain_cpu_per_step": statistics.fmean(cp), "engine_cpu_per_step": statistics.fmean(ce),
            "cpu_speedup": statistics.fmean(cp) / statistics.fmean(ce),
            "plain_adoption": lean.adoption(), "engine_adoption": engine_adoption, "load": os.getloadavg()[0]}


def _baseline():
    from adoptsim.io.scenario_files import load_scenario
    return load_scenario(ROOT / "scenarios" / "baseline.toml")


def measure_baseline(repeats: int) -> dict:
    """One baseline run: simulation only (build + months) and with the tidy table."""
    import numpy as np

    from adoptsim.core.metrics import tidy
    from adoptsim.core.model import AdoptionModel, replicate_seed

    sc = _baseline()
    sim, full = [], []
    for r in range(repeats):
        t = time.perf_counter()
        model = AdoptionModel(sc, replicate_seed(sc.meta.seed, r), create_community_agents=False).run()
        sim.append(time.perf_counter() - t)
        df = tidy(model, replicate=r)
        full.append(time.perf_counter() - t)
        lag = (df["metric"] == "open_lag_months").to_numpy()  # undefined (NaN) in the first month
        assert np.isfinite(df["value"].to_numpy()[~lag]).all()
    return {"communities": int(model.communities.n), "months": sc.meta.months, "repeats": repeats,
            "simulation_s": statistics.median(sim), "with_table_s": statistics.median(full)}


_SCENARIO = None


def _sweep_one(seed: int) -> int:
    """One sweep run in a worker: the scenario is loaded once per worker, as a sweep would."""
    global _SCENARIO
    from adoptsim.core.model import simulate
    if _SCENARIO is None:
        _SCENARIO = _baseline()
    return len(simulate(_SCENARIO, seed=seed))


def _set_kernel(kernel: str) -> None:
    from adoptsim.core import populations
    populations.KERNEL = kernel
    if kernel == "fused":
        from adoptsim.core import kernel as _  # noqa: F401  (numba's start-up, in the warm-up)


def measure_sweep(runs: int, workers: int, kernel: str = "auto") -> dict:
    """``runs`` baseline runs (different seeds) through a ProcessPoolExecutor over simulate().

    The pool is started and each worker imports adoptsim and loads the scenario first (a
    warm-up task each, timed separately as ``startup_s``), then the runs are timed. ``kernel``:
    the workers' community kernel (auto: numpy at the baseline's size; fused: numba)."""
    t = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, initializer=_set_kernel, initargs=(kernel,)) as ex:
        list(ex.map(_sweep_one, range(10**6, 10**6 + workers)))
        startup = time.perf_counter() - t
        t = time.perf_counter()
        rows = list(ex.map(_sweep_one, range(runs), chunksize=max(1, runs // (8 * workers))))
        wall = time.perf_counter() - t
    assert len(rows) == runs and all(r > 0 for r in rows)
    return {"runs": runs, "workers": workers, "kernel": kernel, "startup_s": startup, "wall_s": wall,
            "per_run_s": wall / runs, "runs_per_s": runs / wall, "extrapolated_1000_s": startup + wall / runs * 1000,
            "load": os.getloadavg()[0]}


def measure_per_run(runs: int) -> dict:
    """The issue's per-run overhead: ``runs`` baseline ensemble members as a worker runs them
    (:func:`adoptsim.experiments.ensemble.run_member`, fused kernel, after a warm-up), the
    simulation (building and running the model) timed apart from the rest (the tidy arrays,
    pickling the result for the parent)."""
    import pickle

    from adoptsim.core import populations
    from adoptsim.core.metrics import tidy_arrays
    from adoptsim.core.model import AdoptionModel, release
    from adoptsim.experiments.ensemble import RunResult, ensemble_seed
    from adoptsim.workflows.run import plan_run

    populations.KERNEL = "fused"
    _warm_up()
    sc, seed, _, plan = plan_run(ROOT / "scenarios" / "baseline.toml", None, 1, None, runs)
    sim, rest = [], []
    for k, m in enumerate(list(plan.draws) * 2):  # the first pass warms up (layouts cached per process)
        c = time.process_time()
        model = AdoptionModel(plan.scenarios[m], ensemble_seed(seed, k, 0), create_community_agents=False,
                              collect_agents=False).run()
        c2 = time.process_time()
        value, layout = tidy_arrays(model)
        pickle.dumps(RunResult(k, 0, value, layout), protocol=pickle.HIGHEST_PROTOCOL)
        release(model)
        if k >= runs:
            sim.append(c2 - c)
            rest.append(time.process_time() - c2)
    return {"runs": runs, "simulation_cpu_s": statistics.median(sim), "outside_cpu_s": statistics.median(rest),
            "overhead": statistics.median(rest) / statistics.median(sim), "load": os.getloadavg()[0]}


def measure_ensemble(members: int, replicates: int, workers: int, plots: bool = False) -> dict:
    """``adoptsim run scenarios/baseline.toml --members M --replicates R --workers W`` as a user
    runs it (a fresh interpreter, the bundled posterior, tables written; figures unless
    ``plots`` is False): wall time of the whole command and the CLI's own ``seconds``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "adoptsim", "run", str(ROOT / "scenarios" / "baseline.toml"),
               "--members", str(members), "--replicates", str(replicates), "--workers", str(workers),
               "--out", str(Path(tmp) / "out"), "--json", "-q"] + ([] if plots else ["--no-plots"])
        t, c = time.perf_counter(), os.times()
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
        wall, c2 = time.perf_counter() - t, os.times()
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            raise SystemExit(f"benchmark ensemble failed (exit {out.returncode})")
        summary = json.loads(out.stdout.strip().splitlines()[-1])
    return {"members": members, "replicates": replicates, "workers": workers, "plots": plots, "wall_s": wall,
            "cli_s": summary["seconds"], "children_cpu_s": (c2.children_user + c2.children_system)
            - (c.children_user + c.children_system), "load": os.getloadavg()[0]}


# ---- driver --------------------------------------------------------------------------------

def _sub(kind: str, **kw) -> dict:
    """Run one measurement in a fresh interpreter; return its JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_measure", kind, "--_args", json.dumps(kw)]
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")  # one core
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"benchmark {kind} {kw} failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(title: str, header: list[str], rows: list[list]) -> str:
    lines = [f"\n### {title}\n", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: small sizes, under a minute")
    ap.add_argument("--sizes", default=None, help="communities, comma-separated (default 1e3,1e4,1e5,1e6)")
    ap.add_argument("--months", type=int, default=72)
    ap.add_argument("--plain", default=None, help="sizes:steps for plain Mesa (default 1e4:12,1e5:5)")
    ap.add_argument("--sweep-runs", type=int, default=None, help="baseline runs in the sweep (default 1000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write all figures to this JSON file")
    ap.add_argument("--targets", action="store_true",
                    help="the issue-17 table: baseline world scaled to 1e5..1e7, synthetic, lean Mesa, sweeps")
    ap.add_argument("--_measure", help=argparse.SUPPRESS)
    ap.add_argument("--_args", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a._measure:
        fn = {"scaling": measure_scaling, "plain": measure_plain, "baseline": measure_baseline,
              "world": measure_world, "lean": measure_lean, "ensemble": measure_ensemble,
              "per_run": measure_per_run,
              "quick17": lambda: {"world": measure_world("baseline", 2_000, 3), "lean": measure_lean(1_000, 1)}}[a._measure]
        print(json.dumps(fn(**json.loads(a._args or "{}"))))
        return 0

    if a.targets:
        return targets_main(a)
    t0 = time.perf_counter()
    if a.quick:
        sizes, months, month_series = [1_000, 10_000], 12, []
        plain, sweep_runs, agent_sizes = [(1_000, 2)], a.sweep_runs or 4, [1_000]
    else:
        sizes = [int(float(s)) for s in (a.sizes or "1e3,1e4,1e5,1e6").split(",")]
        months = a.months
        month_series = [(100_000, m) for m in (24, 48)]  # + the 72-month row of the scaling table
        plain = [(int(float(s)), int(k)) for s, k in
                 (p.split(":") for p in (a.plain or "1e4:12,1e5:5").split(","))]
        sweep_runs, agent_sizes = a.sweep_runs or 1000, sizes
    res: dict = {"python": sys.version.split()[0], "quick": a.quick}
    try:
        import mesa
        import numpy
        res["versions"] = {"mesa": mesa.__version__, "numpy": numpy.__version__}
    except ImportError:
        pass

    # 1. scaling (no Community agent objects), and the cost of creating them
    res["scaling"] = [_sub("scaling", n=n, months=months, agents=False) for n in sizes]
    res["months"] = [_sub("scaling", n=n, months=m, agents=False) for n, m in month_series]
    res["agents"] = [_sub("scaling", n=n, months=months, agents=True) for n in agent_sizes]
    # 2. plain Mesa
    res["plain"] = [_sub("plain", n=n, steps=k) for n, k in plain]
    # 3. baseline and sweep
    res["baseline"] = _sub("baseline", repeats=3 if a.quick else 10)
    res["sweep"] = measure_sweep(sweep_runs, a.workers)
    if a.quick:  # the issue-17 measurements (--targets) on a small baseline world
        q = _sub("quick17")
        assert q["world"]["cpu_per_step"] > 0 and q["world"]["triad_s"] > 0 and q["lean"]["speedup"] > 0
        res.update(q)
    res["elapsed_s"] = time.perf_counter() - t0

    print(_table(f"Scaling: communities x 12 vendors x {months} months (one core, no Community agent objects)",
                 ["communities", "network build s", "model build s", "run s", "run CPU s", "s / step",
                  "µs / community-step", "max step s", "tidy s", "total s", "peak RSS MB"],
                 [[f"{r['communities']:,}", _fmt(r["network_s"]), _fmt(r["build_s"]), _fmt(r["run_s"]),
                   _fmt(r["run_cpu_s"]),
                   _fmt(r["s_per_step"]), _fmt(r["us_per_community_step"]), _fmt(r["max_step_s"]),
                   _fmt(r["tidy_s"]), _fmt(r["total_s"]), _fmt(r["peak_mb"])] for r in res["scaling"]]))
    by_n = {r["communities"]: r for r in res["scaling"]}
    if res["months"]:
        rows = res["months"] + [by_n[n] for n, _ in month_series[:1] if n in by_n and by_n[n]["months"] == months]
        print(_table("Linearity in months", ["communities", "months", "run s", "s / month"],
                     [[f"{r['communities']:,}", r["months"], _fmt(r["run_s"]), _fmt(r["run_s"] / r["months"])]
                      for r in sorted(rows, key=lambda r: r["months"])]))
    print(_table("With Community Mesa agent objects (AdoptionModel default)",
                 ["communities", "model build s", "extra build s vs none", "run s", "RSS after build MB",
                  "extra MB vs none", "peak RSS MB"],
                 [[f"{r['communities']:,}", _fmt(r["build_s"]),
                   _fmt(r["build_s"] - by_n[r["communities"]]["build_s"]) if r["communities"] in by_n else "",
                   _fmt(r["run_s"]), _fmt(r["rss_after_build_mb"]),
                   _fmt(r["rss_after_build_mb"] - by_n[r["communities"]]["rss_after_build_mb"])
                   if r["communities"] in by_n else "", _fmt(r["peak_mb"])]
                  for r in res["agents"]]))
    print(_table("Engine against plain per-agent Mesa (same scenario and seed, the same first months)",
                 ["communities", "steps", "plain Mesa s / step", "engine s / step", "speed-up (wall)",
                  "plain CPU s / step", "engine CPU s / step", "speed-up (CPU)", "plain adoption", "engine adoption"],
                 [[f"{r['communities']:,}", r["steps"], _fmt(r["plain_s_per_step"]), _fmt(r["engine_s_per_step"]),
                   f"{r['speedup']:.0f}x", _fmt(r["plain_cpu_per_step"]), _fmt(r["engine_cpu_per_step"]),
                   f"{r['cpu_speedup']:.0f}x", f"{r['plain_adoption']:.3f}", f"{r['engine_adoption']:.3f}"]
                  for r in res["plain"]]))
    b, s = res["baseline"], res["sweep"]
    print(_table("Baseline and sweeps", ["measure", "value"], [
        [f"baseline ({b['communities']:,} communities x {b['months']} months): simulation s (median of "
         f"{b['repeats']})", _fmt(b["simulation_s"])],
        ["baseline with the tidy table s", _fmt(b["with_table_s"])],
        [f"{s['runs']} baseline runs on {s['workers']} workers (simulate, ProcessPoolExecutor) s", _fmt(s["wall_s"])],
        ["pool start-up s (workers import adoptsim, load the scenario; not in the line above)",
         _fmt(s["startup_s"])],
        ["per run s (wall / runs)", _fmt(s["per_run_s"])],
        ["1,000 runs: start-up + 1,000 x per run s" + ("" if s["runs"] == 1000 else " (extrapolated)"),
         _fmt(s["extrapolated_1000_s"])],
    ]))
    print(f"\n{'quick ' if a.quick else ''}benchmark finished in {res['elapsed_s']:.1f} s "
          f"(Python {res['python']}, {res.get('versions', {})})")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


def targets_main(a) -> int:
    """The measurements of issue 17 in one table (with the machine's load at each)."""
    t0 = time.perf_counter()
    sizes = [int(float(x)) for x in (a.sizes or "1e5,1e6,1e7").split(",")]
    rows = [_sub("world", world="baseline", n=n, months=84) for n in sizes]
    rows += [_sub("world", world="synthetic", n=n, months=72) for n in sizes if n <= 10**6]
    lean = [_sub("lean", n=int(float(x)), steps=int(k)) for x, k in
            (p.split(":") for p in (a.plain or "1e4:6,1e5:3").split(","))]
    runs = a.sweep_runs or 400
    sweeps = [measure_sweep(runs, a.workers, kernel) for kernel in ("auto", "fused")]
    per_run = _sub("per_run", runs=20)
    ensembles = [measure_ensemble(200, 1, a.workers), measure_ensemble(50, 2, a.workers, plots=True)]
    header = ["world", "communities", "products × months", "network build s (CPU)", "model build s",
              "s / step (wall)", "CPU s / step",
              "CPU µs / community-step", "triad s (GB/s)", "CPU step / triad", "peak RSS MB", "load (1 min)"]
    table = [[r["world"], f"{r['communities']:,}", f"{r['products']} × {r['months']}",
              f"{_fmt(r['network_s'])} ({_fmt(r['network_cpu_s'])})", _fmt(r["build_s"]),
              _fmt(r["s_per_step"]), _fmt(r["cpu_per_step"]), _fmt(r["cpu_us_per_community_step"]),
              f"{_fmt(r['triad_s'])} ({r['triad_gb_s']:.1f})", f"{r['bound_ratio']:.1f}", _fmt(r["peak_mb"]),
              f"{r['load']:.1f}"] for r in rows]
    print(_table("Engine (fused kernel): per step, against the triad bound", header, table))
    print(_table("Against the lean per-agent Mesa version (baseline world, same start and months)",
                 ["communities", "steps", "Mesa s / step", "engine s / step", "wall ×", "Mesa CPU s / step",
                  "engine CPU s / step", "CPU ×", "load"],
                 [[f"{r['communities']:,}", r["steps"], _fmt(r["plain_s_per_step"]), _fmt(r["engine_s_per_step"]),
                   f"{r['speedup']:.0f}", _fmt(r["plain_cpu_per_step"]), _fmt(r["engine_cpu_per_step"]),
                   f"{r['cpu_speedup']:.0f}", f"{r['load']:.1f}"] for r in lean]))
    print(_table(f"Baseline sweeps ({runs} runs, {a.workers} workers, simulate() per run)",
                 ["kernel", "start-up s", "wall s", "runs / s", "s / run", "load"],
                 [[r["kernel"], _fmt(r["startup_s"]), _fmt(r["wall_s"]), _fmt(r["runs_per_s"]), _fmt(r["per_run_s"]),
                   f"{r['load']:.1f}"] for r in sweeps]))
    print(_table("Per baseline run, as an ensemble worker runs it (CPU, median of 20 members)",
                 ["simulation s", "outside the simulation s (tidy arrays, pickling)", "overhead", "load"],
                 [[_fmt(per_run["simulation_cpu_s"]), _fmt(per_run["outside_cpu_s"]), f"{per_run['overhead']:.0%}",
                   f"{per_run['load']:.1f}"]]))
    print(_table("Baseline ensembles: `adoptsim run scenarios/baseline.toml` end to end (tables written)",
                 ["members × replicates", "workers", "figures", "wall s", "CLI s", "workers' CPU s", "load"],
                 [[f"{r['members']} × {r['replicates']}", r["workers"], "yes" if r["plots"] else "no",
                   _fmt(r["wall_s"]), _fmt(r["cli_s"]), _fmt(r["children_cpu_s"]), f"{r['load']:.1f}"]
                  for r in ensembles]))
    print(f"\nfinished in {time.perf_counter() - t0:.0f} s; uptime: {os.getloadavg()}")
    if a.json:
        Path(a.json).write_text(json.dumps({"worlds": rows, "lean": lean, "sweeps": sweeps, "per_run": per_run,
                                            "ensembles": ensembles},
                                           indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
