"""Transcript helpers for votes: speak in a group chat or privately, click a card, read the ballots' rows."""

from __future__ import annotations

import itertools
import json

from handlers.base import Inbound
from tests.transcript import Chat

_keys = itertools.count(1)
GROUP_CHAT = "sim-chat-group-1"


class GroupChat(Chat):
    """A person in a group chat (chat_id set): what they say, and the card the answer carries."""

    def __init__(self, services, userid: str, chat_id: str | None = GROUP_CHAT, channel: str = "sim"):
        super().__init__(services, userid, channel=channel)
        self.chat_id = chat_id
        self.cards: list[dict] = []

    def say(self, text: str) -> str:
        return self._send(Inbound(self.channel, self.userid, text, f"v:{next(_keys)}", chat_id=self.chat_id))

    def click(self, task_id: str, *options: int, key: str | None = None) -> dict:
        """Submit the vote card with these options; returns the redrawn card (or {"text": …})."""
        selected = {"selected_item": [{"question_key": "q", "option_ids": {"option_id": [str(o) for o in options]}}]}
        action = {"task_id": task_id, "key": "submit", "response_code": "rc", "selected": selected}
        inbound = Inbound(self.channel, self.userid, "", key or f"v:{next(_keys)}", chat_id=self.chat_id, action=action)
        replies = self.services.dispatcher.dispatch(inbound)
        update = next((r for r in replies if r.msgtype == "update_template_card"), None)
        return json.loads(update.text) if update else {"text": "\n".join(r.text for r in replies)}

    def _send(self, inbound: Inbound) -> str:
        replies = self.services.dispatcher.dispatch(inbound)
        self.cards += [json.loads(r.text) for r in replies if r.msgtype == "template_card"]
        answer = "\n\n".join(r.text for r in replies if r.msgtype == "text")
        self.log += [("me", inbound.text), ("bot", answer)]
        return answer
