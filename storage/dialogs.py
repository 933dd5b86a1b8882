"""Repository for dialog state: the flow a person is in and its data, one row per person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlmodel import Session

from storage.models import DialogState, ProcessedMessage, utcnow
from storage.upsert import dialect_insert, insert_ignoring


def load_state(*, session: Session, userid: str) -> DialogState:
    """The person's state as a detached object; save_state writes it back (one upsert)."""
    t = DialogState.__table__
    row = session.execute(select(t.c.flow, t.c.data, t.c.updated_at).where(t.c.userid == userid)).first()
    if row is None:
        return DialogState(userid=userid, flow=None, data={})
    return DialogState(userid=userid, flow=row.flow, data=row.data, updated_at=row.updated_at)


def save_state(*, session: Session, state: DialogState, now: datetime | None = None) -> None:
    state.updated_at = now or utcnow()
    values = {"flow": state.flow, "data": state.data, "updated_at": state.updated_at}
    stmt = dialect_insert(session, DialogState.__table__).values(userid=state.userid, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["userid"], set_=values))


def claim(*, session: Session, key: str, userid: str, now: datetime | None = None) -> bool:
    """Take a message key for this transaction: False when it was processed (or is being, elsewhere:
    the INSERT waits for that transaction and then finds the key). The replies follow in `answer`."""
    t = ProcessedMessage.__table__
    stmt = insert_ignoring(session, t, ["key"]).values(key=key, userid=userid, replies=[], created_at=now or utcnow())
    return session.execute(stmt.returning(t.c.key)).scalar_one_or_none() is not None


def answer(*, session: Session, key: str, replies: list[dict]) -> None:
    """Store the answer of a claimed key, for a redelivery to get again."""
    t = ProcessedMessage.__table__
    session.execute(update(t).where(t.c.key == key).values(replies=replies))


def answered(*, session: Session, key: str) -> list[dict]:
    t = ProcessedMessage.__table__
    return session.execute(select(t.c.replies).where(t.c.key == key)).scalar_one_or_none() or []


def processed(*, session: Session, key: str) -> ProcessedMessage | None:
    return session.get(ProcessedMessage, key)


def mark_processed(
    *, session: Session, key: str, userid: str, replies: list[dict], now: datetime | None = None
) -> None:
    session.add(ProcessedMessage(key=key, userid=userid, replies=replies, created_at=now or utcnow()))


def prune_processed(*, session: Session, before: datetime) -> int:
    """Forget message keys older than `before`: WeCom retries within seconds, so days of memory is plenty."""
    return session.execute(delete(ProcessedMessage).where(ProcessedMessage.created_at < before)).rowcount
