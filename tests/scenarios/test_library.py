"""The scenario library: every scenario extends the baseline, states its question, and moves the
metrics it is about in the direction it claims, by more than the noise.

Each claim compares a scenario with the baseline run with the same seeds (6 replicates, common
random numbers), replicate by replicate: the paired difference d_r = scenario_r - baseline_r. A
claim holds when its median is on the claimed side by more than both three standard deviations
of the paired differences (the noise of the effect) and a stated minimum size. Vendor metrics
(compute, efficiency, capability, open lag) do not depend on adoption, so their paired sd is 0
and only the minimum size applies. The comment on each claim gives the measured effect and
noise (re-measured after merging issues 11 and 12; docs/model.md, "Scenario library").

**Robust across plausible worlds** (issue 14): each claim must also hold in at least
:data:`ROBUST_SHARE` of the members of the ensemble the baseline names (``[meta] ensemble``;
:data:`ROBUST_MEMBERS` members drawn by weight, one replicate each, every scenario with the
same seed, so member k of a scenario is paired with member k of the baseline), unless the claim
is listed in :data:`NOT_ROBUST` and the scenario's description says why.
``python tests/scenarios/test_library.py`` regenerates the table of docs/scenarios.md from the
same runs (median effect, 10–90% band across members, share of members in the claimed
direction)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

from adoptsim.core.model import simulate
from adoptsim.io.scenario_files import load_scenario
from adoptsim.workflows.run import simulate_file

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
LIBRARY = ("chip_ban_tightening", "chip_ban_lifted", "diffusion_rule_restored", "us_open_source_push",
           "digital_silk_road", "trust_shock", "deepseek_shock", "meta_closes_llama", "sovereign_ai",
           "retaliation_escalation")
REPLICATES = 6
NOISE_SDS = 3.0
ROBUST_MEMBERS = 40  # members drawn from the baseline's posterior, one replicate each
ROBUST_SHARE = 0.8  # a claim must hold in at least this share of them
#: claims (scenario, metric, keys) known not to hold in ROBUST_SHARE of the members: the
#: scenario's description must say "not robust" and why
NOT_ROBUST: set[tuple[str, str, str]] = {
    # summed capability of the six Chinese labs: falls in ~62% of members; rises where
    # dynamics.train_smarter is high (correlation 0.87 with the effect across 40 members)
    ("chip_ban_tightening", "capability", "deepseek+qwen+kimi+glm+minimax+hunyuan"),
}
CN_VENDORS = ["deepseek", "qwen", "kimi", "glm", "minimax", "hunyuan"]
US_CLOSED = ["openai", "google", "anthropic"]
GLOBAL_SOUTH = ["Sub-Saharan Africa", "Latin America", "Southeast Asia", "South Asia", "Middle East and North Africa"]
W = ("world", ["world"])

# (scenario, scope, scope ids, metric, keys summed, date, direction (+1 higher than the baseline,
#  -1 lower), minimum size of the median paired difference). Metric "capability_gap": the best
#  closed capability minus the best capability among the keys (a world vendor quantity).
CLAIMS = [
    # numbers: re-checked after issue 13 (6 replicates, seed 7)
    # compute summed over Chinese labs 663 -> 398 (-40%), deterministic
    ("chip_ban_tightening", *W, "compute", CN_VENDORS, "2028-12", -1, 100.0),
    # efficiency summed 15,350 -> 20,140 (+31%), deterministic
    ("chip_ban_tightening", *W, "efficiency", CN_VENDORS, "2028-12", +1, 2000.0),
    # capability summed over the six labs -2.1 points (-0.35 each), deterministic
    ("chip_ban_tightening", *W, "capability", CN_VENDORS, "2030-12", -1, 1.0),
    # best closed minus best Chinese lab 4.58 -> 6.31 points (+1.73), deterministic. (The open lag
    # is not claimed: the best open model in 2030 may be Llama.)
    ("chip_ban_tightening", *W, "capability_gap", CN_VENDORS, "2030-12", +1, 0.8),
    # Chinese world share 0.297 -> 0.244: paired -0.050, sd 0.008
    ("chip_ban_tightening", *W, "share_origin", ["CN"], "2030-12", -1, 0.01),
    # compute x2.4 (663 -> 1,578), deterministic
    ("chip_ban_lifted", *W, "compute", CN_VENDORS, "2028-12", +1, 300.0),
    # efficiency -65%, deterministic
    ("chip_ban_lifted", *W, "efficiency", CN_VENDORS, "2028-12", -1, 5000.0),
    # open lag 5.31 -> 4.04 months, deterministic
    ("chip_ban_lifted", *W, "open_lag_months", [""], "2030-12", -1, 0.5),
    # Chinese world share 0.297 -> 0.384: paired +0.089, sd 0.008
    ("chip_ban_lifted", *W, "share_origin", ["CN"], "2030-12", +1, 0.03),
    # compute -6.9% (663 -> 617), deterministic
    ("diffusion_rule_restored", *W, "compute", CN_VENDORS, "2028-12", -1, 10.0),
    # self-hosted share of the world 0.043 -> 0.031: paired -0.013, sd 0.001 (tier-2 chips dearer)
    ("diffusion_rule_restored", *W, "share_host", ["self"], "2028-12", -1, 0.01),
    # Llama + gpt-oss 0.220 -> 0.364: paired +0.131, sd 0.028
    ("us_open_source_push", *W, "share_vendor", ["llama", "gpt_oss"], "2028-12", +1, 0.05),
    # Not claimed since issue 13: the Chinese share in the Global South 0.149 -> 0.137 (paired -0.011,
    # sd 0.006: misses the 3-sd rule; it was -0.045, sd 0.010 before the record corrections and re-fit)
    # Chinese clouds' hosting share 0 -> 0.35: paired +0.35, sd 0.042
    ("digital_silk_road", "region", GLOBAL_SOUTH, "share_host", ["CN"], "2028-12", +1, 0.2),
    # US clouds 0.93 -> 0.65: paired -0.28, sd 0.042
    ("digital_silk_road", "region", GLOBAL_SOUTH, "share_host", ["US"], "2028-12", -1, 0.2),
    # self-hosting 0.074 -> 0: paired -0.074, sd 0.007
    ("digital_silk_road", "region", GLOBAL_SOUTH, "share_host", ["self"], "2028-12", -1, 0.05),
    # Chinese world share 0.259 -> 0.217: paired -0.042, sd 0.007
    ("trust_shock", *W, "share_origin", ["CN"], "2027-06", -1, 0.02),
    # DeepSeek 0.241 -> 0.263: paired +0.022, sd 0.007
    ("deepseek_shock", *W, "share_vendor", ["deepseek"], "2027-12", +1, 0.01),
    # US models 0.732 -> 0.718: paired -0.019, sd 0.006. (The closed share is not claimed.)
    ("deepseek_shock", *W, "share_origin", ["US"], "2027-12", -1, 0.01),
    # open share 0.409 -> 0.279: paired -0.131, sd 0.027 (also test_meta_closing_...)
    ("meta_closes_llama", *W, "share_license", ["open"], "2027-12", -1, 0.1),
    # Llama 0.148 -> 0.018: paired -0.131, sd 0.027
    ("meta_closes_llama", *W, "share_vendor", ["llama"], "2027-12", -1, 0.1),
    # the Indian model's share of India 0 -> 0.35: paired +0.35, sd 0.06
    ("sovereign_ai", "nation", ["IN"], "share_origin", ["IN"], "2028-12", +1, 0.1),
    # critical dependency, EU and India averaged, 1.0 -> 0.51: paired -0.47, sd 0.084
    ("sovereign_ai", "nation", ["EU", "IN"], "critical_dependency", [""], "2028-12", -1, 0.1),
    # US labs' compute -28% (2,290 -> 1,651), deterministic
    ("retaliation_escalation", *W, "compute", US_CLOSED, "2028-12", -1, 200.0),
    # US labs' capability summed -2.98 points (-1 each), deterministic
    ("retaliation_escalation", *W, "capability", US_CLOSED, "2028-12", -1, 1.0),
    # Chinese world share 0.258 -> 0.274: paired +0.017, sd 0.005 (no decoupling)
    ("retaliation_escalation", *W, "share_origin", ["CN"], "2028-12", +1, 0.01),
]


def _per_replicate_claim(frame: pd.DataFrame, scope: str, ids: list[str], metric: str, keys: list[str],
                         date: str) -> pd.Series:
    """Per replicate: the metric summed over keys and averaged over scope ids (0 if absent)."""
    when = pd.Timestamp(date + "-01")
    if metric == "capability_gap":
        cap = frame[(frame["scope"] == "world") & (frame["metric"] == "capability") & (frame["date"] == when)]
        per = cap.pivot_table(index="replicate", columns="key", values="value", observed=True)
        return per[US_CLOSED].max(axis=1) - per[keys].max(axis=1)
    sel = frame[(frame["scope"] == scope) & frame["scope_id"].isin(ids) & (frame["metric"] == metric)
                & frame["key"].isin(keys) & (frame["date"] == when)]
    if sel.empty:  # e.g. an origin that has no vendor in the baseline: a share of 0
        return pd.Series(0.0, index=sorted(frame["replicate"].unique()))
    return sel.groupby(["replicate", "scope_id"], observed=True)["value"].sum().groupby("replicate").mean()


def claim_id(claim) -> str:
    return f"{claim[0]}:{claim[3]}:{'+'.join(claim[4]) or 'all'}:{claim[5]}"


def ensemble_frame(name: str, members: int = ROBUST_MEMBERS) -> pd.DataFrame:
    """``members`` members x 1 replicate of a library scenario over the baseline's ensemble, with
    ``replicate`` set to the member (so the per-replicate helpers give per-member values)."""
    frame, plan = simulate_file(SCENARIOS / f"{name}.toml", members=members, replicates=1)
    assert plan is not None, f"{name}: the baseline names no ensemble ([meta] ensemble)"
    return frame.assign(replicate=frame["member"])


def claim_effects(claim, base: pd.DataFrame, alt: pd.DataFrame) -> pd.Series:
    """Per member: the claim's signed effect (positive = in the claimed direction)."""
    name, scope, ids, metric, keys, date, sign, _ = claim
    b = _per_replicate_claim(base, scope, ids, metric, keys, date)
    a = _per_replicate_claim(alt, scope, ids, metric, keys, date)
    return sign * (a - b).dropna()


