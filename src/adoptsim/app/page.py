"""The explorer's page (Solara). Served by ``adoptsim app``; see :mod:`adoptsim.app.session`
for what it does. Stable hooks for tests and scripts: the Run button has the CSS class
``adoptsim-run``, the headline ``adoptsim-headline``, each lever ``adoptsim-lever-<key>``, the
scenario field ``adoptsim-scenario``, the progress bar ``adoptsim-progress``."""

from __future__ import annotations

import html

import solara
import solara.lab

from ..errors import AdoptsimError
from ..io.scenario_files import load_raw
from . import session as S

SESSION = S.Session()  # one work folder per server; runs one at a time, the baseline cached

scenario = solara.reactive(S.DEFAULT_SCENARIO)
replicates = solara.reactive("2")
members = solara.reactive(str(S.DEFAULT_MEMBERS))
values: solara.Reactive[dict] = solara.reactive({})


@solara.lab.task(prefer_threaded=True)
def run_task(choice: str, edits: dict, reps: str, worlds: str = str(S.DEFAULT_MEMBERS)):
    """One press of Run, in a worker thread: the page stays responsive; progress 0..100."""
    run_task.progress = 0.0
    try:
        n = int(reps)
    except ValueError:
        raise AdoptsimError(f"replicates: expected a whole number 1..50, got {reps!r}") from None
    try:
        k = int(worlds)
    except ValueError:
        raise AdoptsimError(f"plausible worlds: expected a whole number 1..200, got {worlds!r}") from None

    def report(share: float) -> None:
        run_task.progress = round(100.0 * share, 1)

    return SESSION.run(choice, edits, n, report, members=k)


def levers_of(choice: str) -> tuple[list[S.Lever], str]:
    try:
        return S.scenario_levers(load_raw(S.resolve_scenario(choice))), ""
    except AdoptsimError as exc:
        return [], str(exc)
    except Exception as exc:  # a malformed file: say so in one line, no traceback on the page
        return [], f"{choice}: {exc}"


def Html(tag: str, text: str, style: str = "", classes: list[str] | None = None):
    """Plain HTML with escaped text (no Markdown: Solara's Markdown loads KaTeX from a CDN)."""
    return solara.HTML(tag=tag, unsafe_innerHTML=html.escape(text), style=style, classes=classes or [])


