"""What the explorer does, without the page (testable without a browser).

A session owns a work folder. :func:`scenario_levers` lists the levers of a scenario file —
each policy's start month and numeric severity parameters, the main choice weights — with their
allowed ranges; :func:`write_variant` writes the scenario with edited levers as a plain TOML
file (``extends`` resolved); :meth:`Session.run` runs it with ``workflows.run.run_scenario``
(same seed and replicates as the cached run of the bundled baseline, so effects are paired) and
draws the page's figures; :func:`headline` is the world Chinese share at the last month
(median and 10–90%); the downloads are a zip of the results folder and the brief of
``workflows.report.write_report``.
"""

from __future__ import annotations

import copy
import io
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import tomli_w

from ..analysis.bands import quantiles
from ..core.policies import REGISTRY
from ..core.schema import Choice
from ..errors import AdoptsimError
from ..io.run_folder import Results, load_results
from ..io.scenario_files import load_raw, load_scenario
from ..months import format_month, parse_month
from ..viz.run_figures import draw_figure
from ..analysis.compare import compare_results
from ..viz.compare_figures import compare_figure
from ..workflows.compare import merged_labels, merged_policies
from ..workflows.report import headline_dates, headline_rows, write_report, world_values
from ..workflows.run import run_scenario

WEIGHTS = ("capability", "cost", "trust", "sovereignty", "infrastructure", "ecosystem", "peer", "inertia")
BASE_FIELDS = {"name", "type", "description", "start", "end", "issuer", "targets", "sectors"}
DEFAULT_SCENARIO = "chip_ban_tightening"
SIMULATION_SHARE = 0.8  # of the progress bar: the months simulated; the rest is tables and figures
BASELINE = "baseline"


def bundled_scenario_dir() -> Path:
    """The bundled scenarios: the installed wheel's copy, else the checkout's ``scenarios/``."""
    here = Path(__file__).resolve().parents[1]
    for p in (here / "bundled" / "scenarios", here.parents[1] / "scenarios"):
        if p.is_dir():
            return p
    raise AdoptsimError("app: the bundled scenarios were not found with this installation")


def bundled_scenarios() -> dict[str, Path]:
    """The bundled scenarios by name (top folder only: the library and the baseline)."""
    return {p.stem: p for p in sorted(bundled_scenario_dir().glob("*.toml"))}


def allowed_roots() -> list[Path]:
    """Where the page may read scenario files: the bundled scenarios and the current folder's tree."""
    return [bundled_scenario_dir().resolve(), Path.cwd().resolve()]


def resolve_scenario(choice: str) -> Path:
    """A bundled name or a scenario file path inside :func:`allowed_roots`; anything else is
    refused with one line (a path outside them, a missing file, not a .toml file)."""
    names = bundled_scenarios()
    if choice in names:
        return names[choice]
    path = Path(choice).expanduser()
    real = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if not any(real.is_relative_to(root) for root in allowed_roots()):
        raise AdoptsimError(f"{choice}: outside the folders this page may read (the bundled scenarios and "
                            f"{Path.cwd()}); copy the file into the current folder")
    if real.suffix.lower() != ".toml":
        raise AdoptsimError(f"{choice}: expected a scenario file ending in .toml")
    if not real.is_file():
        raise AdoptsimError(f"{choice}: file not found")
    return real


@dataclass
class Lever:
    """One editable value of a scenario: ``path`` into the raw scenario (table, index, field),
    its label, value, kind (``month``, ``float`` or ``int``) and allowed range."""

    path: tuple
    label: str
    value: float | str
    kind: str = "float"
    lo: float | None = None
    hi: float | None = None
    group: str = ""

    @property
    def key(self) -> str:
        """A stable id (also the CSS class ``adoptsim-lever-<key>`` on the page)."""
        return "-".join(str(p) for p in self.path).replace("_", "-")


def _bounds(model_field) -> tuple[float | None, float | None]:
    """The allowed range of a pydantic field (its ge/gt and le/lt constraints)."""
    lo = hi = None
    for meta in getattr(model_field, "metadata", []):
        for name in ("ge", "gt"):
            if getattr(meta, name, None) is not None:
                lo = getattr(meta, name)
        for name in ("le", "lt"):
            if getattr(meta, name, None) is not None:
                hi = getattr(meta, name)
    return lo, hi


