"""Repository for the outbox: messages committed with the work that caused them, claimed and marked by the sender."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, select

from storage.models import Outbox, utcnow

BATCH = 1000  # message/send takes up to 1000 userids (wecom.md §3.2)
ENQUEUED = "outbox_enqueued"  # session.info flag: this transaction added outbox rows


def enqueue(
    *,
    session: Session,
    key: str,
    content: str,
    recipients: list[str] | None = None,
    chat_id: str | None = None,
    msgtype: str = "text",
    source: str = "reply",
    now: datetime | None = None,
) -> Outbox | None:
    """Add a message unless one with this key exists (a retried delivery adds nothing); returns the row."""
    existing = session.exec(select(Outbox).where(Outbox.key == key)).first()
    if existing:
        return existing
    row = Outbox(
        key=key,
        kind="chat" if chat_id else "user",
        recipients=list(recipients or []),
        chat_id=chat_id,
        msgtype=msgtype,
        content=content,
        source=source,
        next_attempt_at=now or utcnow(),
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    session.info[ENQUEUED] = True
    return row


def claim(
    *, session: Session, now: datetime, limit: int = 50, lease_s: int = 60, skip_locked: bool = False
) -> list[Outbox]:
    """Take due rows for sending: pending ones, and ones whose sender's lease ran out (it crashed)."""
    query = (
        select(Outbox)
        .where(or_(Outbox.status == "pending", Outbox.status == "sending"), Outbox.next_attempt_at <= now)
        .order_by(Outbox.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    rows = list(session.exec(query))
    for row in rows:
        row.status, row.next_attempt_at = "sending", now + timedelta(seconds=lease_s)
        session.add(row)
    return rows


def mark_sent(*, session: Session, outbox_id: int, now: datetime) -> None:
    t = Outbox.__table__
    session.execute(update(t).where(t.c.id == outbox_id).values(status="sent", sent_at=now, last_error=None))


def any_due(*, session: Session, now: datetime) -> bool:
    """Whether claim would find anything: a read, so an idle sender never queues behind writers."""
    t = Outbox.__table__
    query = select(t.c.id).where(t.c.status.in_(("pending", "sending")), t.c.next_attempt_at <= now).limit(1)
    return session.execute(query).first() is not None


def mark_failed(*, session: Session, outbox_id: int, error: str, retry_at: datetime | None) -> None:
    """Record a failed attempt: back to pending for `retry_at`, or failed for good when it is None."""
    row = session.get(Outbox, outbox_id)
    if row:
        row.attempts += 1
        row.last_error = error[:500]
        row.status = "pending" if retry_at else "failed"
        row.next_attempt_at = retry_at or row.next_attempt_at
        session.add(row)


def recent(*, session: Session, after_id: int = 0, limit: int = 200) -> list[Outbox]:
    return list(session.exec(select(Outbox).where(Outbox.id > after_id).order_by(Outbox.id).limit(limit)))


def by_status(*, session: Session, status: str, limit: int = 100) -> list[Outbox]:
    return list(session.exec(select(Outbox).where(Outbox.status == status).order_by(Outbox.id.desc()).limit(limit)))
