"""Rendering: one Jinja environment with StrictUndefined, so a missing value fails a test, not a clerk's screen."""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from jinja2.runtime import new_context

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


@cache
def _compiled(name: str) -> tuple[Template, dict]:
    """A template, compiled once, and its globals as a plain dict (Template.globals is a ChainMap, which
    Template.render copies key by key in Python twice a render: half the cost of a chat text)."""
    template = environment().get_template(name)
    return template, dict(template.globals)


def render(template: str, /, **values) -> str:
    """Render `templates/NAME` (chat text: `*.txt`, pages: `*.html`) and strip trailing blank space.
    What Template.render does, with the globals above: the same context, the same traceback on error."""
    compiled, globals_ = _compiled(template)
    env = compiled.environment
    try:
        context = new_context(env, compiled.name, compiled.blocks, values, False, globals_)
        return env.concat(compiled.root_render_func(context)).strip()
    except Exception:
        env.handle_exception()


@lru_cache(maxsize=4096)
def render_same(template: str, /, **values) -> str:
    """render(), once for each set of values: for texts a turn repeats (a form's question). Every value must be
    immutable and compare by value (str, numbers, None, a frozen dataclass or tuple of such), so the same
    values always make the same text; an unhashable one raises TypeError. Values equal under == share one
    text (6 and 6.0, also inside a frozen dataclass): a template given them prints numbers with `num`."""
    return render(template, **values)
