"""Plain column reads for the progress summaries (handlers/summaries.py): tuples, no ORM objects, so a city
of 4,000 units stays fast."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, select

from storage.models import ActivityEntry, LiaisonGroup, Person, ScoreEntry, Submission, Unit


def units(*, session: Session, group_id: int | None = None) -> Iterable[tuple[str, str, str, str]]:
    """(code, name, org_type, group name) of every unit, or of one liaison group's, by code."""
    query = select(Unit.code, Unit.name, Unit.org_type, LiaisonGroup.name).join(LiaisonGroup)
    if group_id is not None:
        query = query.where(Unit.group_id == group_id)
    return session.exec(query.order_by(Unit.code))


def filled_activities(*, session: Session, campaign_id: str) -> Iterable[tuple[str, str, int]]:
    """(unit code, item key, count) of every filled table-1 entry."""
    return session.exec(
        select(ActivityEntry.unit_code, ActivityEntry.key, ActivityEntry.count).where(
            ActivityEntry.campaign_id == campaign_id, ActivityEntry.count.is_not(None)
        )
    )


def filled_scores(*, session: Session, campaign_id: str) -> Iterable[tuple[str, float]]:
    """(unit code, points) of every filled table-2 entry."""
    return session.exec(
        select(ScoreEntry.unit_code, ScoreEntry.points).where(
            ScoreEntry.campaign_id == campaign_id, ScoreEntry.points.is_not(None)
        )
    )


def submitted(*, session: Session, campaign_id: str) -> Iterable[tuple[str, bool]]:
    """(unit code, submitted) of every unit with a submission row."""
    return session.exec(select(Submission.unit_code, Submission.submitted).where(Submission.campaign_id == campaign_id))


def clerks(*, session: Session) -> Iterable[tuple[str, str]]:
    """(name, unit code) of every clerk."""
    return session.exec(select(Person.name, Person.unit_code).where(Person.role == "clerk"))
