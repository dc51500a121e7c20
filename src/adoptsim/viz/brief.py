"""The one-page HTML brief of ``adoptsim report`` (docs/outputs.md#the-brief): a Jinja2
template, figures inline as base64 PNG, no external resource (opens offline, prints to PDF).

:func:`render_brief` takes the brief's content, already computed (tables as lists of rows,
figures as paths of PNG files); the workflow ``workflows/report.py`` computes it."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def inline_png(path: Path) -> str:
    """A PNG file as a ``data:`` URI (the brief embeds every figure)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_brief(context: dict) -> str:
    """The brief's HTML from ``context`` (see templates/brief.html.j2 for the fields); each
    ``context["figures"]`` item's ``path`` (a PNG) becomes an inline ``src``."""
    figures = [{**f, "src": inline_png(f["path"])} for f in context.get("figures", [])]
    return environment().get_template("brief.html.j2").render(**{**context, "figures": figures})
