"""Scenario files: loading, extends, strict validation and clear errors."""

from __future__ import annotations

import textwrap

from pathlib import Path

import copy
import math
import tomllib

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adoptsim.errors import InputError
from adoptsim.core.schema import parse_scenario
from adoptsim.io.scenario_files import load_scenario
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
EXAMPLES = SCENARIOS / "examples"
SMALL = (ROOT / "tests" / "data" / "small.toml").read_text()


def write(folder: Path, name: str, text: str) -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path

BASE = tomllib.loads(SMALL)


def problems(raw_or_path, file="s.toml") -> list[str]:
    try:
        if isinstance(raw_or_path, dict):
            parse_scenario(raw_or_path, file)
        else:
            load_scenario(raw_or_path)
    except InputError as exc:
        return [str(p) for p in exc.problems]
    return []


def mutated(**changes) -> dict:
    raw = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = raw
        parts = path.split("__")
        for p in parts[:-1]:
            node = node[int(p)] if p.isdigit() else node[p]
        node[parts[-1]] = value
    return raw


def test_small_loads_with_defaults(small_path):
    s = load_scenario(small_path)
    assert s.meta.months == 24 and s.choice.temperature == 1.0
    assert [n.id for n in s.nations] == ["US", "CN", "BR"]
    assert s.policies[0].type == "export_control" and s.policies[0].chip_access == 0.5
    assert s.sector_is_critical("government") and not s.sector_is_critical("general")


@pytest.mark.parametrize("path", sorted(SCENARIOS.rglob("*.toml")), ids=lambda p: p.name)
def test_bundled_scenarios_validate(path):
    assert problems(path) == []


def test_resolved_toml_round_trips(small_path):
    s = load_scenario(small_path)
    again = parse_scenario(tomllib.loads(s.to_toml()), "resolved")
    assert again.digest() == s.digest()
    assert again.to_dict() == s.to_dict()


def test_extends_merges_tables_and_lists_by_id(tmp_path, small_path):
    write(tmp_path, "sub/child.toml", """
        extends = "../small.toml"
        [meta]
        name = "child"
        [choice]
        trust = 3.0
        [[nations]]
        id = "BR"
        optimism = 0.9
        trust = {CN = 0.9}
        [[vendors]]
        id = "llama"
        remove = true
        [[policies]]
        name = "chips"
        chip_access = 0.2
        [[policies]]
        name = "edu"
        type = "education"
        factor = 2.0
        start = "2025-03"
    """)
    s = load_scenario(tmp_path / "sub" / "child.toml")
    assert s.meta.name == "child" and s.meta.months == 24  # inherited
    assert s.choice.trust == 3.0 and s.choice.peer == 1.0
    br = next(n for n in s.nations if n.id == "BR")
    assert br.optimism == 0.9 and br.trust == {"US": 0.5, "CN": 0.9} and br.developers == 1_000_000
    assert [v.id for v in s.vendors] == ["openai", "deepseek"]
    pols = {p.name: p for p in s.policies}
    assert pols["chips"].chip_access == 0.2 and pols["chips"].targets == ["CN"]
    assert pols["edu"].factor == 2.0


def test_extends_cycle_and_missing_target(tmp_path):
    write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    (msg,) = problems(tmp_path / "a.toml")
    assert "extends cycle" in msg and "a.toml -> b.toml -> a.toml" in msg
    write(tmp_path, "c.toml", 'extends = "nowhere.toml"\n')
    (msg,) = problems(tmp_path / "c.toml")
    assert msg.startswith(str(tmp_path / "c.toml")) and "extends" in msg and "nowhere.toml" in msg


@pytest.mark.parametrize("changes, expected", [
    ({"chioce": {"trust": 1}}, "chioce: unknown key 'chioce'; did you mean 'choice'?"),
    ({"nations__0__optimsm": 0.3}, "nations.US.optimsm: unknown key 'optimsm'; did you mean 'optimism'?"),
    ({"sectors__general__trsut": 2}, "sectors.general.trsut: unknown key 'trsut'; did you mean 'trust'?"),
    ({"policies__0__chip_acess": 0.3}, "policies.chips.chip_acess: unknown key 'chip_acess'; did you mean 'chip_access'?"),
    ({"vendors__1__price": -1.0}, "vendors.deepseek.price: Input should be greater than 0"),
    ({"vendors__1__price": "cheap"}, "vendors.deepseek.price: Input should be a valid number"),
    ({"vendors__1__price": True}, "vendors.deepseek.price: Input should be a valid number"),
    ({"vendors__1__price": math.nan}, "vendors.deepseek.price: Input should be a finite number"),
    ({"nations__2__optimism": 1.5}, "nations.BR.optimism: Input should be less than or equal to 1"),
    ({"vendors__0__license": "shared"}, "vendors.openai.license: Input should be 'open' or 'closed'"),
    ({"meta__start": "2025-13"}, "meta.start: month must be 01..12"),
    ({"meta__start": "Jan 2025"}, "meta.start: expected a date 'YYYY-MM'"),
    ({"network__kind": "mesh"}, "network.kind: Input should be 'complete', 'regional' or 'small_world'"),
    ({"policies__0__type": "export_controll"}, "policies.chips.type: unknown policy type 'export_controll'; did you mean 'export_control'?"),
    ({"policies__0__start": "2031-01"}, "policies.chips.start: 2031-01 is outside the horizon 2025-01..2026-12"),
    ({"policies__0__end": "2025-02"}, "policies.chips: 'end' (2025-02) must come after 'start' (2025-06)"),
    ({"policies__0__targets": ["XX"]}, "policies.chips.targets: unknown nation 'XX'"),
    ({"policies__0__issuer": "USA"}, "policies.chips.issuer: unknown nation 'USA'; did you mean 'US'?"),
    ({"vendors__1__origin": "CHN"}, "vendors.deepseek.origin: unknown nation 'CHN'; did you mean 'CN'?"),
    ({"nations__2__trust": {"RU": 0.5}}, "nations.BR.trust.RU: unknown nation 'RU'"),
    ({"nations__1__id": "US"}, "nations: duplicate id 'US'"),
    ({"sectors__general__share": 0.5}, "sectors: sector shares must sum to 1, they sum to 0.8"),
])
def test_bad_fields_are_named(changes, expected):
    probs = problems(mutated(**changes))
    assert probs, "expected a problem"
    assert any(p.startswith("s.toml: ") and expected in p for p in probs), probs


