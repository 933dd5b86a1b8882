"""Repository for the audit trail: who changed what, from what to what, when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session, select

from storage.core import prepared, run_closing, run_kept
from storage.models import AuditEntry, utcnow


def record(
    *,
    session: Session,
    actor: str,
    entity: str,
    key: str,
    field: str,
    old,
    new,
    campaign_id: str | None = None,
    unit_code: str | None = None,
    at: datetime | None = None,
) -> None:
    record_many(
        session=session,
        rows=[
            dict(
                actor=actor,
                entity=entity,
                key=key,
                field=field,
                old=old,
                new=new,
                campaign_id=campaign_id,
                unit_code=unit_code,
                at=at,
            )
        ],
    )


def record_many(*, session: Session, rows: list[dict]) -> None:
    """Audit rows written at once, in one statement (keys as record's; old and new kept as text)."""
    if not rows:
        return
    now = utcnow()
    values = [
        {
            **row,
            "old": None if row["old"] is None else str(row["old"]),
            "new": None if row["new"] is None else str(row["new"]),
            "at": row.get("at") or now,
            "campaign_id": row.get("campaign_id"),
            "unit_code": row.get("unit_code"),
        }
        for row in rows
    ]
    # inside a turn it goes with the turn's closing writes: one round trip less on PostgreSQL
    run_closing(session, prepared(session, "audit.insert", lambda _: insert(AuditEntry.__table__)), values)


def trail(*, session: Session, unit_code: str | None = None, limit: int = 200) -> list[AuditEntry]:
    run_kept(session)  # rows a turn has kept for its end are part of the trail already
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if unit_code:
        query = query.where(AuditEntry.unit_code == unit_code)
    return list(session.exec(query))
