"""Per-phase process time of baseline runs (issue 17, the world phase): the median over R runs
(after one warm-up run) of each phase's process time per month, in ms.

    python benchmarks/world_phase.py [R]          # from the repository root; R = 7 by default
    PYTHONPATH=<other checkout>/src python benchmarks/world_phase.py 5   # the same for another version

Runs ``scenarios/baseline.toml`` (replicates 1..R of seed 7, no Community agent objects, no
agent reporters) with ``ADOPTSIM_KERNEL=fused`` unless set. The world phase is everything in
``AdoptionModel.step`` except ``communities.step``; ``__init__`` (without the communities'
initial choice) is reported per month of the horizon too."""
import sys, time, collections, statistics, os
os.environ.setdefault("ADOPTSIM_KERNEL", "fused")
from adoptsim.io.scenario_files import load_scenario
from adoptsim.core.model import AdoptionModel, replicate_seed, release
from adoptsim.core import populations
R = int(sys.argv[1]) if len(sys.argv) > 1 else 7
sc = load_scenario("scenarios/baseline.toml")
acc = collections.Counter()
def wrapcls(cls, name, label):
    f = getattr(cls, name)
    def g(*a, **k):
        t = time.process_time(); r = f(*a, **k); acc[label] += time.process_time() - t; return r
    setattr(cls, name, g)
wrapcls(AdoptionModel, "_policy_state", "policy_state")
wrapcls(AdoptionModel, "_prepare_choice_inputs", "prepare_choice")
wrapcls(populations.VendorPopulation, "step", "vendors.step")
wrapcls(populations.CommunityPopulation, "step", "communities.step")
wrapcls(populations.CommunityPopulation, "initialise", "communities.init")
res = collections.defaultdict(list)
for r in range(R + 1):
    acc.clear()
    t0 = time.process_time()
    m = AdoptionModel(sc, replicate_seed(7, r), create_community_agents=False, collect_agents=False)
    t1 = time.process_time()
    f = m.datacollector.collect
    def timed(model, f=f):
        t = time.process_time(); f(model); acc["collect"] += time.process_time() - t
    m.datacollector.collect = timed
    m.run()
    t2 = time.process_time()
    months = m.horizon
    release(m)
    if r == 0:
        continue  # warm-up (numba cache load)
    init_other = (t1 - t0) - acc["communities.init"]
    res["__init__ (w/o initialise, build)"].append(init_other / months * 1e3)
    step = (t2 - t1)
    res["step total"].append(step / months * 1e3)
    for k in ("policy_state", "prepare_choice", "collect", "vendors.step", "communities.step"):
        res[k].append(acc[k] / months * 1e3)
    rest = step - sum(acc[k] for k in ("policy_state", "prepare_choice", "collect", "vendors.step", "communities.step"))
    res["rest of step"].append(rest / months * 1e3)
    res["world phase (step - communities.step)"].append((step - acc["communities.step"]) / months * 1e3)
for k, v in res.items():
    print(f"{k:42s} median {statistics.median(v):7.3f} ms/step   (min {min(v):.3f}, max {max(v):.3f})")
