"""Size estimates before allocation (adoptsim.experiments.budget)."""

from __future__ import annotations

import pytest

from adoptsim.core.model import simulate
from adoptsim.errors import AdoptsimError
from adoptsim.experiments.budget import (Budget, Estimate, check_budget, estimate_run, format_size, parse_size,
                                         table_rows)
from adoptsim.io.scenario_files import load_scenario


@pytest.mark.parametrize("text, size", [("40G", 40 * 2**30), ("512M", 512 * 2**20), ("1.5T", int(1.5 * 2**40)),
                                        ("2048", 2048), ("3gb", 3 * 2**30), (" 7 KiB", 7 * 2**10)])
def test_sizes_parse(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "forty", "-1G", "1Q", "1.2.3G"])
def test_bad_sizes_are_an_error_naming_the_option(text):
    with pytest.raises(AdoptsimError, match="--max-memory"):
        parse_size(text)


def test_format_size_is_what_max_memory_takes():
    for n in (3 * 2**30, 700 * 2**20, 5 * 2**40):
        assert abs(parse_size(format_size(n)) - n) / n < 0.05


def test_the_table_estimate_is_the_table(small_path):
    sc = load_scenario(small_path)
    frame = simulate(sc, seed=1, replicates=1)
    assert len(frame) <= table_rows(sc) <= 1.05 * len(frame)


def test_caps_refuse_with_the_estimate_and_the_option(small_path):
    est = estimate_run(load_scenario(small_path), 3)
    check_budget(est, Budget(max_memory=est.memory, max_runs=3))
    with pytest.raises(AdoptsimError, match=r"needs about .* raise the cap with --max-memory \d"):
        check_budget(est, Budget(max_memory=est.memory - 1))
    with pytest.raises(AdoptsimError, match="3 runs, more than the cap of 2; raise it with --max-runs 3"):
        check_budget(est, Budget(max_runs=2))
    check_budget(Estimate("tiny", 1, 1, 1), None)  # the default: the machine's available memory
