"""Guards for handlers: what must be true before a clerk's command can run."""

from __future__ import annotations

import functools

from handlers.base import Turn


def clerk_ready(handler):
    """A clerk's handler needs an active campaign and the clerk's unit; otherwise say why, kindly."""

    @functools.wraps(handler)
    def guarded(turn: Turn) -> None:
        if turn.campaign is None:
            turn.leave()
            return turn.say("no_campaign.txt")
        if turn.unit is None:
            turn.leave()
            return turn.say("no_unit.txt", name=turn.person.name)
        return handler(turn)

    return guarded


def needs_campaign(handler):
    @functools.wraps(handler)
    def guarded(turn: Turn) -> None:
        if turn.campaign is None:
            turn.leave()
            return turn.say("no_campaign.txt")
        return handler(turn)

    return guarded
