"""Repository for named leases: one holder at a time, for as long as it keeps renewing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from storage.models import Lease


def take(*, session: Session, name: str, holder: str, now: datetime, ttl_s: float) -> str:
    """Take the lease when free or expired, renew it when ours; returns whoever holds it afterwards.

    The row is locked (PostgreSQL) or the write lock is held already (SQLite), so two takers never both win."""
    row = _locked(session, name)
    if row is None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(Lease)
            .values(name=name, holder=holder, expires_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = _locked(session, name)
    if row.holder == holder or row.expires_at <= now:
        row.holder, row.expires_at = holder, now + timedelta(seconds=ttl_s)
        session.add(row)
    return row.holder


def release(*, session: Session, name: str, holder: str, now: datetime) -> None:
    """Let the lease go at once (a clean stop), so a successor need not wait for it to expire."""
    row = _locked(session, name)
    if row is not None and row.holder == holder:
        row.expires_at = now
        session.add(row)


def _locked(session: Session, name: str) -> Lease | None:
    query = select(Lease).where(Lease.name == name).with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()
