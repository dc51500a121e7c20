"""Draw docs/figures/vendor_dynamics_chip_ban.png: compute and capability by lab in the baseline
and in scenarios/chip_ban_tightening.toml (6 replicates each, seed 7).

Run from the repository root: ``python docs/figures/make_vendor_dynamics.py``."""

from pathlib import Path

from adoptsim.core.model import simulate
from adoptsim.io.scenario_files import load_scenario
from adoptsim.viz.vendor_figures import compute_capability_figure

ROOT = Path(__file__).resolve().parents[2]
runs = {}
for name in ("baseline", "chip_ban_tightening"):
    sc = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    runs[name] = simulate(sc, replicates=6, metrics=("compute", "capability", "open_lag_months"))
released = {v.id: v.available_from for v in sc.vendors if v.available_from}
vendors = ["openai", "google", "anthropic", "llama", "gpt_oss", "mistral", "deepseek", "qwen", "kimi", "glm",
           "minimax", "hunyuan"]
print(compute_capability_figure(runs, ROOT / "docs" / "figures" / "vendor_dynamics_chip_ban.png", vendors, released,
                                closed_ids=[v.id for v in sc.vendors if v.license == "closed"]))
