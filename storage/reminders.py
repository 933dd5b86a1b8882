"""Repository for reminders: which were acted on, who was sent what, and how their outbox rows fared."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import bindparam, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from storage.models import Outbox, ReminderRun, ReminderSend

SOURCE = "reminder"


def _insert(session: Session, model):
    """INSERT that can say ON CONFLICT DO NOTHING, in the session's dialect."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def _core_insert(session: Session, model):
    """The same on the bare table: a bulk insert of thousands of rows skips the ORM's per-row bookkeeping."""
    return _insert(session, model.__table__)


def claim_run(
    *,
    session: Session,
    campaign_id: str,
    key: str,
    status: str,
    due_at: datetime,
    now: datetime,
    holder: str | None = None,
) -> int | None:
    """Record that a reminder is being acted on; None when it already was (by anyone, ever).

    The unique (campaign, reminder) row is the claim: a second scheduler's insert waits for the first's
    transaction and then does nothing, so two of them never both fire."""
    stmt = (
        _insert(session, ReminderRun)
        .values(
            campaign_id=campaign_id,
            reminder_key=key,
            status=status,
            due_at=due_at,
            acted_at=now,
            holder=holder,
            recipients=0,
        )
        .on_conflict_do_nothing(index_elements=["campaign_id", "reminder_key"])
    )
    # RETURNING says whether this insert made the row (rowcount is not reliable across drivers here).
    return session.execute(stmt.returning(ReminderRun.id)).scalar_one_or_none()


def set_recipients(*, session: Session, run_id: int, count: int) -> None:
    run = session.get(ReminderRun, run_id)
    run.recipients = count
    session.add(run)


def runs(*, session: Session, campaign_id: str) -> dict[str, ReminderRun]:
    return {r.reminder_key: r for r in session.exec(select(ReminderRun).where(ReminderRun.campaign_id == campaign_id))}


def recorded(*, session: Session, campaign_id: str, key: str) -> set[str]:
    """Who already has this reminder on record."""
    return set(
        session.exec(
            select(ReminderSend.userid).where(ReminderSend.campaign_id == campaign_id, ReminderSend.reminder_key == key)
        )
    )


def enqueue_batches(
    *,
    session: Session,
    campaign_id: str,
    key: str,
    run_id: int,
    batches: list[tuple[str, str, list[str]]],
    now: datetime,
    expires_at: datetime | None = None,
) -> int:
    """One outbox row per (digest, text, recipients) batch and one record per recipient, in bulk; the rows
    are retried until `expires_at` (the reminder's phase ends, or a day passes).

    Returns how many people were recorded; someone recorded already (a race) is left out, never twice."""
    if not batches:
        return 0
    rows = [
        dict(
            key=f"reminder:{campaign_id}:{key}:{run_id}:{digest}",
            kind="user",
            recipients=users,
            msgtype="text",
            content=text,
            source=SOURCE,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            expires_at=expires_at,
        )
        for digest, text, users in batches
    ]
    table = Outbox.__table__.c
    ids = dict(session.execute(_core_insert(session, Outbox).returning(table.key, table.id), rows).all())
    users = [user for row in rows for user in row["recipients"]]
    outbox_ids = [ids[row["key"]] for row in rows for _ in row["recipients"]]
    if session.get_bind().dialect.name == "postgresql":
        # One statement for all the records, which differ only in the person and the row: as two arrays.
        # A multi-row VALUES of 18,000 records is a dozen statements of 5,000 placeholders each, which
        # psycopg parses in Python one by one (0.8 s of a 4.7 s fan-out's selection, benchmarks.reminders).
        session.execute(_RECORD_ALL, dict(campaign_id=campaign_id, key=key, users=users, ids=outbox_ids, now=now))
        return len(users)
    sends = [
        dict(campaign_id=campaign_id, reminder_key=key, userid=user, outbox_id=outbox_id, created_at=now)
        for user, outbox_id in zip(users, outbox_ids, strict=True)
    ]
    stmt = _core_insert(session, ReminderSend).on_conflict_do_nothing(
        index_elements=["campaign_id", "reminder_key", "userid"]
    )
    session.execute(stmt, sends)
    return len(sends)


_RECORD_ALL = text(
    "INSERT INTO reminder_send (campaign_id, reminder_key, userid, outbox_id, created_at) "
    "SELECT :campaign_id, :key, r.userid, r.outbox_id, :now "
    "FROM unnest(CAST(:users AS TEXT[]), CAST(:ids AS INTEGER[])) AS r (userid, outbox_id) "
    "ON CONFLICT (campaign_id, reminder_key, userid) DO NOTHING"
).bindparams(bindparam("now", type_=ReminderSend.__table__.c.created_at.type))


def delivery_counts(*, session: Session, campaign_id: str) -> dict[str, Counter]:
    """Per reminder: how many recorded people's messages are sent, pending (or sending), failed, expired.

    A person WeCom refused (invaliduser) is failed even when the rest of their message's row was sent."""
    refused = ReminderSend.error.is_not(None)
    query = (
        select(ReminderSend.reminder_key, Outbox.status, refused, func.count())
        .join(Outbox, Outbox.id == ReminderSend.outbox_id)
        .where(ReminderSend.campaign_id == campaign_id)
        .group_by(ReminderSend.reminder_key, Outbox.status, refused)
    )
    counts: dict[str, Counter] = defaultdict(Counter)
    for key, status, was_refused, n in session.exec(query):
        counts[key]["failed" if was_refused else "pending" if status == "sending" else status] += n
    return counts


def refused_people(*, session: Session, campaign_id: str, key: str) -> list[tuple[str, str]]:
    """(userid, reason) of the people WeCom refused for this reminder."""
    query = (
        select(ReminderSend.userid, ReminderSend.error)
        .where(
            ReminderSend.campaign_id == campaign_id, ReminderSend.reminder_key == key, ReminderSend.error.is_not(None)
        )
        .order_by(ReminderSend.userid)
    )
    return list(session.exec(query))


def failed_rows(*, session: Session, campaign_id: str, key: str, limit: int = 3) -> list[Outbox]:
    """The reminder's outbox rows that failed for good or expired, newest first."""
    sent = select(ReminderSend.outbox_id).where(
        ReminderSend.campaign_id == campaign_id, ReminderSend.reminder_key == key
    )
    query = (
        select(Outbox)
        .where(Outbox.id.in_(sent), Outbox.status.in_(["failed", "expired"]))
        .order_by(Outbox.id.desc())
        .limit(limit)
    )
    return list(session.exec(query))
