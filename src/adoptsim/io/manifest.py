"""Manifests: the ``manifest.json`` of every output folder (what, how, with which versions).

:func:`build_manifest` is the one builder: every folder kind (run, sweep, compare, sensitivity,
target, discovery, calibration) records its own fields plus the command line, the creation time
and the package versions (docs/outputs.md).
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..core.schema import Scenario
from .atomic import atomic_write_text


def versions() -> dict[str, str]:
    """Versions of Python, adoptsim and the packages that can change a number or a file."""
    import importlib.metadata as md

    out = {"adoptsim": __version__, "python": platform.python_version()}
    for pkg in ("mesa", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "matplotlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def command_line() -> str:
    """The command that is running, as typed (program name without its folder)."""
    return " ".join([Path(sys.argv[0]).name] + sys.argv[1:])


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_manifest(kind: str, command: str | None = None, **fields) -> dict:
    """A manifest of ``kind`` with ``fields``, then ``command``, ``created`` and ``versions``."""
    return {"kind": kind, **fields, "command": command or command_line(), "created": now(),
            "versions": versions()}


def policy_list(scenario: Scenario) -> list[dict]:
    """The scenario's policies as recorded in manifests (name, type, start, end, and ``label``:
    its description's first clause, or its name, for figures)."""
    return [{"name": p.name, "type": p.type, "start": p.start, "end": p.end, "label": policy_label(p)}
            for p in scenario.policies]


def policy_label(policy) -> str:
    """A short display name of a policy: its description up to the first ';' or '.', at most 60
    characters, else its name."""
    text = (policy.description or "").split(";")[0].split(". ")[0].strip().rstrip(".")
    if not text:
        return policy.name
    return text if len(text) <= 60 else text[:59].rstrip() + "…"


def display_names(scenario: Scenario) -> dict[str, dict[str, str]]:
    """Display names recorded in a run's manifest for its figures: nations, vendors and products
    by id (the entry's ``name`` when set), policies by name."""
    products = {}
    for v in scenario.vendors:
        products[v.id] = v.name or v.id
        for p in v.products:
            products[f"{v.id}.{p.id}"] = p.name or f"{v.name or v.id} {p.id}"
    return {"nation": {n.id: n.name or n.id for n in scenario.nations},
            "vendor": {v.id: v.name or v.id for v in scenario.vendors},
            "product": products,
            "policy": {p.name: policy_label(p) for p in scenario.policies}}


def run_manifest(scenario: Scenario, scenario_file: str, seed: int, replicates: int, fmt: str,
                 elapsed: float, ensemble: dict | None = None, executor: str | None = None) -> dict:
    """The manifest of a results folder written by ``adoptsim run``: ``members`` is the number
    of ensemble members run (1 without an ensemble), ``ensemble`` what they were (file, SHA-256,
    draws, applied and kept paths; null without an ensemble)."""
    man = build_manifest(
        "run", scenario=scenario.meta.name, description=scenario.meta.description,
        scenario_file=str(scenario_file), scenario_hash=scenario.digest(), seed=int(seed),
        replicates=int(replicates), members=int(ensemble["members"]) if ensemble else 1, ensemble=ensemble,
        start=scenario.meta.start, months=scenario.meta.months, format=fmt,
        policies=policy_list(scenario), labels=display_names(scenario))
    if executor is not None:
        man["executor"] = executor
    # the key order of the first version of the format: elapsed time before the versions
    versions_ = man.pop("versions")
    man["elapsed_seconds"] = round(float(elapsed), 3)
    man["versions"] = versions_
    return man


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Write ``folder/manifest.json`` atomically (indented JSON, dates as strings)."""
    path = Path(folder) / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=2, default=str) + "\n")
    return path


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a folder, or None when it has none or it is unreadable."""
    try:
        return json.loads((Path(folder) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
