"""Repository for dialog state: the flow a person is in and its data, one row per person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlmodel import Session

from storage.core import dialect_insert, insert_ignoring, prepared, run
from storage.models import DialogState, ProcessedMessage, utcnow

_STATE = DialogState.__table__
_KEYS = ProcessedMessage.__table__


@dataclass(slots=True)
class State:
    """A person's dialog state as the turn holds it: a plain object (a table instance costs a validation
    on every attribute set), written back by save_state."""

    userid: str
    flow: str | None = None
    data: dict = field(default_factory=dict)
    updated_at: datetime | None = None


def _state_select(_session):
    return select(_STATE.c.flow, _STATE.c.data, _STATE.c.updated_at).where(_STATE.c.userid == bindparam("u"))


def _state_upsert(session):
    stmt = dialect_insert(session, _STATE)
    return stmt.on_conflict_do_update(
        index_elements=["userid"],
        set_={"flow": stmt.excluded.flow, "data": stmt.excluded.data, "updated_at": stmt.excluded.updated_at},
    )


def load_state(*, session: Session, userid: str) -> State:
    """The person's state as a detached object; save_state writes it back (one upsert)."""
    row = run(session, prepared(session, "state.select", _state_select), {"u": userid}).first()
    if row is None:
        return State(userid)
    return State(userid, row.flow, row.data, row.updated_at)


def save_state(*, session: Session, state: State, now: datetime | None = None) -> None:
    state.updated_at = now or utcnow()
    values = {"userid": state.userid, "flow": state.flow, "data": state.data, "updated_at": state.updated_at}
    run(session, prepared(session, "state.upsert", _state_upsert), values)


def _claim(session):
    return insert_ignoring(session, _KEYS, ["key"]).returning(_KEYS.c.key)


def claim(*, session: Session, key: str, userid: str, now: datetime | None = None) -> bool:
    """Take a message key for this transaction: False when it was processed (or is being, elsewhere:
    the INSERT waits for that transaction and then finds the key). The replies follow in `answer`."""
    values = {"key": key, "userid": userid, "replies": [], "created_at": now or utcnow()}
    return run(session, prepared(session, "key.claim", _claim), values).scalar_one_or_none() is not None


def answer(*, session: Session, key: str, replies: list[dict]) -> None:
    """Store the answer of a claimed key, for a redelivery to get again."""
    stmt = prepared(
        session,
        "key.answer",
        lambda _: update(_KEYS).where(_KEYS.c.key == bindparam("k")).values(replies=bindparam("r")),
    )
    run(session, stmt, {"k": key, "r": replies})


def answered(*, session: Session, key: str) -> list[dict]:
    stmt = prepared(session, "key.answered", lambda _: select(_KEYS.c.replies).where(_KEYS.c.key == bindparam("k")))
    return run(session, stmt, {"k": key}).scalar_one_or_none() or []


def processed(*, session: Session, key: str) -> ProcessedMessage | None:
    return session.get(ProcessedMessage, key)


def mark_processed(
    *, session: Session, key: str, userid: str, replies: list[dict], now: datetime | None = None
) -> None:
    session.add(ProcessedMessage(key=key, userid=userid, replies=replies, created_at=now or utcnow()))


def prune_processed(*, session: Session, before: datetime) -> int:
    """Forget message keys older than `before`: WeCom retries within seconds, so days of memory is plenty."""
    return session.execute(delete(ProcessedMessage).where(ProcessedMessage.created_at < before)).rowcount
