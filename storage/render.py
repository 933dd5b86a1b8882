"""Rendering: one Jinja environment with StrictUndefined, so a missing value fails a test, not a clerk's screen."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def fmt_number(value) -> str:
    """6.0 -> '6', 112.5 -> '112.5', None -> '—'."""
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # templates ship with the code: compile each once, never stat it per render
    )
    env.filters["num"] = fmt_number
    return env


def render(template: str, /, **values) -> str:
    """Render `templates/NAME` (chat text: `*.txt`, pages: `*.html`) and strip trailing blank space."""
    return environment().get_template(template).render(**values).strip()
