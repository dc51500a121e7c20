"""The explorer without a browser (adoptsim.app.session): which files the page may open, the
levers of a scenario and their ranges, a variant with edited levers, the headline, the zip."""

from __future__ import annotations

import io
import zipfile

import pytest

from adoptsim.app import session as S
from adoptsim.cli import main
from adoptsim.errors import AdoptsimError
from adoptsim.io.run_folder import load_results
from adoptsim.io.scenario_files import load_raw, load_scenario


def test_only_bundled_scenarios_and_the_current_tree_are_opened(tmp_path, monkeypatch, small_text, write_toml):
    monkeypatch.chdir(tmp_path)
    assert S.resolve_scenario("chip_ban_tightening") == S.bundled_scenarios()["chip_ban_tightening"]
    mine = write_toml(tmp_path / "sub", "mine.toml", small_text)
    assert S.resolve_scenario("sub/mine.toml") == mine.resolve()
    outside = write_toml(tmp_path.parent, f"{tmp_path.name}-outside.toml", small_text)
    for bad, why in ((str(outside), "outside the folders"), ("../" + outside.name, "outside the folders"),
                     ("/etc/passwd", "outside the folders"), ("sub/missing.toml", "file not found"),
                     ("sub", "ending in .toml")):
        with pytest.raises(AdoptsimError, match=why):
            S.resolve_scenario(bad)
    link = tmp_path / "link.toml"
    link.symlink_to(outside)
    with pytest.raises(AdoptsimError, match="outside the folders"):  # a link out of the tree is outside
        S.resolve_scenario("link.toml")


def test_levers_have_the_policy_types_ranges_and_edits_are_checked(tmp_path):
    raw = load_raw(S.bundled_scenarios()["chip_ban_tightening"])
    levers = {lv.key: lv for lv in S.scenario_levers(raw)}
    assert [k for k in levers if k.startswith("choice-")] == [f"choice-{w}" for w in S.WEIGHTS]
    i = [p.get("name") for p in raw["policies"]].index("chip_ban_2026")  # levers are keyed by position
    ban = levers[f"policies-{i}-chip-access"]
    assert (ban.value, ban.lo, ban.hi, ban.group) == (0.4, 0.0, 10.0, "chip_ban_2026 (export_control)")
    assert levers[f"policies-{i}-start"].value == "2026-01"
    edited, changes = S.apply_levers(raw, list(levers.values()), {f"policies-{i}-chip-access": "0.1",
                                                                  f"policies-{i}-start": "2027-03",
                                                                  "choice-trust": "3.8"})  # unchanged (the baseline value)
    assert changes == ["chip_ban_2026 (export_control): start month (YYYY-MM) 2026-01 -> 2027-03",
                       "chip_ban_2026 (export_control): chip_access 0.4 -> 0.1"]
    assert raw["policies"][i]["chip_access"] == 0.4  # the original is untouched
    path = S.write_variant(edited, changes, tmp_path, "ban")
    sc = load_scenario(path)
    pol = {p.name: p for p in sc.policies}["chip_ban_2026"]
    assert pol.chip_access == 0.1 and pol.start == "2027-03"
    assert "Edited in adoptsim app: chip_ban_2026" in sc.meta.description
    for values, message in (({f"policies-{i}-chip-access": "11"}, r"in 0.0..10.0"),
                            ({f"policies-{i}-chip-access": "a lot"}, "expected a number"),
                            ({f"policies-{i}-start": "soon"}, "expected a month YYYY-MM")):
        with pytest.raises(AdoptsimError, match=message):
            S.apply_levers(raw, list(levers.values()), values)


def test_headline_and_zip_of_a_results_folder(tmp_path, small_path):
    out = tmp_path / "res"
    assert main(["run", str(small_path), "--replicates", "3", "--out", str(out), "--no-plots", "-q"]) == 0
    head = S.headline(load_results(out))
    assert head["date"] == "2026-12" and head["q10"] <= head["median"] <= head["q90"]
    assert head["text"].startswith("Chinese models, world share in 2026-12: ")
    names = zipfile.ZipFile(io.BytesIO(S.zip_folder(out))).namelist()
    assert "res/manifest.json" in names and "res/timeseries.parquet" in names


def test_app_command_checks_its_port(capsys):
    assert main(["app", "--port", "70000"]) == 2
    assert "--port: expected a port number" in capsys.readouterr().err
