"""Repository for dialog state: the flow a person is in and its data, one row per person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session

from storage.models import DialogState, ProcessedMessage, utcnow


def load_state(*, session: Session, userid: str) -> DialogState:
    return session.get(DialogState, userid) or DialogState(userid=userid, flow=None, data={})


def save_state(*, session: Session, state: DialogState, now: datetime | None = None) -> None:
    state.updated_at = now or utcnow()
    session.add(state)
    flag_modified(state, "data")  # the JSON dict may have been changed in place


def processed(*, session: Session, key: str) -> ProcessedMessage | None:
    return session.get(ProcessedMessage, key)


def mark_processed(
    *, session: Session, key: str, userid: str, replies: list[dict], now: datetime | None = None
) -> None:
    session.add(ProcessedMessage(key=key, userid=userid, replies=replies, created_at=now or utcnow()))


def prune_processed(*, session: Session, before: datetime) -> int:
    """Forget message keys older than `before`: WeCom retries within seconds, so days of memory is plenty."""
    return session.execute(delete(ProcessedMessage).where(ProcessedMessage.created_at < before)).rowcount