@pytest.fixture(scope="module")
def ensemble_runs():
    cache: dict[str, pd.DataFrame] = {}

    def get(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = ensemble_frame(name)
        return cache[name]
    return get


@pytest.fixture(scope="module")
def runs():
    cache: dict[str, pd.DataFrame] = {}

    def get(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = simulate(load_scenario(SCENARIOS / f"{name}.toml"), replicates=REPLICATES,
                                   create_community_agents=False)
        return cache[name]
    return get


def _per_replicate(frame: pd.DataFrame, metric: str, key: str, date: str) -> pd.Series:
    sel = frame[(frame["scope"] == "world") & (frame["metric"] == metric) & (frame["key"] == key)
                & (frame["date"] == pd.Timestamp(date + "-01"))]
    return sel.set_index("replicate")["value"]


def test_meta_closing_its_next_model_moves_more_than_replicate_noise(runs):
    """Meta closes its next frontier model (2026-04), the last open Llama stays: by 2027-12 the
    world open-weight share falls from 0.409 to 0.279 (6 replicates, after issue 13; paired
    difference -0.131, paired sd 0.027): the effect must exceed 3 replicate sds of the baseline.
    The Chinese share's rise is not robust and not asserted."""
    base, alt = runs("baseline"), runs("meta_closes_llama")
    b, a = _per_replicate(base, "share_license", "open", "2027-12"), _per_replicate(alt, "share_license", "open", "2027-12")
    effect = float((a - b).median())
    assert -effect > 3 * float(b.std(ddof=1)), (effect, float(b.std(ddof=1)))
    # the released weights stay: Llama's frozen open product is on the market and priced
    price = alt[(alt["metric"] == "price") & (alt["key"] == "llama.open_release")]
    assert (price["value"] > 0).all()


def test_sovereign_ai_wins_eu_developers_in_every_replicate(runs):
    """EU models' share of EU developers in 2030-12: 0.01 -> 0.33 (median). The paired difference
    is positive in every replicate (+0.25..+0.56, median +0.31) but varies so much (paired sd 0.12)
    that it misses the 3-sd rule of the claims (2.7 sds); asserted instead: the smallest paired
    difference exceeds 3 baseline replicate sds (0.018). In 2028-12 the effect is small and not
    robust (+0.05, paired sd 0.04), and the Indian model's share of EU developers is below
    Mistral's in 4 of 6 replicates only (medians 0.03 vs 0.07): neither is asserted."""
    base, alt = runs("baseline"), runs("sovereign_ai")
    b = _per_replicate_claim(base, "nation", ["EU"], "share_origin", ["EU"], "2030-12")
    a = _per_replicate_claim(alt, "nation", ["EU"], "share_origin", ["EU"], "2030-12")
    assert float((a - b).min()) > 3 * float(b.std(ddof=1)), ((a - b).tolist(), float(b.std(ddof=1)))


@pytest.mark.parametrize("name", LIBRARY)
def test_library_scenario_extends_baseline_and_states_its_question(name):
    raw = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    assert raw["extends"] == "baseline.toml"
    assert raw["meta"]["name"] == name
    assert "?" in raw["meta"]["description"] and len(raw["meta"]["description"]) > 60
    sc = load_scenario(SCENARIOS / f"{name}.toml")
    base = load_scenario(SCENARIOS / "baseline.toml")
    assert sc.meta.seed == base.meta.seed and sc.meta.start == base.meta.start
    assert sc.digest() != base.digest()


def test_every_library_scenario_has_a_claim():
    assert {c[0] for c in CLAIMS} == set(LIBRARY)


@pytest.mark.slow
@pytest.mark.parametrize("claim", CLAIMS, ids=[claim_id(c) for c in CLAIMS])
def test_claim_holds_in_most_plausible_worlds(ensemble_runs, claim):
    """The claimed direction in >= 80% of the baseline ensemble's members (paired member by
    member: same draws, same seeds), or the scenario says the effect is not robust and why."""
    d = claim_effects(claim, ensemble_runs("baseline"), ensemble_runs(claim[0]))
    assert len(d) == ROBUST_MEMBERS
    share = float((d > 0).mean())
    if (claim[0], claim[3], "+".join(claim[4])) in NOT_ROBUST:
        desc = tomllib.loads((SCENARIOS / f"{claim[0]}.toml").read_text())["meta"]["description"]
        assert "not robust" in desc, f"{claim[0]}: its description must say which effect is not robust and why"
        return
    assert share >= ROBUST_SHARE, (f"{claim_id(claim)}: in the claimed direction in {share:.0%} of "
                                   f"{ROBUST_MEMBERS} members (median {float(d.median()):+.4g})")


@pytest.mark.slow
@pytest.mark.parametrize("claim", CLAIMS, ids=[claim_id(c) for c in CLAIMS])
def test_scenario_moves_its_metrics(runs, claim):
    name, scope, ids, metric, keys, date, sign, minimum = claim
    b = _per_replicate_claim(runs("baseline"), scope, ids, metric, keys, date)
    a = _per_replicate_claim(runs(name), scope, ids, metric, keys, date)
    d = (a - b).dropna()
    assert len(d) == REPLICATES
    effect, noise = sign * float(d.median()), float(d.std(ddof=1))
    assert effect > max(minimum, NOISE_SDS * noise), (
        f"{name}: {metric} {keys} in {ids} at {date}: baseline {b.median():.4g}, scenario {a.median():.4g}, "
        f"paired median {sign * effect:+.4g}, paired sd {noise:.3g} (needs > {max(minimum, NOISE_SDS * noise):.3g})")


@pytest.mark.slow  # two small ensemble runs of the baseline world with figures: ~20 s
def test_figures_and_compare_from_the_cli(tmp_path, capsys):
    """`run` draws the standard set; `plot --figure/--date/--format` and `compare` draw the others."""
    from adoptsim.cli import main

    base, alt = tmp_path / "base", tmp_path / "alt"
    ens = ["--members", "3", "--replicates", "2"]  # a small ensemble: the figures' inner bands, paired members
    assert main(["run", str(SCENARIOS / "baseline.toml"), *ens, "--out", str(base)]) == 0
    assert main(["run", str(SCENARIOS / "trust_shock.toml"), *ens, "--out", str(alt), "--no-plots"]) == 0
    for name in ("adoption", "regions", "vendors", "heatmap", "dependency"):
        assert (base / "plots" / f"{name}.png").stat().st_size > 10_000
    assert main(["plot", str(base), "--figure", "vendors", "--format", "svg"]) == 0
    assert (base / "plots" / "vendors.svg").read_text().lstrip().startswith("<?xml")
    assert main(["plot", str(base), "--date", "2025-11", "--format", "pdf"]) == 0
    assert (base / "plots" / "heatmap_2025-11.pdf").read_bytes()[:4] == b"%PDF"
    capsys.readouterr()
    assert main(["compare", str(base), str(alt), "--level", "region", "--scope", "Latin America"]) == 0
    assert list((alt / "plots").glob("compare_base_share_origin_Latin_America.png"))
    assert "alt vs base: share_origin [" in capsys.readouterr().out  # the headline effect and its robustness
    capsys.readouterr()
    assert main(["plot", str(base), "--date", "2031-01"]) == 2
    assert "no month 2031-01" in capsys.readouterr().err
    assert main(["compare", str(base), str(alt), "--metric", "nope"]) == 2


# ---- the table of docs/scenarios.md ---------------------------------------------------------------

DOC_START, DOC_END = "<!-- library-effects:start -->", "<!-- library-effects:end -->"


def effects_table(members: int = ROBUST_MEMBERS) -> str:
    """The Markdown table of every claim: effect median and 10–90% band across members, and the
    share of members in the claimed direction."""
    from adoptsim.viz.style import is_share

    frames = {n: ensemble_frame(n, members) for n in ("baseline", *LIBRARY)}
    lines = ["| scenario | metric | where | keys | date | effect: median (10–90% of plausible worlds) "
             "| in the claimed direction |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for claim in CLAIMS:
        name, scope, ids, metric, keys, date, sign, _ = claim
        d = sign * claim_effects(claim, frames["baseline"], frames[name])
        q10, q50, q90 = (float(d.quantile(q)) for q in (0.1, 0.5, 0.9))
        if is_share(metric):
            eff = f"{q50 * 100:+.1f} pts ({q10 * 100:+.1f} to {q90 * 100:+.1f})"
        else:
            eff = f"{q50:+.3g} ({q10:+.3g} to {q90:+.3g})"
        share = float((sign * d > 0).mean())
        where = "world" if scope == "world" else ", ".join(ids) if len(ids) <= 2 else f"{len(ids)} {scope}s"
        mark = " (not robust)" if (name, metric, "+".join(keys)) in NOT_ROBUST else ""
        lines.append(f"| `{name}` | `{metric}` | {where} | {', '.join(k for k in keys if k) or '—'} | {date} "
                     f"| {eff} | {share:.0%}{mark} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python tests/scenarios/test_library.py: regenerate the table in docs/scenarios.md
    import datetime
    import json

    docs = SCENARIOS.parent / "docs" / "scenarios.md"
    base = load_scenario(SCENARIOS / "baseline.toml")
    post = json.loads(__import__("pyarrow.parquet", fromlist=["x"]).read_schema(base.meta.ensemble)
                      .metadata[b"adoptsim.posterior"])
    table = effects_table()
    head = (f"Generated by `python tests/scenarios/test_library.py` on {datetime.date.today()}: {ROBUST_MEMBERS} "
            f"members of the baseline's ensemble (`{Path(base.meta.ensemble).name}`, method: {post.get('method')}), "
            "one replicate each, every scenario paired member by member with the baseline (same draws, same seeds). "
            "Effects are scenario minus baseline; the last column is the share of members whose effect has the "
            "claimed sign (tests/scenarios/test_library.py requires at least 80%).")
    text = docs.read_text()
    i, j = text.index(DOC_START) + len(DOC_START), text.index(DOC_END)
    docs.write_text(text[:i] + "\n" + head + "\n\n" + table + "\n" + text[j:])
    print(table)
