"""The router: keywords by role, the flow a person is in, and the fallbacks (帮助, 取消, questions, unknown words)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import timedelta

from handlers import tables
from handlers.base import Reply, Turn
from handlers.words import CANCEL, HELP, YES, normalise_command
from storage.render import render

Handler = Callable[[Turn], None]
_COMMANDS: dict[tuple[str, str], Handler] = {}  # (role, keyword) -> handler
_PREFIXED: list[tuple[str, str, Handler]] = []  # (role, prefix, handler): keyword followed by arguments
_QUESTIONS: list[tuple[str, re.Pattern, Handler]] = []  # (role, pattern, handler): questions asked in words
_FLOWS: dict[str, Handler] = {}
_EXPIRES: dict[str, timedelta] = {}  # flows that ask for a confirmation go stale
_FREE: dict[str, Handler] = {}  # role -> handler for text that is no keyword
_ACTIONS: list[Handler] = []  # a click on a card: a feature's handler looks at turn.inbound.action
_BEFORE: list[Handler] = []  # run on every message before routing (a group chat's first message binds it)
ROLES = ("clerk", "liaison", "admin")
_DIGIT = re.compile(r"[0-9]")


def command(*keywords: str, roles: tuple[str, ...] = ROLES, prefix: bool = False, heavy: bool = False):
    """Register a keyword's handler; `heavy`: it takes long (a document, the whole city), so it never runs
    on the event loop's thread (Turn.heavy)."""

    def register(handler: Handler) -> Handler:
        run = _heavy(handler) if heavy else handler
        for role in roles:
            for word in keywords:
                if prefix:
                    _PREFIXED.append((role, word, run))
                else:
                    _COMMANDS[(role, word)] = run
        return handler

    return register


def _heavy(handler: Handler) -> Handler:
    @functools.wraps(handler)
    def heavy(turn: Turn) -> None:
        turn.heavy()
        return handler(turn)

    return heavy


def question(pattern: str, roles: tuple[str, ...] = ROLES):
    """A question people ask in their own words (`截止时间是什么时候？`), matched by a pattern."""

    def register(handler: Handler) -> Handler:
        _QUESTIONS.extend((role, re.compile(pattern), handler) for role in roles)
        return handler

    return register


def flow(name: str, expires: timedelta | None = None):
    """A flow's handler; with `expires`, a flow that waits for a confirmation and is dropped when left that
    long (a read-back from yesterday must not be confirmed by a stray 是 today)."""

    def register(handler: Handler) -> Handler:
        _FLOWS[name] = handler
        if expires:
            _EXPIRES[name] = expires
        return handler

    return register


def free_text(role: str):
    def register(handler: Handler) -> Handler:
        _FREE[role] = handler
        return handler

    return register


def action(handler: Handler) -> Handler:
    _ACTIONS.append(handler)
    return handler


def before(handler: Handler) -> Handler:
    _BEFORE.append(handler)
    return handler


def find_command(turn: Turn) -> Handler | None:
    word = normalise_command(turn.text)
    role = turn.person.role
    if (role, word) in _COMMANDS:
        return _COMMANDS[(role, word)]
    if not word.startswith(_prefixes(role)):  # most messages (an answer, a sentence): one call in C
        return None
    return next((h for r, p, h in _PREFIXED if r == role and word.startswith(p) and word != p), None)


def _prefixes(role: str) -> tuple[str, ...]:
    """The role's keyword prefixes, gathered again whenever a keyword was registered since."""
    found = _PREFIX_INDEX.get(role)
    if found is None or found[0] != len(_PREFIXED):
        found = _PREFIX_INDEX[role] = (len(_PREFIXED), tuple(p for r, p, _ in _PREFIXED if r == role))
    return found[1]


_PREFIX_INDEX: dict[str, tuple[int, tuple[str, ...]]] = {}


def find_question(turn: Turn) -> Handler | None:
    word = normalise_command(turn.text)
    return next((h for r, p, h in _QUESTIONS if r == turn.person.role and p.search(word)), None)


def route(turn: Turn) -> None:
    for hook in _BEFORE:
        hook(turn)
    if turn.inbound.action is not None:
        for handler in _ACTIONS:
            handler(turn)
        return
    word = normalise_command(turn.text)
    if word in CANCEL:
        return _cancel(turn)
    if _stale(turn):
        turn.leave()
        if word in YES:
            return turn.say("confirm_expired.txt")
    was = turn.state.flow
    handler = find_command(turn)
    if handler is not None and not (was and word in HELP):
        return _aside(turn, was, handler)
    if was in _EXPIRES and word in HELP:
        return _aside(turn, was, show_help)  # a read-back keeps waiting while its reader asks for help
    handler = find_question(turn) if not _DIGIT.search(word) else None  # 党委会6次 is an entry, not a question
    if handler is not None:
        return _aside(turn, was, handler)
    if was in _FLOWS:
        return _FLOWS[was](turn)
    if word in HELP:
        return show_help(turn)
    free = _FREE.get(turn.person.role)
    return free(turn) if free and word else answer_or_help(turn)


def answer_or_help(turn: Turn) -> None:
    """Text that names nothing to enter: a question we can answer, else the help."""
    handler = find_question(turn)
    if handler is not None:
        return handler(turn)
    show_help(turn, unknown=bool(normalise_command(turn.text)))


def _aside(turn: Turn, was: str | None, handler: Handler) -> None:
    """A keyword or question typed inside a flow: answer it, then say what became of the flow, so a
    read-back is never dropped (or left waiting) without a word."""
    before = turn.state.data
    handler(turn)
    if was is None:
        return
    kept = turn.state.flow == was and turn.state.data is before
    if was in _EXPIRES and not kept:
        turn.replies.insert(0, Reply(render("flow_left.txt", was=was, data=before)))
    elif kept:
        turn.say("flow_waiting.txt", was=was)


def _stale(turn: Turn) -> bool:
    ttl = _EXPIRES.get(turn.state.flow or "")
    return bool(ttl and turn.state.updated_at and turn.now - turn.state.updated_at > ttl)


def show_help(turn: Turn, unknown: bool = False) -> None:
    locked = tables.lock_reason(turn) if turn.unit and turn.campaign and turn.person.role == "clerk" else None
    turn.say(
        "help.txt",
        role=turn.person.role,
        name=turn.person.name,
        unknown=unknown,
        text=turn.text[:20],
        unit=turn.unit,
        locked=locked,
    )


def _cancel(turn: Turn) -> None:
    was, data = turn.state.flow, turn.state.data
    turn.leave()
    turn.say("cancelled.txt", was=was, data=data or {})
