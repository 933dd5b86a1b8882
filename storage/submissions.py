"""Repository for a unit's self-check submission: submitted (entries locked) or reopened, every change audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, select

from storage import audit
from storage.core import prepared, run
from storage.models import Submission, utcnow


def submission(*, session: Session, campaign_id: str, unit_code: str) -> Submission | None:
    return session.exec(
        select(Submission).where(Submission.campaign_id == campaign_id, Submission.unit_code == unit_code)
    ).first()


def submission_state(*, session: Session, campaign_id: str, unit_code: str):
    """(submitted, submitted_at, reopened_at) of a unit, or None: the read the lock check needs."""
    return run(session, *reading_submission(session, campaign_id, unit_code)).first()


def reading_submission(session: Session, campaign_id: str, unit_code: str) -> tuple:
    """submission_state's statement and parameters, to run with others (core.run_all); then .first()."""
    return prepared(session, "submission.state", _state_select), {"c": campaign_id, "u": unit_code}


def _state_select(_session):
    t = Submission.__table__
    cols = (t.c.submitted, t.c.submitted_at, t.c.reopened_at)
    return select(*cols).where(t.c.campaign_id == bindparam("c"), t.c.unit_code == bindparam("u"))


def submissions(*, session: Session, campaign_id: str, unit_code: str | None = None) -> dict[str, Submission]:
    query = select(Submission).where(Submission.campaign_id == campaign_id)
    if unit_code is not None:
        query = query.where(Submission.unit_code == unit_code)
    return {s.unit_code: s for s in session.exec(query)}


def set_submitted(
    *, session: Session, campaign_id: str, unit_code: str, actor: str, submitted: bool, now: datetime | None = None
) -> Submission:
    """Submit (or, for an administrator, reopen) a unit's self-check; every change is audited."""
    now = now or utcnow()
    row = submission(session=session, campaign_id=campaign_id, unit_code=unit_code) or Submission(
        campaign_id=campaign_id, unit_code=unit_code
    )
    audit.record(
        session=session,
        actor=actor,
        entity="submission",
        key=unit_code,
        field="submitted",
        old=row.submitted,
        new=submitted,
        campaign_id=campaign_id,
        unit_code=unit_code,
        at=now,
    )
    row.submitted = submitted
    if submitted:
        row.submitted_at, row.submitted_by = now, actor
    else:
        row.reopened_at, row.reopened_by = now, actor
    session.add(row)
    session.flush()
    return row
