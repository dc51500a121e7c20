"""The one compare (issue: the old two-folder form paired replicates by number even when the runs
used different seeds, and filled a scope or replicate one run lacked with 0). Real runs of the
small test scenario: pairing only with the same seed and replicate ids, unpaired otherwise (and
said so), and a refusal — exit 2, one line — for runs of another horizon or without the scope."""

from __future__ import annotations

import pandas as pd
import pytest

from adoptsim.analysis.compare import check_comparable, compare_results
from adoptsim.cli import main
from adoptsim.errors import AdoptsimError
from adoptsim.io.run_folder import load_results


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_text, write_toml):
    """Four runs of the small scenario: seed 3 x 4 replicates (twice), seed 4 x 4 replicates,
    seed 3 x 2 replicates; and a 12-month version (another horizon) and a version without Brazil."""
    root = tmp_path_factory.mktemp("cmp")
    small = write_toml(root, "small.toml", small_text)
    short = write_toml(root, "short.toml", small_text.replace("months = 24", "months = 12"))
    no_br = small_text[:small_text.index('[[nations]]\nid = "BR"')] + small_text[small_text.index("[[vendors]]"):]
    no_br = write_toml(root, "no_br.toml", no_br)
    out = {}
    for name, path, seed, reps in (("a", small, 3, 4), ("b", small, 3, 4), ("seed4", small, 4, 4),
                                   ("two", small, 3, 2), ("short", short, 3, 2), ("no_br", no_br, 3, 2)):
        out[name] = root / name
        assert main(["run", str(path), "--seed", str(seed), "--replicates", str(reps), "--out", str(out[name]),
                     "--no-plots"]) == 0
    return out


def _items(runs, *names):
    loaded = [load_results(runs[n]) for n in names]
    return [(n, r.frame, r.manifest) for n, r in zip(names, loaded)]


def test_same_seed_and_replicates_are_paired_and_identical_runs_differ_by_zero(runs):
    _, diffs = compare_results(_items(runs, "a", "b"), "share_origin")
    assert diffs["paired"].all() and (diffs["n"] == 4).all()
    assert (diffs[["q10", "q50", "q90"]].abs().to_numpy() == 0).all()


@pytest.mark.parametrize("other, n", [("seed4", 16), ("two", 8)])
def test_other_seed_or_replicate_count_is_unpaired(runs, other, n):
    """Another seed, or another set of replicates: every replicate against every replicate
    (n = 4 x 4 or 4 x 2 differences), never replicate r against replicate r."""
    _, diffs = compare_results(_items(runs, "a", other), "share_origin")
    assert not diffs["paired"].any() and (diffs["n"] == n).all()
    with pytest.raises(ValueError, match="do not share seeds"):
        compare_results(_items(runs, "a", other), "share_origin", paired=True)


def test_another_horizon_or_a_missing_scope_is_refused(runs):
    with pytest.raises(AdoptsimError, match="start and horizon must match"):
        check_comparable(_items(runs, "a", "short"), "world", "world")
    with pytest.raises(AdoptsimError, match="missing: BR"):
        check_comparable(_items(runs, "a", "no_br"), "nation", "BR")
    check_comparable(_items(runs, "a", "two"), "nation", "BR")  # same horizon, scope present: fine


@pytest.mark.parametrize("other, pair_flags, several_flags, expected", [
    ("short", [], [], "start and horizon must match"),
    ("no_br", ["--level", "nation", "--scope", "BR"], ["--level", "nation", "--scope", "BR"], "BR"),  # "no nation 'BR'" or "missing: BR"
])
def test_both_compare_forms_refuse_with_one_line(runs, tmp_path, capsys, other, pair_flags, several_flags,
                                                 expected):
    """The two-folder form (one figure into SCENARIO/plots) and the several-folder form (--out
    DIR) refuse alike: exit 2, one line, nothing written."""
    for form in (["compare", str(runs["a"]), str(runs[other]), *pair_flags],
                 ["compare", str(runs["a"]), str(runs[other]), "--out", str(tmp_path / "c"), *several_flags]):
        code = main(form)
        err = capsys.readouterr().err
        assert code == 2 and expected in err and "Traceback" not in err, (form, err)
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()
    assert not list(runs[other].glob("plots/compare_*"))


def test_plot_against_uses_the_same_rules(runs, capsys):
    code = main(["plot", str(runs["seed4"]), "--against", str(runs["a"])])
    assert code == 0, capsys.readouterr().err
    figure = runs["seed4"] / "plots" / "compare_a_share_origin.png"
    assert figure.stat().st_size > 10_000
    assert main(["plot", str(runs["short"]), "--against", str(runs["a"])]) == 2
    assert "start and horizon must match" in capsys.readouterr().err