def test_missing_required_field_and_policy_reference_checks():
    raw = mutated()
    del raw["vendors"][0]["price"]
    raw["policies"].append({"name": "ban", "type": "model_ban", "issuer": "US", "vendors": ["gpt9"],
                            "sectors": ["defence"], "start": "2025-02"})
    probs = problems(raw)
    assert "s.toml: vendors.openai.price: required field is missing" in probs
    raw["vendors"][0]["price"] = 1.0
    probs = problems(raw)
    assert any("policies.ban.vendors: unknown vendor 'gpt9'" in p for p in probs)
    assert any("policies.ban.sectors: unknown sector 'defence'" in p for p in probs)


def test_policy_type_parameters_are_checked():
    raw = mutated()
    raw["policies"].append({"name": "t", "type": "trust_shock", "delta": 3, "start": "2025-02"})
    probs = problems(raw)
    assert any("policies.t.origin: required field is missing" in p for p in probs)
    assert any("policies.t.delta: Input should be less than or equal to 1" in p for p in probs)
    raw["policies"][-1] = {"name": "b", "type": "model_ban", "issuer": "US", "start": "2025-02"}
    assert any("a model_ban needs 'vendors' or 'origins'" in p for p in problems(raw))


@pytest.mark.parametrize("content, expected", [
    (b"", "file is empty"),
    (b"   \n\n", "file is empty"),
    (b"\x00\x01\x02binary", "binary file"),
    (b"\xff\xfe\xfa not utf8", "not UTF-8"),
    (b"[meta]\nname = \n", "malformed TOML: Invalid value (at line 2, column 8)"),
    (b"[meta\n", "malformed TOML"),
])
def test_unreadable_files(tmp_path, content, expected):
    p = tmp_path / "bad.toml"
    p.write_bytes(content)
    (msg,) = problems(p)
    assert msg.startswith(f"{p}: ") and expected in msg


def test_missing_file_and_directory(tmp_path):
    (msg,) = problems(tmp_path / "nope.toml")
    assert msg == f"{tmp_path / 'nope.toml'}: file not found"
    (msg,) = problems(tmp_path)
    assert "is a directory" in msg


def test_examples_cover_every_policy_type():
    from adoptsim.core.policies import REGISTRY

    used = {p.type for f in EXAMPLES.glob("*.toml") for p in load_scenario(f).policies}
    assert used == set(REGISTRY)


# ---- property-based: broken files give InputError, never anything else ------------------

junk = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                 st.text(max_size=12), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _paths(raw, prefix=()):
    if isinstance(raw, dict):
        for k, v in raw.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


ALL_PATHS = list(_paths(BASE))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), junk, st.sampled_from(["set", "delete", "extra"])),
                min_size=1, max_size=4))
def test_mutated_scenarios_fail_cleanly(edits):
    raw = copy.deepcopy(BASE)
    for path, value, action in edits:
        node = raw
        try:
            for p in path[:-1]:
                node = node[p]
            if action == "set":
                node[path[-1]] = value
            elif action == "delete" and isinstance(node, dict):
                node.pop(path[-1], None)
            elif isinstance(node, dict):
                node["zz_" + str(path[-1])] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        parse_scenario(raw, "h.toml")
    except InputError as exc:
        assert exc.problems and all(str(p).startswith("h.toml: ") for p in exc.problems)
        assert all("\n" not in str(p) for p in exc.problems)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_fail_cleanly(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("b") / "x.toml"
    p.write_bytes(data)
    try:
        load_scenario(p)
    except InputError as exc:
        assert str(exc).startswith(str(p))


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-5, max_value=5, allow_nan=False), st.floats(min_value=0.0, max_value=1.0))
def test_numeric_ranges(price, share):
    raw = mutated(vendors__1__price=price, sectors__general__share=share, sectors__government__share=1 - share)
    probs = problems(raw)
    assert (price > 0) == (not any("vendors.deepseek.price" in p for p in probs))


def test_dump_is_valid_toml(small_path):
    s = load_scenario(small_path)
    assert tomllib.loads(tomli_w.dumps(s.to_dict()))["meta"]["name"] == "small"
