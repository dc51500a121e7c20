"""``validate`` applies every check the running commands apply (issue 18): references (scope
ids, keys, metrics), finiteness, whole-number ranges; and no command answers NaN."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from adoptsim.cli import main
from adoptsim.errors import AdoptsimError


def write(folder: Path, name: str, text: str) -> Path:
    p = Path(folder) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


SPEC = """
scenario = "small.toml"
targets = "targets.toml"
replicates = 1
seed = 5
[method]
samples = 4
min_accepted = 1
check_replicates = 1
[[parameters]]
path = "adoption.q"
range = [0.1, 0.5]
"""

TARGET = """
[[targets]]
id = "t"
metric = "{metric}"
scope = "{scope}"
scope_id = "{scope_id}"
key = "{key}"
when = "2025-06"
value = 0.3
range = [0.1, 0.5]
weight = {weight}
"""


@pytest.fixture
def calibration(tmp_path, small_path):
    def make(metric="adoption", scope="nation", scope_id="US", key="", weight="1.0") -> Path:
        write(tmp_path, "targets.toml", TARGET.format(metric=metric, scope=scope, scope_id=scope_id, key=key,
                                                      weight=weight))
        return write(tmp_path, "spec.toml", SPEC)

    return make


@pytest.mark.parametrize("change, message", [
    ({"scope_id": "XX"}, "targets[0].scope_id: no nation 'XX'"),
    ({"metric": "share_license", "key": "opn"},
     "targets[0].key: no key 'opn' for 'share_license'; did you mean 'open'?"),
    ({"metric": "capability", "key": "openai"}, "targets[0].scope: 'capability' is reported at world scope only"),
    ({"weight": "inf"}, "targets[0].weight: expected a finite number >= 0, got inf"),
    ({"weight": "nan"}, "targets[0].weight"),
])
def test_validate_refuses_what_calibrate_would(calibration, capsys, tmp_path, change, message):
    spec = calibration(**change)
    assert main(["validate", str(spec)]) == 2
    assert message in capsys.readouterr().out
    assert main(["calibrate", str(spec), "--out", str(tmp_path / "out"), "--workers", "1"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_valid_reference_passes(calibration, capsys):
    assert main(["validate", str(calibration(metric="share_license", key="open"))]) == 0


def test_target_experiment_key_is_checked_by_validate(tmp_path, small_path, capsys):
    exp = write(tmp_path, "target.toml", """
        scenario = "small.toml"
        replicates = 1
        [[factors]]
        path = "adoption.q"
        range = [0.1, 0.5]
        [target]
        metric = "share_license"
        key = "opn"
        date = "2025-06"
        threshold = 0.5
        """)
    assert main(["validate", str(exp)]) == 2
    assert "target.key: no key 'opn' for 'share_license'" in capsys.readouterr().out


def test_whole_number_factor_ranges_are_checked_after_rounding(tmp_path, small_path, capsys):
    exp = write(tmp_path, "exp.toml", """
        scenario = "small.toml"
        replicates = 1
        [design]
        method = "lhs"
        samples = 4
        [[factors]]
        path = "network.degree"
        range = [3.2, 3.8]
        """)
    assert main(["validate", str(exp)]) == 2
    assert "holds none" in capsys.readouterr().out
    exp.write_text(exp.read_text().replace("[3.2, 3.8]", "[3.2, 5.8]"))
    from adoptsim.experiments.loader import load_experiment

    values = {p["network.degree"] for p in load_experiment(exp).points}
    assert values <= {4, 5}


def test_a_nan_distance_is_an_error_naming_the_target():
    from adoptsim.experiments.calibration.targets import Target, distance

    t = Target(id="share_x", metric="adoption", when="2025-06", value=0.3, range=[0.1, 0.5])
    assert distance([t], {"share_x": 0.3}) == 0.0
    with pytest.raises(AdoptsimError, match="'share_x'.*NaN"):
        distance([t], {"share_x": float(np.nan)})
