"""The router: keywords by role, the flow a person is in, and the fallbacks (帮助, 取消, unknown words)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from handlers.base import Turn
from handlers.words import CANCEL, HELP, YES, normalise_command

Handler = Callable[[Turn], None]
_COMMANDS: dict[tuple[str, str], Handler] = {}  # (role, keyword) -> handler
_PREFIXED: list[tuple[str, str, Handler]] = []  # (role, prefix, handler): keyword followed by arguments
_FLOWS: dict[str, Handler] = {}
_EXPIRES: dict[str, timedelta] = {}  # flows that ask for a confirmation go stale
_FREE: dict[str, Handler] = {}  # role -> handler for text that is no keyword
_ACTIONS: list[Handler] = []  # a click on a card: a feature's handler looks at turn.inbound.action
_BEFORE: list[Handler] = []  # run on every message before routing (a group chat's first message binds it)


def command(*keywords: str, roles: tuple[str, ...] = ("clerk", "liaison", "admin"), prefix: bool = False):
    def register(handler: Handler) -> Handler:
        for role in roles:
            for word in keywords:
                if prefix:
                    _PREFIXED.append((role, word, handler))
                else:
                    _COMMANDS[(role, word)] = handler
        return handler

    return register


def flow(name: str, expires: timedelta | None = None):
    """A flow's handler; with `expires`, a flow left that long is dropped (a read-back from yesterday
    must not be confirmed by a stray 是 today)."""

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
    return next((h for r, p, h in _PREFIXED if r == role and word.startswith(p) and word != p), None)


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
    handler = find_command(turn)
    if handler is not None and not (turn.state.flow and word in HELP):
        return handler(turn)
    if turn.state.flow in _FLOWS:
        return _FLOWS[turn.state.flow](turn)
    if word in HELP:
        return show_help(turn)
    free = _FREE.get(turn.person.role)
    return free(turn) if free and word else show_help(turn, unknown=bool(word))


def _stale(turn: Turn) -> bool:
    ttl = _EXPIRES.get(turn.state.flow or "")
    return bool(ttl and turn.state.updated_at and turn.now - turn.state.updated_at > ttl)


def show_help(turn: Turn, unknown: bool = False) -> None:
    turn.say(
        "help.txt", role=turn.person.role, name=turn.person.name, unknown=unknown, text=turn.text[:20], unit=turn.unit
    )


def _cancel(turn: Turn) -> None:
    was = turn.state.flow
    turn.leave()
    turn.say("cancelled.txt", was=was)
