"""``adoptsim report``: the one-page brief on real runs of the small scenario — self-contained
(no external resource), the headline numbers equal the run's quantiles, effects in pts with a
robustness share counted over paired replicates, caveats from the model card, provenance; bad
input is one line and exit 2."""

from __future__ import annotations

import re

import numpy as np
import pytest

from adoptsim.analysis.bands import quantiles
from adoptsim.cli import main
from adoptsim.io.run_folder import load_results
from adoptsim.workflows.report import caveats, headline_dates, world_values


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_text, write_toml):
    root = tmp_path_factory.mktemp("brief")
    base = write_toml(root, "small.toml", small_text.replace('name = "small"', 'name = "small"\ndescription = '
                                                             '"What if chips flow? <b>not bold</b>"'))
    alt = write_toml(root, "tight.toml", small_text.replace("chip_access = 0.5", "chip_access = 0.05")
                     .replace('name = "small"', 'name = "tight"'))
    for path, out in ((base, "base"), (alt, "tight")):
        assert main(["run", str(path), "--replicates", "4", "--out", str(root / out), "--no-plots", "-q"]) == 0
    return root


def test_brief_is_self_contained_and_holds_the_numbers(runs, capsys):
    out = runs / "brief.html"
    assert main(["report", str(runs / "tight"), "--against", str(runs / "base"), "--out", str(out)]) == 0
    html = out.read_text()
    # self-contained: every src/href is inline; no script, no stylesheet link, no @import or url() to elsewhere
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert len(refs) == 3 and all(r.startswith("data:image/png;base64,") for r in refs)
    assert "<script" not in html and "<link" not in html and "@import" not in html and "url(" not in html
    assert "@media print" in html and "@page" in html
    # the headline at the run's last month (the small scenario ends 2026-12, before 2027)
    res = load_results(runs / "tight")
    (when,) = headline_dates(res.frame)
    assert f"{when:%Y-%m}" == "2026-12"
    q10, q50, q90 = quantiles(world_values(res.frame, "share_origin", "CN", when))
    assert f"{100 * q50:.1f}%" in html and f"{100 * q10:.1f}%–{100 * q90:.1f}%" in html
    # effects in percentage points, paired (same seed and replicates), robustness over replicates
    base = load_results(runs / "base")
    d = (world_values(res.frame, "share_origin", "CN", when) - world_values(base.frame, "share_origin", "CN", when))
    assert f"{100 * np.median(d):+.1f} pts" in html
    assert f"{np.mean(d > 0):.0%}</td>" in html
    assert "paired by replicate" in html and "share of paired replicates with an effect &gt; 0" in html
    assert " pts" in html and "% pts" not in html
    # caveats of the model card, provenance, and the question escaped (no HTML injection)
    assert all(c["text"][:40] in html for c in caveats())
    assert res.manifest["scenario_hash"] in html and res.manifest["command"] in html
    assert "&lt;b&gt;" not in html  # tight's description is the small one's; escaping checked below


def test_question_is_escaped_and_policies_have_names(runs):
    out = runs / "base.html"
    assert main(["report", str(runs / "base"), "--out", str(out), "-q"]) == 0
    html = out.read_text()
    assert "What if chips flow? &lt;b&gt;not bold&lt;/b&gt;" in html
    assert "<td>chips</td>" in html and "export_control" in html
    assert "effect vs" not in html  # no --against: no effect columns


def test_caveats_come_from_the_model_card(repo):
    items = caveats(repo.root / "docs" / "model-card.md")
    assert [c["title"] for c in items][:2] == ["Uncertainty.", "Usage mapping."]
    assert all("](" not in c["text"] and "**" not in c["text"] for c in items)


@pytest.mark.parametrize("args, message", [
    (["--out", "{root}/base.txt"], "expected a file name ending in .html"),
    (["--out", "{root}/exists.html"], "exists; pass --overwrite"),
    (["--against", "{root}/small.toml", "--out", "{root}/x.html"], "this is a scenario file"),
])
def test_bad_input_is_one_line_and_exit_2(runs, capsys, args, message):
    (runs / "exists.html").write_text("keep")
    code = main(["report", str(runs / "base"), *[a.format(root=runs) for a in args]])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert (runs / "exists.html").read_text() == "keep"