def policy_levers(raw: dict) -> list[Lever]:
    """Each policy's start month and its numeric parameters (the policy type's fields)."""
    out = []
    for i, p in enumerate(raw.get("policies", [])):
        cls = REGISTRY.get(p.get("type"))
        group = f"{p.get('name', i)} ({p.get('type', '?')})"
        if "start" in p:
            out.append(Lever(("policies", i, "start"), "start month (YYYY-MM)", str(p["start"]), "month", group=group))
        if cls is None:
            continue
        for name, f in cls.model_fields.items():
            if name in BASE_FIELDS or name not in p or isinstance(p[name], bool):
                continue
            if isinstance(p[name], (int, float)):
                lo, hi = _bounds(f)
                out.append(Lever(("policies", i, name), name, p[name], "int" if isinstance(p[name], int) else "float",
                                 lo, hi, group))
    return out


def scenario_levers(raw: dict) -> list[Lever]:
    """The main choice weights, then the policies' levers."""
    choice = raw.get("choice", {})
    weights = [Lever(("choice", w), w, float(choice.get(w, Choice.model_fields[w].default)), group="choice weights")
               for w in WEIGHTS]
    return weights + policy_levers(raw)


def check_lever(lever: Lever, value) -> float | str:
    """``value`` for ``lever`` if allowed, else one line naming the lever and the range."""
    where = f"{lever.group}: {lever.label}"
    if lever.kind == "month":
        try:
            return format_month(parse_month(str(value)))
        except (ValueError, TypeError):
            raise AdoptsimError(f"{where}: expected a month YYYY-MM, got {value!r}") from None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise AdoptsimError(f"{where}: expected a number, got {value!r}") from None
    if x != x or (lever.lo is not None and x < lever.lo) or (lever.hi is not None and x > lever.hi):
        raise AdoptsimError(f"{where}: expected a number in {lever.lo}..{lever.hi}, got {value!r}")
    if lever.kind == "int":
        if x != int(x):
            raise AdoptsimError(f"{where}: expected a whole number, got {value!r}")
        return int(x)
    return x


def apply_levers(raw: dict, levers: list[Lever], values: dict[str, object]) -> tuple[dict, list[str]]:
    """A copy of ``raw`` with ``values`` (by lever key) set; and the list of changes, as text."""
    out, changes = copy.deepcopy(raw), []
    for lever in levers:
        if lever.key not in values:
            continue
        new = check_lever(lever, values[lever.key])
        if new == lever.value:
            continue
        node = out
        for step in lever.path[:-1]:
            node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
        node[lever.path[-1]] = new
        changes.append(f"{lever.group}: {lever.label} {lever.value} -> {new}")
    return out, changes


def write_variant(raw: dict, changes: list[str], folder: Path, stem: str) -> Path:
    """The scenario ``raw`` with its levers applied as ``folder/<stem>.toml`` (its description
    lists the changes); validated before it is written."""
    raw = copy.deepcopy(raw)
    if changes:
        meta = raw.setdefault("meta", {})
        meta["description"] = (meta.get("description", "") + " [Edited in adoptsim app: " + "; ".join(changes)
                               + ".]").strip()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.toml"
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    load_scenario(path)  # the same checks as any scenario file: one line per problem
    return path


def headline(res: Results) -> dict:
    """The world Chinese share at the last month: ``{date, median, q10, q90, text}``."""
    last = headline_dates(res.frame, years=())[-1]
    q10, q50, q90 = quantiles(world_values(res.frame, "share_origin", "CN", last))
    return {"date": f"{last:%Y-%m}", "median": q50, "q10": q10, "q90": q90,
            "text": f"Chinese models, world share in {last:%Y-%m}: {100 * q50:.1f}% "
                    f"(10–90%: {100 * q10:.1f}–{100 * q90:.1f}%)"}


class Progress:
    """The progress bar ``run_scenario`` expects (a context manager with ``update``), reporting
    the share done (0..1) of all months of all runs of one press of Run to ``report``."""

    def __init__(self, report: Callable[[float], None], total: int, offset: int = 0, grand: int | None = None):
        self.report, self.total, self.done, self.offset = report, total, 0, offset
        self.grand = grand or total

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int = 1) -> None:
        self.done += n
        self.report(SIMULATION_SHARE * min(1.0, (self.offset + self.done) / self.grand))


@dataclass
class Outcome:
    """One press of Run: the results folder, the baseline's, the headline, the figures, the
    headline table rows and the changes made."""

    results: Path
    baseline: Path
    headline: dict
    figures: dict[str, Path]
    rows: list[dict]
    dates: list[str]
    robust_note: str
    changes: list[str] = field(default_factory=list)


#: Plausible worlds per press of Run: members of the ensemble (x replicates) — few, so a press
#: answers in seconds; the page lets the user ask for more.
DEFAULT_MEMBERS = 10


