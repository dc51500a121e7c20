"""docs/cli.md matches ``--help``: every command has a section, and every option of a command
appears in its section (and no section documents an option the command does not have)."""

from __future__ import annotations

import re

from adoptsim.cli import build_parser


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## ", text, flags=re.M)
    return {p.split("\n", 1)[0].strip(): p for p in parts[1:]}


def subcommands():
    parser = build_parser()
    for action in parser._actions:  # argparse has no public accessor for its subparsers
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            return action.choices
    raise AssertionError("no subcommands")


GLOBAL = {"--help", "--debug", "--quiet", "--json"}


def test_every_command_and_option_is_documented(repo):
    docs = sections((repo.root / "docs" / "cli.md").read_text())
    for name, sub in subcommands().items():
        assert name in docs, f"docs/cli.md has no section '## {name}'"
        section = docs[name]
        options = {o for a in sub._actions for o in a.option_strings if o.startswith("--")} - GLOBAL
        for opt in options:
            assert re.search(rf"{re.escape(opt)}\b", section), f"docs/cli.md ## {name}: {opt} is not documented"
        documented = set(re.findall(r"`(--[a-z][a-z-]*)", section))
        extra = documented - options - GLOBAL
        assert not extra, f"docs/cli.md ## {name} documents options the command lacks: {sorted(extra)}"


def test_global_options_are_documented(repo):
    text = (repo.root / "docs" / "cli.md").read_text()
    for opt in ("--version", "--debug", "--quiet", "--json"):
        assert f"`{opt}`" in text or f"{opt}`" in text, opt
