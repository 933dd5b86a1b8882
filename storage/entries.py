"""Repository for a unit's entries (table 1 counts, table 2 self-scores) and its self-check submission."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from storage import audit
from storage.models import ActivityEntry, ScoreEntry, Submission, utcnow

_MODELS = {"activity": (ActivityEntry, "count"), "score": (ScoreEntry, "points")}


class StaleEntry(Exception):
    """Someone else changed the entry since the person saw it."""

    def __init__(self, current):
        super().__init__(current.key)
        self.current = current


def entries(*, session: Session, kind: str, campaign_id: str, unit_code: str | None = None) -> dict:
    """Entries by key for one unit, or by (unit, key) for all units when unit_code is None."""
    model, _ = _MODELS[kind]
    query = select(model).where(model.campaign_id == campaign_id)
    if unit_code is not None:
        return {e.key: e for e in session.exec(query.where(model.unit_code == unit_code))}
    return {(e.unit_code, e.key): e for e in session.exec(query)}


def versions(*, session: Session, kind: str, campaign_id: str, unit_code: str) -> dict[str, int]:
    return {
        k: e.version
        for k, e in entries(session=session, kind=kind, campaign_id=campaign_id, unit_code=unit_code).items()
    }


def set_entry(
    *,
    session: Session,
    kind: str,
    campaign_id: str,
    unit_code: str,
    key: str,
    value,
    note: str | None,
    actor: str,
    seen_version: int | None = None,
    check: bool = True,
    now: datetime | None = None,
):
    """Write one entry. With `check`, refuse (StaleEntry) when its version is not the one the person saw
    (`seen_version` None means they saw it empty). A note of None keeps the note already there."""
    model, field = _MODELS[kind]
    now = now or utcnow()
    row = session.exec(
        select(model).where(model.campaign_id == campaign_id, model.unit_code == unit_code, model.key == key)
    ).first()
    if check and (row.version if row else None) != seen_version:
        raise StaleEntry(row)
    old_value, old_note = (getattr(row, field), row.note) if row else (None, None)
    if row is None:
        row = model(campaign_id=campaign_id, unit_code=unit_code, key=key, updated_by=actor, version=0)
    setattr(row, field, value)
    if note is not None:
        row.note = note or None
    row.version += 1
    row.updated_by, row.updated_at = actor, now
    session.add(row)
    for name, old, new in ((field, old_value, value), ("note", old_note, row.note)):
        if old != new:
            audit.record(
                session=session,
                actor=actor,
                entity=kind,
                key=key,
                field=name,
                old=old,
                new=new,
                campaign_id=campaign_id,
                unit_code=unit_code,
                at=now,
            )
    session.flush()
    return row


def submission(*, session: Session, campaign_id: str, unit_code: str) -> Submission | None:
    return session.exec(
        select(Submission).where(Submission.campaign_id == campaign_id, Submission.unit_code == unit_code)
    ).first()


def submissions(*, session: Session, campaign_id: str) -> dict[str, Submission]:
    return {s.unit_code: s for s in session.exec(select(Submission).where(Submission.campaign_id == campaign_id))}


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