class Session:
    """A page's work folder and its runs. One run at a time (a lock); the baseline's run is
    cached per (replicates, seed)."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="adoptsim-app-"))
        self.lock = threading.Lock()
        self.count = 0

    def baseline(self, replicates: int, seed: int, report: Callable[[float], None], grand: int,
                 members: int = DEFAULT_MEMBERS) -> Path:
        out = self.folder / f"ref-m{members}-r{replicates}-s{seed}" / BASELINE
        if not (out / "manifest.json").exists():
            run_scenario(bundled_scenarios()[BASELINE], seed=seed, replicates=replicates, out=out, plots=False,
                         members=members, progress=lambda total, _d: Progress(report, total, 0, grand))
        return out

    def run(self, scenario: str, values: dict[str, object], replicates: int,
            report: Callable[[float], None] = lambda _x: None, members: int = DEFAULT_MEMBERS) -> Outcome:
        """Run ``scenario`` (bundled name or allowed path) with the lever ``values`` against the
        baseline, over ``members`` plausible worlds of the ensemble the scenario names (the
        bundled scenarios name the baseline's posterior) x ``replicates``; raise AdoptsimError
        with one line for bad input."""
        if not 1 <= int(replicates) <= 50:
            raise AdoptsimError(f"replicates: expected 1..50, got {replicates}")
        if not 1 <= int(members) <= 200:
            raise AdoptsimError(f"plausible worlds: expected 1..200 members, got {members}")
        path = resolve_scenario(scenario)
        raw = load_raw(path)
        levers = scenario_levers(raw)
        edited, changes = apply_levers(raw, levers, values)
        with self.lock:
            self.count += 1
            tag = f"run{self.count:03d}"
            variant = write_variant(edited, changes, self.folder / tag / "scenario", path.stem)
            sc = load_scenario(variant)
            seed, months = sc.meta.seed, sc.meta.months
            k = members if sc.meta.ensemble not in (None, "none") else None  # a point scenario: replicates only
            base_sc = load_scenario(bundled_scenarios()[BASELINE])
            cached = (self.folder / f"ref-m{members}-r{replicates}-s{seed}" / BASELINE / "manifest.json").exists()
            runs = replicates * (k or 1)
            grand = runs * months + (0 if cached else members * replicates * base_sc.meta.months)
            base = self.baseline(replicates, seed, report, grand, members)
            offset = 0 if cached else members * replicates * base_sc.meta.months
            out = self.folder / tag / path.stem
            run_scenario(variant, seed=seed, replicates=replicates, out=out, plots=False, members=k,
                         progress=lambda total, _d: Progress(report, total, offset, grand))
            return self.outcome(out, base, changes, report)

    def outcome(self, out: Path, base: Path, changes: list[str],
                report: Callable[[float], None] = lambda _x: None) -> Outcome:
        res, ref = load_results(out), load_results(base)
        report(SIMULATION_SHARE + 0.05)
        figs = self.folder / out.parent.name / "figures"
        figures = {"adoption": draw_figure("adoption", res.frame, res.manifest, figs)}
        report(SIMULATION_SHARE + 0.08)
        figures["regions"] = draw_figure("regions", res.frame, res.manifest, figs)
        report(SIMULATION_SHARE + 0.14)
        comparable = res.frame["date"].min() == ref.frame["date"].min() and \
            res.frame["date"].max() == ref.frame["date"].max()
        if comparable:
            items = [(BASELINE, ref.frame, ref.manifest), (out.name, res.frame, res.manifest)]
            curves, diffs = compare_results(items, "share_origin")
            figures["effect"] = compare_figure(curves, diffs, figs / "effect.png", "share_origin", "world",
                                               merged_policies([ref, res]), labels=merged_labels([res, ref]))
        dates = headline_dates(res.frame)
        rows, _effect_note, robust_note = headline_rows(res, ref if comparable else None, dates)
        report(1.0)
        return Outcome(out, base, headline(res), figures, rows, [f"{d:%Y-%m}" for d in dates], robust_note, changes)


def zip_folder(folder: Path) -> bytes:
    """A results folder as a zip archive (in memory), paths relative to its parent."""
    buf = io.BytesIO()
    folder = Path(folder)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, Path(folder.name) / p.relative_to(folder))
    return buf.getvalue()


def brief_bytes(outcome: Outcome) -> bytes:
    """The brief of ``adoptsim report RESULTS --against BASELINE`` for a run of the page."""
    path = outcome.results.parent / "brief.html"
    if not path.exists():
        write_report(outcome.results, path, outcome.baseline, overwrite=True)
    return path.read_bytes()


def cleanup(session: Session) -> None:
    shutil.rmtree(session.folder, ignore_errors=True)


__all__ = ["Lever", "Outcome", "Session", "allowed_roots", "apply_levers", "brief_bytes", "bundled_scenarios",
           "headline", "resolve_scenario", "scenario_levers", "write_variant", "zip_folder"]
