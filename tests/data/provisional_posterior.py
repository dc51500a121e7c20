"""A PROVISIONAL posterior for developing and testing ensemble runs — a test fixture generator,
not a calibration (issue 14: the real posterior comes from ``adoptsim calibrate``).

Members are drawn uniformly from the middle half of each range of ``calibration/baseline.toml``
around the baseline's value (clipped to the range), with equal weights; the metadata says
``method = "provisional ..."``. ``python tests/data/provisional_posterior.py [OUT] [N]`` writes
``calibration/baseline-posterior.parquet`` (120 members) by default.
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from adoptsim import __version__
from adoptsim.experiments.paths import current_value, valid_paths
from adoptsim.io.posterior import write_posterior
from adoptsim.io.scenario_files import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def provisional_members(spec: Path, n: int = 120, seed: int = 14) -> tuple[pd.DataFrame, dict]:
    """``(members, meta)`` of a provisional posterior of the calibration spec's scenario."""
    raw = tomllib.loads(spec.read_text())
    scenario_path = (spec.parent / raw["scenario"]).resolve()
    sc = load_scenario(scenario_path)
    locs = valid_paths(sc)
    rng = np.random.default_rng(seed)
    cols, base, priors = {}, {}, {}
    for par in raw["parameters"]:
        path, (lo, hi) = par["path"], par["range"]
        b = current_value(sc, locs[path])
        half = 0.25 * (hi - lo)
        a, z = max(lo, b - half), min(hi, b + half)
        cols[path] = rng.uniform(a, z, n)
        if isinstance(b, int) and not isinstance(b, bool):
            cols[path] = np.rint(cols[path]).astype(np.int64)
        base[path], priors[path] = b, [lo, hi]
    members = pd.DataFrame({"member": np.arange(n, dtype=np.int32), "weight": np.full(n, 1.0 / n), **cols})
    meta = {"scenario": raw["scenario"], "scenario_sha256": hashlib.sha256(scenario_path.read_bytes()).hexdigest(),
            "base": base, "priors": priors, "seed": seed, "generations": 0,
            "method": "provisional: uniform on the middle half of each calibration range around the baseline "
                      "value, equal weights (a test fixture, not a calibration)",
            "created_by": f"adoptsim {__version__}"}
    return members, meta


def write_provisional(out: Path, spec: Path = ROOT / "calibration" / "baseline.toml", n: int = 120,
                      seed: int = 14) -> Path:
    members, meta = provisional_members(spec, n, seed)
    return write_posterior(out, members, meta)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "calibration" / "baseline-posterior.parquet"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    print(write_provisional(target, n=size))
