"""Repository for the outbox: messages committed with the work that caused them, claimed and marked by the sender."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Row, and_, or_, update
from sqlmodel import Session, select

from storage.models import Outbox, ReminderSend, utcnow

BATCH = 1000  # message/send takes up to 1000 userids (wecom.md §3.2)
USEFUL_FOR = timedelta(days=1)  # a message not delivered within a day is expired, not sent late
LEASE_S = 120  # a claimed row is the claimer's this long: one row is one call of at most 3 x 5 s requests
RETRYABLE_STATUSES = ("failed", "expired")
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
    expires_at: datetime | None = None,
) -> Outbox | None:
    """Add a message unless one with this key exists (a retried delivery adds nothing); returns the row.

    It is retried until `expires_at` (a day by default), then marked expired."""
    existing = session.exec(select(Outbox).where(Outbox.key == key)).first()
    if existing:
        return existing
    now = now or utcnow()
    row = Outbox(
        key=key,
        kind="chat" if chat_id else "user",
        recipients=list(recipients or []),
        chat_id=chat_id,
        msgtype=msgtype,
        content=content,
        source=source,
        next_attempt_at=now,
        created_at=now,
        expires_at=expires_at or now + USEFUL_FOR,
    )
    session.add(row)
    session.flush()
    session.info[ENQUEUED] = True
    return row


def _due(now: datetime):
    """Pending rows whose time has come, and claimed rows whose sender's lease ran out (it crashed or stalled)."""
    return and_(or_(Outbox.status == "pending", Outbox.status == "sending"), Outbox.next_attempt_at <= now)


def any_due(*, session: Session, now: datetime) -> bool:
    """Whether claim would find (or expire) anything: a read, so an idle sender never queues behind writers."""
    return session.execute(select(Outbox.id).where(_due(now)).limit(1)).first() is not None


def claim(
    *,
    session: Session,
    now: datetime,
    limit: int = 50,
    lease_s: int = LEASE_S,
    skip_locked: bool = False,
    holder: str | None = None,
) -> list[Row]:
    """Take due rows for sending, leased to `holder` until now + lease_s; rows past their use expire first.

    One UPDATE … RETURNING for the lot (rows with the outbox's columns, oldest first): the lease is what
    keeps another sender off a row until it runs out, so the row is sent once."""
    session.execute(
        update(Outbox)
        .where(_due(now), Outbox.expires_at.is_not(None), Outbox.expires_at <= now)
        .values(status="expired", claimed_by=None)
    )
    due = select(Outbox.id).where(_due(now)).order_by(Outbox.id).limit(limit)
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    lease = dict(status="sending", next_attempt_at=now + timedelta(seconds=lease_s), claimed_by=holder)
    statement = update(Outbox).where(Outbox.id.in_(due.scalar_subquery())).values(**lease)
    rows = session.execute(_plain(statement.returning(*Outbox.__table__.c))).all()
    return sorted(rows, key=lambda row: row.id)


def _plain(statement):
    """A bulk UPDATE that leaves the session's objects alone (the caller sets what it needs)."""
    return statement.execution_options(synchronize_session=False)


def _holder_is(holder: str | None):
    return Outbox.claimed_by.is_(None) if holder is None else Outbox.claimed_by == holder


def mark_sent_many(*, session: Session, outbox_ids: list[int], now: datetime, holder: str | None = None) -> set[int]:
    """Delivered to every recipient: many rows in one statement; returns the ids this sender still held."""
    if not outbox_ids:
        return set()
    statement = (
        update(Outbox)
        .where(Outbox.id.in_(outbox_ids), Outbox.status == "sending", _holder_is(holder))
        .values(status="sent", sent_at=now, claimed_by=None, rejected=None, last_error=None)
        .returning(Outbox.id)
    )
    return set(session.execute(_plain(statement)).scalars())


def release(*, session: Session, outbox_ids: list[int], now: datetime, holder: str | None = None) -> int:
    """Hand claimed rows back unsent, due at once, for any sender (this one queued them too long)."""
    if not outbox_ids:
        return 0
    statement = update(Outbox).where(Outbox.id.in_(outbox_ids), Outbox.status == "sending", _holder_is(holder))
    values = dict(status="pending", claimed_by=None, next_attempt_at=now)
    return session.execute(_plain(statement.values(**values))).rowcount or 0


def _held(session: Session, outbox_id: int, holder: str | None) -> Outbox | None:
    """The row if this sender still holds it; a sender whose lease was taken over must not overwrite the new one."""
    row = session.get(Outbox, outbox_id, with_for_update=True, populate_existing=True)
    if row is None or row.status != "sending" or row.claimed_by != holder:
        return None
    return row


