"""``adoptsim predict``: the pre-registered out-of-sample predictions (docs/predictions.md).

The bundled baseline runs over its calibrated ensemble (``[meta] ensemble``, calibrated on
observations dated up to the targets file's ``calibration_window``) up to the end of the
prediction year; the quantities public trackers report (:mod:`adoptsim.analysis.predictions`)
are read in their views and written as a Markdown page with their 10/50/90% bands. The page is
a function of the code, the scenario, the posterior and the options only (no date, no timing),
so regenerating it with the same command gives the same bytes; the commit that adds it is its
registration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..analysis.predictions import PREDICTIONS, prediction_table, run_values
from ..core.schema import parse_scenario
from ..errors import AdoptsimError
from ..experiments.calibration.spec import cut_to_horizon
from ..experiments.calibration.targets import load_target_file
from ..experiments.ensemble import plan_ensemble
from ..experiments.executors import Workers, signals_ignored
from ..io.atomic import atomic_write_text
from ..io.scenario_files import load_raw
from .run import _run_all, choose_posterior

#: The year predicted, and the periods reported (label -> first, last month).
YEAR = 2026
PERIODS = {f"{YEAR} mean": (f"{YEAR}-01", f"{YEAR}-12"), f"{YEAR}-12": (f"{YEAR}-12", f"{YEAR}-12")}
DEFAULT_MEMBERS = 100
DEFAULT_REPLICATES = 2
#: Where each quantity will be observed (the trackers the targets of 2024-2025 came from).
TRACKERS = {
    "cn_share_of_open_openrouter": "OpenRouter token data (as in OpenRouter and a16z, 'State of AI', 2025-12)",
    "cn_share_of_open_huggingface": "Hugging Face downloads by origin (as in Longpre et al., arXiv 2512.03073, and the ATOM report)",
    "open_share_openrouter": "OpenRouter token data (as in OpenRouter and a16z, 'State of AI', 2025-12)",
    "open_share_enterprise": "Menlo Ventures' LLM market update (secondary)",
}
VIEW_OF = {name: spec[0] for name, spec in PREDICTIONS.items()}


@dataclass
class PredictReport:
    out: Path
    table: pd.DataFrame
    members: int
    replicates: int


def prediction_runs(scenario_file: str | Path, members: int, replicates: int, seed: int | None,
                    workers: int | None):
    """The ``view_share`` table of the scenario's ensemble up to the end of :data:`YEAR`, the
    plan and the seed used."""
    raw = load_raw(scenario_file)
    scenario = parse_scenario(raw, str(scenario_file))
    seed = scenario.meta.seed if seed is None else seed
    posterior = choose_posterior(scenario, scenario_file, None)
    if posterior is None:
        raise AdoptsimError(f"predict: {scenario_file} names no ensemble ([meta] ensemble); predictions come "
                            "from a calibrated posterior ensemble")
    horizon = f"{YEAR}-12"
    if scenario.start_month > _month(f"{YEAR}-01") or scenario.start_month + scenario.meta.months - 1 < _month(horizon):
        raise AdoptsimError(f"predict: {scenario_file} does not cover {YEAR}-01..{horizon}")
    cut = cut_to_horizon(raw, scenario, horizon)
    cut_scenario = parse_scenario(cut, str(scenario_file))
    plan = plan_ensemble(cut_scenario, cut, posterior, members, seed, str(scenario_file))
    n_runs = plan.members * replicates
    pool = Workers(max(1, min(workers or os.cpu_count() or 1, n_runs)), n_runs)
    try:
        frame = _run_all(cut_scenario, seed, replicates, plan, pool, None, metrics=("view_share",))
    except BaseException:
        with signals_ignored():
            pool.close(cancel=True)
        raise
    pool.close(cancel=False)
    return frame, plan, seed


def _month(text: str) -> int:
    from ..months import parse_month

    return parse_month(text)


def _pct(x: float) -> str:
    return "–" if pd.isna(x) else f"{100 * x:.1f}%"


def render(table: pd.DataFrame, scenario_file: str, plan, seed: int, replicates: int, window: str | None,
           command: str) -> str:
    post = plan.posterior
    lines = [
        f"# Pre-registered predictions for {YEAR}",
        "",
        "Out-of-sample predictions of the bundled baseline for the quantities public trackers report,",
        f"made **before** any comparison with {YEAR} data. The ensemble was calibrated only on",
        f"observations dated up to **{window or 'the end of the targets'}** (the `calibration_window` of",
        "`calibration/targets.toml`); nothing observed later entered it. The registration date is",
        "the commit that adds or changes this file (`git log -- docs/predictions.md`). Do not edit",
        "it by hand: it is generated, and `tests/validation/test_predictions.py` checks that the",
        "command below gives these exact numbers.",
        "",
        "```bash",
        command,
        "```",
        "",
        f"- Scenario: `{scenario_file}` (the policy record to {YEAR}-12 as inputs: known policies are",
        "  forcings, not outcomes).",
        f"- Ensemble: `{Path(str(post.path)).name}` (sha256 `{post.sha256[:16]}…`), {plan.members} members",
        f"  drawn by weight × {replicates} replicates = {plan.members * replicates} plausible worlds, seed {seed}.",
        "- Bands: 10%, 50% and 90% quantiles across the plausible worlds of each run's value (the",
        "  mean over the period's months of the monthly share). A well-calibrated ensemble puts about",
        "  80% of the observed values inside their 10–90% band.",
        "- Views (docs/model.md, \"Views\"): every view leaves out China's own developers; the",
        "  platform mix and tokens per developer of each sector are assumed, not calibrated.",
        "",
        "| quantity | what it measures | view | period | 10% | median | 90% | to compare with |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for _, r in table.iterrows():
        what = PREDICTIONS[r["quantity"]][3]
        lines.append(f"| `{r['quantity']}` | {what} | {VIEW_OF[r['quantity']]} | {r['period']} | {_pct(r['q10'])} | "
                     f"{_pct(r['q50'])} | {_pct(r['q90'])} | {TRACKERS[r['quantity']]} |")
    lines += [
        "",
        "## How to score them",
        "",
        "When the trackers publish their 2026 figures, record each observed value beside its band",
        "(inside or outside the 10–90% band, and on which side). Read the values as the trackers",
        "define them: a tracker that reports a different population (for example Hugging Face",
        "downloads of *new* models only, or enterprise surveys that include China) is not the",
        "quantity predicted here, and the mismatch must be stated rather than the number adjusted.",
        "",
        "## Known limits",
        "",
        "- The model has no model vintages: the Hugging Face view counts developers on each",
        "  origin's products, not downloads of new releases.",
        "- The enterprise target of 2025 is a secondary source with a wide band; the enterprise view",
        "  is the least constrained of the four.",
        "- Most of the 47 assumed parameters are not identified by the 2024–2025 targets",
        "  (docs/calibration.md); the bands carry that uncertainty, and it grows with the horizon.",
        "",
    ]
    return "\n".join(lines)


def predict(scenario_file: str | Path, out: str | Path, members: int = DEFAULT_MEMBERS,
            replicates: int = DEFAULT_REPLICATES, seed: int | None = None, workers: int | None = None,
            targets: str | Path | None = None, command: str | None = None) -> PredictReport:
    """Run the prediction ensemble and write the page ``out`` atomically."""
    if members < 1:
        raise AdoptsimError(f"--members: expected a whole number >= 1, got {members}")
    if replicates < 1:
        raise AdoptsimError(f"--replicates: expected a whole number >= 1, got {replicates}")
    frame, plan, seed = prediction_runs(scenario_file, members, replicates, seed, workers)
    table = prediction_table(run_values(frame, PERIODS))
    window = None
    if targets is not None:
        window = load_target_file(targets).calibration_window
    if command is None:
        command = (f"adoptsim predict {scenario_file} --out {out} --members {members} --replicates {replicates}"
                   f" --seed {seed}")
    text = render(table, str(scenario_file), plan, seed, replicates, window, command)
    out = Path(out)
    atomic_write_text(out, text)
    return PredictReport(out, table, plan.members, replicates)
