"""Repository for nudges (催办): one claim per unit and local day, made with the work that sends it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from storage.models import Nudge


def claim(
    *, session: Session, campaign_id: str, unit_code: str, day: str, by: str, recipients: list[str], now: datetime
) -> bool:
    """Record that a unit is nudged today; False when it already was (by anyone), so nothing is resent.

    ON CONFLICT DO NOTHING: two officers sending 催办 at once make one row, and neither gets an error."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(Nudge)
        .values(campaign_id=campaign_id, unit_code=unit_code, day=day, by=by, recipients=recipients, created_at=now)
        .on_conflict_do_nothing(index_elements=["campaign_id", "unit_code", "day"])
        .returning(Nudge.id)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def on_day(*, session: Session, campaign_id: str, day: str) -> dict[str, Nudge]:
    query = select(Nudge).where(Nudge.campaign_id == campaign_id, Nudge.day == day)
    return {n.unit_code: n for n in session.exec(query)}
