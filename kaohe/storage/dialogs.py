"""Repository for dialog state: the flow a person is in and its data, one row per person."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from kaohe.storage.models import DialogState, ProcessedMessage, utcnow


def load_state(*, session: Session, userid: str) -> DialogState:
    return session.get(DialogState, userid) or DialogState(userid=userid, flow=None, data={})


def save_state(*, session: Session, state: DialogState, now: datetime | None = None) -> None:
    state.updated_at = now or utcnow()
    state.data = dict(state.data)  # a new object, so the JSON column is seen as changed
    session.add(state)


def processed(*, session: Session, key: str) -> ProcessedMessage | None:
    return session.get(ProcessedMessage, key)


def mark_processed(*, session: Session, key: str, userid: str, replies: list[dict]) -> None:
    session.add(ProcessedMessage(key=key, userid=userid, replies=replies))
