"""The pre-registered predictions (docs/predictions.md, issue "Evidence" item 4): the page is what
the code makes (same command, same bytes), and the quantities are the ratios the page says."""

from __future__ import annotations

import re
import shlex

import numpy as np
import pandas as pd
import pytest

from adoptsim.analysis.predictions import PREDICTIONS, prediction_table, run_values
from adoptsim.cli import main


def _frame(values: dict[tuple[int, str, str], float], dates: list[str]) -> pd.DataFrame:
    """A tidy frame with only view_share rows: values[(month index, view/origin/licence)]."""
    rows = []
    for (i, key), v in values.items():
        rows.append({"member": 0, "replicate": 0, "date": pd.Timestamp(dates[i] + "-01"), "scope": "world",
                     "scope_id": "world", "metric": "view_share", "key": key, "value": v})
    return pd.DataFrame(rows)


def test_quantities_are_ratios_of_the_view_and_means_over_the_period():
    dates = ["2026-01", "2026-02"]
    vals = {}
    for i, (cn, us, closed) in enumerate([(0.2, 0.2, 0.6), (0.3, 0.1, 0.6)]):
        for view in ("openrouter", "huggingface", "enterprise"):
            vals[(i, f"{view}/CN/open")] = cn
            vals[(i, f"{view}/US/open")] = us
            vals[(i, f"{view}/US/closed")] = closed
    v = run_values(_frame(vals, dates), {"2026 mean": ("2026-01", "2026-12"), "2026-02": ("2026-02", "2026-02")})
    got = v.set_index(["quantity", "period"])["value"]
    # Chinese share of open usage: 0.5 in January, 0.75 in February
    assert got[("cn_share_of_open_openrouter", "2026 mean")] == pytest.approx(0.625)
    assert got[("cn_share_of_open_huggingface", "2026-02")] == pytest.approx(0.75)
    # open share of all usage: 0.4 both months
    assert got[("open_share_openrouter", "2026 mean")] == pytest.approx(0.4)
    assert got[("open_share_enterprise", "2026-02")] == pytest.approx(0.4)
    assert set(v["quantity"]) == set(PREDICTIONS)


def test_no_open_usage_gives_no_number_not_zero():
    dates = ["2026-01"]
    vals = {(0, f"{w}/US/closed"): 1.0 for w in ("openrouter", "huggingface", "enterprise")}
    vals.update({(0, f"{w}/CN/open"): 0.0 for w in ("openrouter", "huggingface", "enterprise")})
    t = prediction_table(run_values(_frame(vals, dates), {"2026": ("2026-01", "2026-01")}))
    cn = t[t["quantity"] == "cn_share_of_open_openrouter"].iloc[0]
    assert np.isnan(cn["q50"]) and cn["runs"] == 0
    assert t[t["quantity"] == "open_share_openrouter"].iloc[0]["q50"] == 0.0


@pytest.mark.slow
def test_the_committed_page_is_what_its_command_makes(repo, tmp_path, monkeypatch, capsys):
    page = (repo.root / "docs" / "predictions.md").read_text(encoding="utf-8")
    command = re.search(r"```bash\n(adoptsim predict [^\n]+)\n```", page).group(1)
    argv = shlex.split(command)[1:]
    i = argv.index("--out")
    argv[i + 1] = str(tmp_path / "predictions.md")
    monkeypatch.chdir(repo.root)
    assert main([*argv, "--workers", "2"]) == 0
    made = (tmp_path / "predictions.md").read_text(encoding="utf-8")
    # the page names its own --out; everything else, every number included, is identical
    assert made.replace(str(tmp_path / "predictions.md"), "docs/predictions.md") == page
    for name in PREDICTIONS:
        assert f"`{name}`" in page
