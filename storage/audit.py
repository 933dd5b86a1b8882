"""Repository for the audit trail: who changed what, from what to what, when."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from storage.models import AuditEntry


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
    entry = AuditEntry(
        actor=actor,
        entity=entity,
        key=key,
        field=field,
        campaign_id=campaign_id,
        unit_code=unit_code,
        old=None if old is None else str(old),
        new=None if new is None else str(new),
    )
    if at is not None:
        entry.at = at
    session.add(entry)


def trail(*, session: Session, unit_code: str | None = None, limit: int = 200) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if unit_code:
        query = query.where(AuditEntry.unit_code == unit_code)
    return list(session.exec(query))
