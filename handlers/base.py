"""What handlers see and return: a neutral inbound message, a turn's context, and replies as data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from storage.campaign import Campaign
from storage.db import ON_LOOP, HandOff
from storage.dialogs import State
from storage.directory import RosterView
from storage.models import Person, Unit
from storage.render import render, render_same
from storage.secrecy import Keyring

if TYPE_CHECKING:
    from sqlmodel import Session


@dataclass(frozen=True)
class Inbound:
    channel: str  # app | bot | sim | console
    userid: str
    text: str
    msg_key: str  # unique per message; a redelivery carries the same key
    chat_id: str | None = None
    action: dict | None = None


@dataclass
class Reply:
    text: str
    to: list[str] | None = None  # None: back to the sender, in this conversation
    chat_id: str | None = None  # a group chat
    msgtype: str = "text"  # text | markdown | template_card | update_template_card (text is then the card's JSON)
    private: bool = False  # names a secret ballot's choices: kept sealed wherever it is stored

    def as_dict(self) -> dict:
        return {"text": self.text, "to": self.to, "chat_id": self.chat_id, "msgtype": self.msgtype}

    def stored(self, keyring: Keyring | None) -> dict:
        """The form kept for a redelivery; a private reply is sealed, so the database never shows a choice."""
        if not self.private or keyring is None:
            return self.as_dict()
        return {"sealed": keyring.seal(self.as_dict(), "reply")}

    @classmethod
    def from_dict(cls, data: dict, keyring: Keyring | None = None) -> Reply:
        if "sealed" in data:
            return cls(**keyring.unseal(data["sealed"], "reply"), private=True)
        return cls(**data)


@dataclass
class Turn:
    """One message being handled: who sent it, the campaign, their dialog state, and what to say."""

    session: Session
    inbound: Inbound
    person: Person
    unit: Unit | None
    campaign: Campaign | None
    state: State
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    keyring: Keyring | None = None  # the secret ballot's keys (storage.secrecy)
    roster: RosterView | None = None  # the dispatcher's in-memory roster (people, units, admins), if any

    @property
    def text(self) -> str:
        return self.inbound.text.strip()

    def say(self, template: str, /, **values) -> None:
        """Answer the sender in this conversation."""
        self.replies.append(Reply(render(template, **values)))

    def say_same(self, template: str, /, **values) -> None:
        """say(), for a text many turns repeat: rendered once for each set of values (render_same's rules)."""
        self.replies.append(Reply(render_same(template, **values)))

    def tell(self, userids: list[str], template: str, **values) -> None:
        """Send a message to other people (through the outbox)."""
        if userids:
            self.replies.append(Reply(render(template, **values), to=list(userids)))

    def post(self, chat_id: str, template: str, **values) -> None:
        self.replies.append(Reply(render(template, **values), chat_id=chat_id))

    def heavy(self) -> None:
        """Say that what follows takes long (a document, the whole city's figures). On the event loop's thread
        that raises HandOff: the turn is rolled back and handled again on the lane's thread."""
        if self.session.info.get(ON_LOOP):
            raise HandOff("a heavy turn")

    def send_file(self, name: str, media_type: str, data: bytes, to: list[str] | None = None) -> None:
        """Store a document and send it as a file message (through the outbox, which carries only a reference)."""
        from storage import files

        self.heavy()

        row = files.store(
            session=self.session, name=name, media_type=media_type, data=data, owner=self.person.userid, now=self.now
        )
        reference = {"file_id": row.id, "token": row.token, "name": row.name, "size": row.size}
        self.replies.append(
            Reply(json.dumps(reference, ensure_ascii=False), to=to or [self.person.userid], msgtype="file")
        )

    def enter(self, flow: str | None, **data) -> None:
        self.state.flow, self.state.data = flow, dict(data)

    def leave(self) -> None:
        self.enter(None)