def table_html(outcome: S.Outcome) -> str:
    """The headline table (as in the brief) in HTML; every text escaped."""
    e = html.escape
    td = 'style="padding:.25rem .55rem;border-bottom:1px solid #e3e3e3;text-align:right;white-space:nowrap"'
    head = "".join(f"<th>{e(d)} median (10–90%)</th><th>effect vs baseline (10–90%)</th><th>P(effect &gt; 0)</th>"
                   for d in outcome.dates)
    body = []
    for row in outcome.rows:
        cells = "".join(f"<td {td}>{e(c['median'])} <small>({e(c['q10'])}–{e(c['q90'])})</small></td>"
                        f"<td {td}>{e(c.get('effect', '–'))} <small>({e(c.get('effect_q10', '–'))} to "
                        f"{e(c.get('effect_q90', '–'))})</small></td><td {td}>{e(c.get('robust', '–'))}</td>"
                        for c in row["cells"])
        body.append(f'<tr><td style="padding:.25rem .55rem;border-bottom:1px solid #e3e3e3">{e(row["name"])}</td>'
                    f"{cells}</tr>")
    style = "border-collapse:collapse;font-size:.9rem"
    return (f'<table style="{style}"><thead><tr><th>world, share of developers</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


@solara.component
def LeverInput(lever: S.Lever):
    current = values.value.get(lever.key, lever.value)
    rng = "" if lever.kind == "month" else f" ({lever.lo if lever.lo is not None else '…'}–" \
                                            f"{lever.hi if lever.hi is not None else '…'})"
    solara.InputText(f"{lever.label}{rng}", value=str(current), continuous_update=True,
                     on_value=lambda v: values.set({**values.value, lever.key: v}),
                     classes=[f"adoptsim-lever-{lever.key}"])


@solara.component
def Controls(levers: list[S.Lever], problem: str):
    Html("h3", "Scenario")
    solara.Select("bundled scenario", values=list(S.bundled_scenarios()),
                  value=scenario.value if scenario.value in S.bundled_scenarios() else None,
                  on_value=lambda v: (scenario.set(v), values.set({})))
    solara.InputText("…or a scenario file (in the bundled scenarios or below the current folder)",
                     value=scenario.value, on_value=lambda v: (scenario.set(v.strip()), values.set({})),
                     classes=["adoptsim-scenario"])
    solara.InputText("plausible worlds: ensemble members (1–200)", value=members.value, on_value=members.set,
                     continuous_update=True, classes=["adoptsim-members"])
    solara.InputText("replicates per member (1–50)", value=replicates.value, on_value=replicates.set,
                     continuous_update=True, classes=["adoptsim-replicates"])
    if problem:
        solara.Error(problem)
    groups: dict[str, list[S.Lever]] = {}
    for lever in levers:
        groups.setdefault(lever.group, []).append(lever)
    Html("h3", "Levers")
    own = [g for g in groups if g != "choice weights"][::-1]  # the scenario's own policies come last in the file
    for i, g in enumerate(["choice weights"] + own):
        if g in groups:
            with solara.Details(summary=g, expand=i == 1):
                for lever in groups[g]:
                    LeverInput(lever)


@solara.component
def Results(outcome: S.Outcome):
    Html("p", f"Results: {outcome.results} against the baseline {outcome.baseline}")
    if outcome.changes:
        Html("p", "Changed: " + "; ".join(outcome.changes))
    stem = f"{outcome.results.name}-{outcome.results.parent.name}"
    with solara.Row():
        solara.FileDownload(lambda: S.zip_folder(outcome.results), filename=f"{stem}.zip",
                            label="Download results (zip)", mime_type="application/zip")
        solara.FileDownload(lambda: S.brief_bytes(outcome), filename=f"{stem}-brief.html",
                            label="Download the brief (HTML)", mime_type="text/html")
    solara.HTML(tag="div", unsafe_innerHTML=table_html(outcome), style="overflow-x:auto; margin:.6rem 0")
    Html("p", f"Robustness: {outcome.robust_note}", style="color:#555; font-size:.85rem")
    for name, caption in (("adoption", "Adoption curves, median and 10–90% band"),
                          ("regions", "Share by origin in each region"),
                          ("effect", "Effect against the baseline, in percentage points")):
        if name in outcome.figures:
            Html("h4", caption)
            solara.Image(str(outcome.figures[name]), width="100%")


@solara.component
def Page():
    solara.Title("adoptsim explorer")
    levers, problem = solara.use_memo(lambda: levers_of(scenario.value), dependencies=[scenario.value])
    result = run_task.value if run_task.finished else None
    with solara.Sidebar():
        Controls(levers, problem)
    with solara.Column(style={"max-width": "1200px"}):
        Html("h2", "adoptsim explorer")
        Html("p", "Conditional scenarios, not forecasts. Choose a scenario, move its levers, press Run: the runs "
                  "go on in the background.")
        with solara.Row():
            solara.Button("Run", color="primary", disabled=run_task.pending or bool(problem),
                          on_click=lambda: run_task(scenario.value, dict(values.value), replicates.value, members.value),
                          classes=["adoptsim-run"])
            if run_task.pending:
                solara.Text(f"running… {run_task.progress or 0:.0f}%")
        solara.ProgressLinear(run_task.progress if run_task.pending else False, classes=["adoptsim-progress"])
        text = result.headline["text"] if result is not None else "Press Run to see the Chinese share."
        Html("div", text, style="font-size: 1.4rem; font-weight: 600; margin: .6rem 0;", classes=["adoptsim-headline"])
        if run_task.error:
            exc = run_task.exception
            solara.Error(str(exc) if isinstance(exc, AdoptsimError) else f"internal error: {exc!r}")
        if result is not None:
            Results(result)