def mark_sent(
    *, session: Session, outbox_id: int, now: datetime, holder: str | None = None, rejected: list[str] = ()
) -> bool:
    """Delivered, but for the `rejected` recipients (WeCom does not know them): failed for good if nobody got it."""
    row = _held(session, outbox_id, holder)
    if row is None:
        return False
    row.sent_at, row.claimed_by, row.rejected = now, None, sorted(rejected) or None
    everyone = row.kind == "user" and set(rejected) >= set(row.recipients)
    row.status = "failed" if everyone else "sent"
    row.last_error = f"企业微信不认识的账号：{'、'.join(sorted(rejected))}"[:500] if rejected else None
    session.add(row)
    if rejected:
        _reject_people(session, outbox_id, rejected)
    return True


def _reject_people(session: Session, outbox_id: int, rejected: list[str]) -> None:
    session.execute(
        update(ReminderSend)
        .where(ReminderSend.outbox_id == outbox_id, ReminderSend.userid.in_(list(rejected)))
        .values(error="invaliduser")
    )


def mark_failed(
    *,
    session: Session,
    outbox_id: int,
    error: str,
    retry_at: datetime | None,
    holder: str | None = None,
    count: bool = True,
) -> bool:
    """Record a failed attempt: back to pending for `retry_at`, failed for good when it is None, expired when
    the retry would come after the row's use is over."""
    row = _held(session, outbox_id, holder)
    if row is None:
        return False
    row.attempts += 1 if count else 0
    row.last_error, row.claimed_by = error[:500], None
    if retry_at is None:
        row.status = "failed"
    elif row.expires_at is not None and retry_at >= row.expires_at:
        row.status = "expired"
    else:
        row.status, row.next_attempt_at = "pending", retry_at
    session.add(row)
    return True


def hasten(*, session: Session, now: datetime) -> int:
    """WeCom answers again: rows waiting out a backoff are due now instead of at their next try."""
    result = session.execute(
        update(Outbox)
        .where(Outbox.status == "pending", Outbox.attempts > 0, Outbox.next_attempt_at > now)
        .values(next_attempt_at=now)
    )
    return result.rowcount or 0


def retry(*, session: Session, outbox_id: int, now: datetime) -> Outbox | None:
    """An operator's resend: a failed or expired row goes out again (for another day); for a sent row, the
    recipients WeCom refused get a new row. None when there is nothing to resend."""
    row = session.get(Outbox, outbox_id, with_for_update=True)
    if row is None:
        return None
    if row.status in RETRYABLE_STATUSES:
        row.status, row.attempts, row.next_attempt_at = "pending", 0, now
        row.expires_at, row.rejected = now + USEFUL_FOR, None
        session.add(row)
        _clear_people(session, [row.id], None)
        return row
    if row.status == "sent" and row.rejected:
        again = enqueue(
            session=session,
            key=f"{row.key}:retry:{row.id}:{int(now.timestamp())}",
            content=row.content,
            recipients=row.rejected,
            msgtype=row.msgtype,
            source=row.source,
            now=now,
        )
        row.rejected = None
        session.add(row)
        _clear_people(session, [row.id], again.id)
        return again
    return None


def _clear_people(session: Session, outbox_ids: list[int], moved_to: int | None) -> None:
    """People refused before are pending again; with `moved_to`, their record follows them to the new row."""
    query = update(ReminderSend).where(ReminderSend.outbox_id.in_(outbox_ids), ReminderSend.error.is_not(None))
    values = {"error": None} | ({"outbox_id": moved_to} if moved_to else {})
    session.execute(query.values(**values))


def recent(*, session: Session, after_id: int = 0, limit: int = 200) -> list[Outbox]:
    return list(session.exec(select(Outbox).where(Outbox.id > after_id).order_by(Outbox.id).limit(limit)))


def by_status(*, session: Session, status: str, limit: int = 100) -> list[Outbox]:
    return list(session.exec(select(Outbox).where(Outbox.status == status).order_by(Outbox.id.desc()).limit(limit)))


def listing(*, session: Session, statuses: list[str] | None = None, limit: int = 50) -> list[Outbox]:
    """The newest rows, optionally of some statuses only (`kaohe outbox`)."""
    query = select(Outbox).order_by(Outbox.id.desc()).limit(limit)
    if statuses:
        query = query.where(Outbox.status.in_(statuses))
    return list(session.exec(query))


def ids_with_status(*, session: Session, status: str) -> list[int]:
    return list(session.exec(select(Outbox.id).where(Outbox.status == status).order_by(Outbox.id)))
