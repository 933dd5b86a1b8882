"""What became of the rows a sender claimed, committed many at a time in one write transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row

from storage import outbox
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    row: Row  # as outbox.claim returned it
    kind: str  # sent | failed | release (claimed, but too little of the lease was left to start it)
    rejected: list[str] | None = None  # sent: the userids WeCom refused
    error: str = ""  # failed: why
    retry_at: datetime | None = None  # failed: when to try again; None: failed for good
    count: bool = True  # failed: whether it counts as an attempt


def commit_outcomes(db: Database, outcomes: list[Outcome], now: datetime, holder: str) -> None:
    """Rows sent to everyone in one statement, handed-back rows in another, the rest row by row; a row whose
    lease another sender has taken over is left to that sender."""
    plain = [o.row.id for o in outcomes if o.kind == "sent" and not o.rejected]
    with db.write() as session:
        held = outbox.mark_sent_many(session=session, outbox_ids=plain, now=now, holder=holder)
        released = [o.row.id for o in outcomes if o.kind == "release"]
        outbox.release(session=session, outbox_ids=released, now=now, holder=holder)
        for o in outcomes:
            if o.kind == "sent" and o.rejected:
                done = outbox.mark_sent(
                    session=session, outbox_id=o.row.id, now=now, holder=holder, rejected=o.rejected
                )
                held |= {o.row.id} if done else set()
            elif o.kind == "failed":
                outbox.mark_failed(
                    session=session,
                    outbox_id=o.row.id,
                    error=o.error,
                    retry_at=o.retry_at,
                    holder=holder,
                    count=o.count,
                )
    for o in outcomes:
        if o.kind == "sent" and o.row.id not in held:
            log.warning("outbox %s: sent after its lease ran out; another sender holds it now", o.row.id)
