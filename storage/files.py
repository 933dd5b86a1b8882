"""Repository for generated files: stored once, delivered by reference (outbox, simulator download)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import Session, select

from storage.models import StoredFile, utcnow


def store(*, session: Session, name: str, media_type: str, data: bytes, owner: str, now: datetime | None = None):
    row = StoredFile(
        token=secrets.token_urlsafe(24),
        name=name[:200],
        media_type=media_type,
        size=len(data),
        data=data,
        owner=owner,
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def by_id(*, session: Session, file_id: int) -> StoredFile | None:
    return session.get(StoredFile, file_id)


def by_token(*, session: Session, token: str) -> StoredFile | None:
    return session.exec(select(StoredFile).where(StoredFile.token == token)).first()
