"""Transcript tests: a test reads like the chat it checks (errbot's push_message / pop_message)."""

from __future__ import annotations

import itertools

from handlers.base import Inbound

_keys = itertools.count(1)


class Chat:
    def __init__(self, services, userid: str, channel: str = "sim"):
        self.services, self.userid, self.channel = services, userid, channel
        self.log: list[tuple[str, str]] = []

    def say(self, text: str) -> str:
        inbound = Inbound(channel=self.channel, userid=self.userid, text=text, msg_key=f"t:{self.userid}:{next(_keys)}")
        replies = self.services.dispatcher.dispatch(inbound)
        answer = "\n\n".join(r.text for r in replies)
        self.log += [("me", text), ("bot", answer)]
        return answer

    def script(self, *lines: str) -> str:
        """Say each line in turn; returns the last answer."""
        answer = ""
        for line in lines:
            answer = self.say(line)
        return answer

    def deliver(self) -> None:
        self.services.sender.drain()
