"""Repository for dialog state: the flow a person is in and its data, one row per person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlmodel import Session

from storage.core import dialect_insert, insert_ignoring, prepared, run
from storage.directory import the_stamp
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
    return state_of(userid, run(session, *reading_state(session, userid)))


def reading_state(session: Session, userid: str) -> tuple:
    """load_state's statement and parameters, to run together with others (core.run_all); then state_of."""
    return prepared(session, "state.select", _state_select), {"u": userid}


def state_of(userid: str, rows) -> State:
    """The state in what reading_state or claiming returned (in the claim's row, a person without
    a state has none of its columns: data is never NULL in a state's row)."""
    row = rows.first()
    if row is None or row.data is None:
        return State(userid)
    return State(userid, row.flow, row.data, row.updated_at)


def save_state(*, session: Session, state: State, now: datetime | None = None) -> None:
    run(session, *saving_state(session, state, now))


def saving_state(session: Session, state: State, now: datetime | None = None) -> tuple:
    """save_state's statement and parameters (it stamps the state's updated_at), for core.run_all."""
    state.updated_at = now or utcnow()
    values = {"userid": state.userid, "flow": state.flow, "data": state.data, "updated_at": state.updated_at}
    return prepared(session, "state.upsert", _state_upsert, accounted=True), values


def _claim(session):
    # with the roster's stamp (storage/directory.py) and the sender's state (as reading_state reads it), both
    # read after the key is taken: two statements less a turn
    return insert_ignoring(session, _KEYS, ["key"]).returning(_KEYS.c.key, the_stamp(), *_state_columns())


def _claimed_row(session):
    return select(_KEYS.c.key, the_stamp(), *_state_columns()).where(_KEYS.c.key == bindparam("key"))


def _state_columns():
    def state(column):
        return select(column).where(_STATE.c.userid == bindparam("state_of")).scalar_subquery().label(column.name)

    return state(_STATE.c.flow), state(_STATE.c.data), state(_STATE.c.updated_at)


def reading_claimed(session: Session, key: str, userid: str) -> tuple:
    """What claiming returned for a key this transaction took, read again (the stamp and the sender's state
    as they are now): for a claim sent ahead of turns that may have moved the stamp since."""
    return prepared(session, "key.claimed", _claimed_row), {"key": key, "state_of": userid}


def claim(*, session: Session, key: str, userid: str, now: datetime | None = None) -> bool:
    """Take a message key for this transaction: False when it was processed (or is being, elsewhere:
    the INSERT waits for that transaction and then finds the key). The replies follow in `answer`."""
    return claimed(run(session, *claiming(session, key, userid, now)))


def claiming(session: Session, key: str, userid: str, now: datetime | None = None) -> tuple:
    """claim's statement and parameters, for core.run_all (a turn's first); then claimed, stamp_of, and
    state_of for the sender's state."""
    values = {"key": key, "userid": userid, "replies": [], "created_at": now or utcnow(), "state_of": userid}
    return prepared(session, "key.claim", _claim, accounted=True), values


def claimed(rows) -> bool:
    return rows.scalar_one_or_none() is not None


def stamp_of(rows) -> int:
    """The roster's stamp, read with the claim (only when it took the key)."""
    return rows.first().stamp


def answer(*, session: Session, key: str, replies: list[dict]) -> None:
    """Store the answer of a claimed key, for a redelivery to get again."""
    run(session, *answering(session, key, replies))


def answering(session: Session, key: str, replies: list[dict]) -> tuple:
    stmt = prepared(
        session,
        "key.answer",
        lambda _: update(_KEYS).where(_KEYS.c.key == bindparam("k")).values(replies=bindparam("r")),
        accounted=True,
    )
    return stmt, {"k": key, "r": replies}


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
