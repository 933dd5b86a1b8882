"""Repository for the simulator's conversations: each message typed there with the bot's answer."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from storage.models import SimTurn

KEPT = 200  # turns a reloaded page shows per person


def add(*, session: Session, userid: str, text: str, replies: list[str], now: datetime) -> None:
    session.add(SimTurn(userid=userid, text=text, replies=replies, created_at=now))


def recent(*, session: Session, userid: str, limit: int = KEPT) -> list[SimTurn]:
    query = select(SimTurn).where(SimTurn.userid == userid).order_by(SimTurn.id.desc()).limit(limit)
    return list(reversed(list(session.exec(query))))
