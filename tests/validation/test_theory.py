"""The engine against results known from theory (docs/validation.md).

Every test writes its scenario as TOML into ``tmp_path`` and runs it through the same code path
as ``adoptsim run``: :func:`adoptsim.io.scenario_files.load_scenario` then :func:`adoptsim.core.model.simulate`
(``create_community_agents=False`` only skips the Mesa view objects), or the CLI itself. Theory
is computed here from the documented equations, never with the engine's choice kernel.
Tolerances are multiples of sampling standard errors derived in the comments; seeds are fixed,
so every run is reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from adoptsim.validation import anchors as A
from adoptsim.validation import report as R
from adoptsim.validation import theory
from adoptsim.cli import main
from adoptsim.core.model import simulate
from adoptsim.io.scenario_files import load_scenario
from adoptsim.io.tables import read_table

N = 20_000  # communities (one nation): binomial standard errors scale as 1/sqrt(N)


def run(tmp_path, sc: dict, name: str, replicates: int = 1, metrics=("adoption", "share_vendor")) -> pd.DataFrame:
    path = A.write_scenario(sc, tmp_path, name)
    return simulate(load_scenario(path), replicates=replicates, metrics=metrics, create_community_agents=False)


# ---- 1. Bass -------------------------------------------------------------------------------

def bass_recursion(p: float, q: float, months: int) -> np.ndarray:
    """F[1..months] of F[t+1] = F[t] + (1 − F[t])·(1 − exp(−(p + q·F[t]))), F[0] = 0."""
    F = [0.0]
    for _ in range(months):
        F.append(F[-1] + (1 - F[-1]) * (1 - math.exp(-(p + q * F[-1]))))
    return np.array(F[1:])


@pytest.mark.parametrize("p, q", R.BASS_CASES)  # (0.2, 0) is pure innovation: F = 1 − e^{−pt}
def test_bass_follows_the_discrete_recursion(tmp_path, p, q):
    months, R = 60, 20
    frame = run(tmp_path, A.bass_scenario(p, q, months=months, communities=N), "bass", replicates=R,
                metrics=("adoption",))
    sim = A.series(frame, "adoption")  # (R, months); step 1 = end of the first month = F[1]
    F = bass_recursion(p, q, months)
    err = np.abs(sim.mean(axis=0) - F).max()
    # Tolerance: each month each non-adopter adopts with a binomial draw, so one run's adoption
    # wanders around the recursion with a standard deviation sigma[t] that theory.bass_run_sd
    # propagates through the feedback (linear noise: V[t+1] = g'(F)² V[t] + (1−F)P(1−P)/N,
    # ~0.006 at its peak for p=0.03, q=0.38 and N=20,000). The mean of R independent runs has
    # sigma/sqrt(R); we allow 4 of those, and never more than the 0.01 the issue asks for.
    sigma = theory.bass_run_sd(p, q, months, N).max() / math.sqrt(R)
    assert err <= min(0.01, 4 * sigma), (err, sigma)
    # and every single run stays within 5 of its own standard deviations (a wrong rule, such as
    # a lagged or doubled imitation term, moves the curve by 0.05–0.3) while at least 100
    # non-adopters are expected: near saturation the count of the last few is discrete and the
    # normal approximation behind sigma[t] no longer holds
    live = (1 - F) * N >= 100
    assert (np.abs(sim - F) / theory.bass_run_sd(p, q, months, N))[:, live].max() < 5


def test_bass_recursion_tends_to_the_closed_form():
    # The engine steps monthly, so it follows the discrete recursion; its distance to Bass's
    # continuous closed form is O(step) and shrinks as the step does (reported in docs/validation.md).
    p, q, months = 0.03, 0.38, 60
    t = np.arange(1, months + 1)
    closed = theory.bass_closed_form(p, q, t)
    d = [np.abs(theory.bass_recursion(p, q, months, dt) - closed).max() for dt in (1.0, 0.5, 0.25, 0.125)]
    assert np.abs(theory.bass_recursion(p, q, months) - bass_recursion(p, q, months)).max() < 1e-12
    assert d[0] < 0.15 and all(b < a for a, b in zip(d, d[1:])) and d[-1] < d[0] / 5


def test_bass_through_the_cli(tmp_path):
    """The same anchor through `adoptsim run` and its results folder."""
    p, q, months, R = 0.03, 0.38, 36, 4
    path = A.write_scenario(A.bass_scenario(p, q, months=months, communities=N), tmp_path, "bass")
    out = tmp_path / "results"
    assert main(["run", str(path), "--replicates", str(R), "--out", str(out), "--no-plots"]) == 0
    ts = read_table(out / "timeseries")  # keyless metrics: null key on disk, "" in memory
    sim = A.series(ts, "adoption")
    err = np.abs(sim.mean(axis=0) - bass_recursion(p, q, months)).max()
    # 4 standard deviations of the mean of R runs (see the test above)
    assert err <= 4 * theory.bass_run_sd(p, q, months, N).max() / math.sqrt(R)


# ---- 2. Multinomial logit and IIA ------------------------------------------------------------

def documented_utility(sc: dict) -> np.ndarray:
    """U[n, s, v] by DESIGN §1 for closed vendors without peer, inertia or ecosystem terms:
    w_cap·capability − w_cost·log(price/gdp) + w_trust·trust[n,o(v)] + w_sov·sov·open(=0)
    + w_inf·infrastructure[n,o(v)]; w = [choice] weight × sector multiplier; trust defaults
    to 0.5 and infrastructure to 0 for origins a nation does not list."""
    ch = sc["choice"]
    U = np.empty((len(sc["nations"]), len(sc["sectors"]), len(sc["vendors"])))
    for i, nat in enumerate(sc["nations"]):
        for j, sec in enumerate(sc["sectors"].values()):
            w = lambda k: ch[k] * sec.get(k, 1.0)  # noqa: E731
            for k, ven in enumerate(sc["vendors"]):
                assert ven["license"] == "closed"
                U[i, j, k] = (w("capability") * ven["capability"]
                              - w("cost") * math.log(ven["price"] / nat["gdp_per_capita"])
                              + w("trust") * nat["trust"].get(ven["origin"], 0.5)
                              + w("sovereignty") * nat["sovereignty"] * 0.0
                              + w("infrastructure") * nat["infrastructure"].get(ven["origin"], 0.0))
    return U


def softmax(U: np.ndarray, T: float) -> np.ndarray:
    E = np.exp((U - U.max(axis=-1, keepdims=True)) / T)
    return E / E.sum(axis=-1, keepdims=True)


def logit_run(tmp_path, sc: dict, name: str):
    """Simulated nation × vendor shares (mean over the months) and the logit expectation with
    its standard error."""
    frame = run(tmp_path, sc, name, metrics=("share_vendor", "adoption"))
    nations = [n["id"] for n in sc["nations"]]
    vendors = [v["id"] for v in sc["vendors"]]
    months = sc["meta"]["months"]
    assert np.allclose(A.series(frame, "adoption"), 1.0)  # initial = 1: everyone has a model
    sim = np.array([[A.series(frame, "share_vendor", v, n)[0].mean() for v in vendors] for n in nations])
    U = documented_utility(sc)
    banned = [vendors.index(v) for pol in sc.get("policies", []) for v in pol["vendors"]]
    U[:, :, banned] = -np.inf
    P = softmax(U, sc["choice"]["temperature"])  # (nation, sector, vendor)
    share = np.array([s["share"] for s in sc["sectors"].values()])
    count = share * sc["communities"]["per_nation"]  # communities per sector (exact here)
    expected = np.einsum("s,nsv->nv", share, P)
    # Standard error: with revision_rate = 1 every community redraws every month, independently
    # (its own uniform), so a sector's share of v is a binomial proportion with variance
    # P(1−P)/count; the nation's developer-weighted share mixes sectors with weights `share`;
    # the mean over `months` independent months divides the variance by `months`.
    se = np.sqrt(np.einsum("s,nsv->nv", share ** 2 / count, P * (1 - P)) / months)
    return sim, expected, se


def test_logit_shares_equal_softmax_of_the_documented_utility(tmp_path):
    sc = A.logit_scenario(sectors=True, months=12, communities=N)
    # five nations, four closed vendors from four origins, all different in capability, price,
    # trust and infrastructure; two sectors with different multipliers; frozen vendors
    assert len({v["origin"] for v in sc["vendors"]}) == 4
    assert all(v["capability_growth"] == 0 and v["price_decline"] == 0 for v in sc["vendors"])
    assert sc["adoption"]["revision_rate"] == 1 and sc["adoption"]["initial"] == 1
    assert sc["choice"]["peer"] == sc["choice"]["inertia"] == sc["choice"]["ecosystem"] == 0
    sim, expected, se = logit_run(tmp_path, sc, "logit")
    assert expected.min() > 0.001 and expected.max() < 0.95  # the check is not trivial
    # 20 nation × vendor comparisons: 4.5 standard errors leaves a false alarm chance of
    # about 20 · 7e-6 per run; a wrong weight or a missed sector multiplier moves shares by
    # 0.01–0.1, i.e. 10–100 standard errors (se is 0.0003–0.001 here).
    z = np.abs(sim - expected) / se
    assert z.max() < 4.5, (z.max(), sim - expected)


def test_logit_iia_banning_one_vendor_keeps_the_other_ratios(tmp_path):
    base = A.logit_scenario(sectors=False, months=12, communities=N)
    banned = A.logit_scenario(sectors=False, ban="qwen", months=12, communities=N)
    sim0, exp0, se0 = logit_run(tmp_path, base, "logit")
    sim1, exp1, se1 = logit_run(tmp_path, banned, "logit_ban")
    q = [v["id"] for v in base["vendors"]].index("qwen")
    assert np.all(sim1[:, q] == 0.0)  # nobody uses the banned vendor, from the first month
    assert (np.abs(sim1 - exp1) / np.where(se1 > 0, se1, 1)).max() < 4.5  # softmax over the rest
    # IIA: log(s_v / s_gpt) is the same with and without qwen. For a multinomial proportion
    # estimated from n = N·12 draws, Var log(s_v/s_u) ≈ 1/(n s_v) + 1/(n s_u); the two runs
    # are independent, so the difference has twice that variance. 4.5 standard errors over
    # 10 ratios. (Under a wrong rule, e.g. banned vendors' share moving to one vendor, the
    # ratios would shift by ~0.1–1.)
    keep = [k for k, v in enumerate(base["vendors"]) if v["id"] not in ("gpt", "qwen")]
    n = N * 12
    r0 = np.log(sim0[:, keep] / sim0[:, [0]])
    r1 = np.log(sim1[:, keep] / sim1[:, [0]])
    se = np.sqrt(2 * (1 / (n * exp0[:, keep]) + 1 / (n * exp0[:, [0]])))
    assert (np.abs(r1 - r0) / se).max() < 4.5
    # and both equal the utility difference / temperature
    U = documented_utility(base)[:, 0, :]
    theory = (U[:, keep] - U[:, [0]]) / base["choice"]["temperature"]
    assert (np.abs(r1 - theory) / (se / math.sqrt(2))).max() < 4.5


# ---- 3. Brock–Durlauf -------------------------------------------------------------------------

def equilibria(h: float, J: float, T: float) -> list[tuple[float, bool]]:
    """Roots of m = tanh((h + J m)/(2T)) in [−1, 1] (brentq on sign changes), with stability
    |(J/2T)(1 − m²)| < 1, as (share = (1 + m)/2, stable)."""
    f = lambda m: math.tanh((h + J * m) / (2 * T)) - m  # noqa: E731
    grid = np.linspace(-1, 1, 2000)  # an even count: m = 0 (a root when h = 0) is no grid point
    out = []
    for a, b in zip(grid[:-1], grid[1:]):
        if f(a) * f(b) < 0:
            m = brentq(f, a, b, xtol=1e-14)
            out.append(((1 + m) / 2, J / (2 * T) * (1 - m * m) < 1))
    return out


def tail_share(frame: pd.DataFrame, months: int = 20) -> np.ndarray:
    """Mean share of vendor a over the last `months` months, one value per replicate."""
    return A.series(frame, "share_vendor", "a")[:, -months:].mean(axis=1)


def bd_tolerance(share: float, J: float, T: float, months: int = 20) -> float:
    # Everyone redraws every month (revision_rate = 1): s[t+1] = f(s[t]) + eta with
    # Var eta = s(1−s)/N (binomial) and slope lambda = f'(s) = 2(J/T)s(1−s) < 1 at a stable
    # equilibrium. For this AR(1) the mean of `months` consecutive months has a standard
    # deviation of at most sqrt(s(1−s)/N) / (sqrt(months)·(1 − lambda)) — 0.0004–0.0009 here;
    # we allow 5 of them (a handful of runs per test; a wrong peer term — e.g. the share among
    # adopters vs. all, or J/2 — moves the equilibrium by 0.02–0.2).
    lam = 2 * J / T * share * (1 - share)
    tol = 5 * math.sqrt(share * (1 - share) / N) / (math.sqrt(months) * (1 - lam))
    assert math.isclose(tol, R.BD_Z * theory.bd_share_sd(share, J, T, N, months))  # the report uses the same
    return tol


def test_brock_durlauf_theory_values():
    # J = 3T, h = 0: two stable solutions at shares ≈ 0.929 / 0.071 and the unstable 0.5
    eq = equilibria(0.0, 3.0, 1.0)
    assert [round(s, 3) for s, _ in eq] == [0.071, 0.5, 0.929] and [st for _, st in eq] == [True, False, True]
    assert len(equilibria(0.5, 1.0, 1.0)) == 1  # J < 2T: one equilibrium
    assert len(equilibria(0.0, 1.9, 1.0)) == 1
    assert [round(e.share, 10) for e in theory.bd_equilibria(0.2, 3.0, 1.0)] == [round(s, 10) for s, _ in
                                                                              equilibria(0.2, 3.0, 1.0)]


def test_brock_durlauf_one_equilibrium_below_2T(tmp_path):
    J, h, T = 1.0, 0.5, 1.0
    [(s_star, stable)] = equilibria(h, J, T)
    assert stable
    # from a start pushed towards a, towards b, and unpushed starts under 4 seeds
    ends = []
    for push in (4.0, -4.0):
        sc = A.bd_scenario(J, h, T, push=push, communities=N)
        frame = run(tmp_path, sc, f"bd{push}", metrics=("share_vendor",))
        first = A.series(frame, "share_vendor", "a")[0, 0]
        assert (first > 0.95) if push > 0 else (first < 0.05)  # the push did set the start
        ends.append(tail_share(frame)[0])
    ends += list(tail_share(run(tmp_path, A.bd_scenario(J, h, T, communities=N), "bd", replicates=4,
                                metrics=("share_vendor",))))
    assert np.abs(np.array(ends) - s_star).max() < bd_tolerance(s_star, J, T), (ends, s_star)


def test_brock_durlauf_two_equilibria_above_2T_reached_from_different_seeds(tmp_path):
    J, h, T = 3.0, 0.0, 1.0
    (lo, _), _, (hi, _) = equilibria(h, J, T)
    # Unpushed starts: the initial logit choice is 50/50, so the start is m ≈ 0 ± 1/sqrt(N),
    # which the unstable fixed point m = 0 amplifies (slope J/2T = 1.5) into one basin or the
    # other. 12 seeds (replicates): both basins are reached (all on one side would have
    # probability 2·0.5^12 ≈ 5e-4 — and the seeds are fixed).
    frame = run(tmp_path, A.bd_scenario(J, h, T, communities=N), "bd", replicates=12, metrics=("share_vendor",))
    ends = tail_share(frame)
    up = ends > 0.5
    assert 0 < up.sum() < len(ends), ends
    assert np.abs(ends[up] - hi).max() < bd_tolerance(hi, J, T)
    assert np.abs(ends[~up] - lo).max() < bd_tolerance(lo, J, T)


def test_brock_durlauf_starting_state_decides_the_basin(tmp_path):
    J, h, T = 3.0, 0.2, 1.0  # h ≠ 0 and J > 2T: still two stable equilibria (|h| < h_c ≈ 0.42)
    eq = equilibria(h, J, T)
    (lo, lo_stable), (mid, mid_stable), (hi, hi_stable) = eq
    assert lo_stable and hi_stable and not mid_stable and hi - 0.5 != 0.5 - lo
    for push, target in ((4.0, hi), (-4.0, lo)):
        # a price cut (or rise) of vendor a by e^4 during the first 3 months starts the
        # population near all-a (all-b); afterwards the rules are the same in both runs
        frame = run(tmp_path, A.bd_scenario(J, h, T, push=push, communities=N), f"bd{push}",
                    metrics=("share_vendor",))
        end = tail_share(frame)[0]
        assert abs(end - target) < bd_tolerance(target, J, T), (push, end, target)


# ---- 4. Arthur lock-in ----------------------------------------------------------------------------

def test_arthur_lock_in(tmp_path):
    """Two equal vendors, strong peer effect (J = 6T): every run locks in, both ways occur."""
    sc = A.arthur_scenario(J=6.0, T=1.0, months=120, communities=5_000)
    assert sc["vendors"][0] | {"id": "b"} == sc["vendors"][1]  # identical but for the id
    path = A.write_scenario(sc, tmp_path, "arthur")
    out = tmp_path / "results"
    R = 24
    assert main(["run", str(path), "--replicates", str(R), "--out", str(out), "--no-plots"]) == 0
    ts = read_table(out / "timeseries")  # keyless metrics: null key on disk, "" in memory
    final = (A.series(ts, "share_vendor", "a") / A.series(ts, "adoption"))[:, -1]
    # At full adoption the locked-in states solve m = tanh(3m): shares 0.9975 / 0.0025, far
    # beyond 95% / 5% (binomial noise with 5,000 communities is ~0.0007).
    assert np.all((final < 0.05) | (final > 0.95)), np.sort(final)
    # Which vendor wins is a fair coin: the number of a-wins is Binomial(24, 1/2); outside
    # [4, 20] has probability 3e-4 (and both outcomes must occur).
    wins = int((final > 0.95).sum())
    assert 4 <= wins <= 20, wins


# ---- 5. The report ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_validation_report_command(tmp_path, monkeypatch):
    # the full report (20,000 communities) is what docs/validation.md shows; here the command is
    # run end to end at 4,000 communities per nation — every tolerance in it is derived from the
    # number of communities, so the checks must still pass
    monkeypatch.setattr(R, "COMMUNITIES", 4_000)
    out = tmp_path / "docs" / "validation"
    assert main(["validation-report", "--out", str(out)]) == 0
    for name in ("bass.png", "logit.png", "brock_durlauf.png", "arthur.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "docs" / "validation.md").read_text()
    assert "FAIL" not in md and md.count("| pass |") >= 13
    for name in ("bass.png", "logit.png", "brock_durlauf.png", "arthur.png"):
        assert f"(validation/{name})" in md
