"""Repository for scoring inputs: routine scores, bonus items, reviewed scores and grade decisions, all audited."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from storage import audit
from storage.models import BonusItem, GradeDecision, ReviewedScore, RoutineScore, utcnow


def _audit(session: Session, *, actor, entity, key, field, old, new, campaign_id, unit_code, now) -> None:
    audit.record(
        session=session,
        actor=actor,
        entity=entity,
        key=key,
        field=field,
        old=old,
        new=new,
        campaign_id=campaign_id,
        unit_code=unit_code,
        at=now,
    )


def routine_scores(*, session: Session, campaign_id: str) -> dict[str, RoutineScore]:
    return {r.unit_code: r for r in session.exec(select(RoutineScore).where(RoutineScore.campaign_id == campaign_id))}


def set_routine_score(
    *, session: Session, campaign_id: str, unit_code: str, score: float, source: str, actor: str, now: datetime
) -> str | None:
    """Write one unit's routine score; returns "added", "updated", or None when it is unchanged (nothing written)."""
    row = session.exec(
        select(RoutineScore).where(RoutineScore.campaign_id == campaign_id, RoutineScore.unit_code == unit_code)
    ).first()
    old = row.score if row else None
    if row is not None and old == score:
        return None
    row = row or RoutineScore(campaign_id=campaign_id, unit_code=unit_code, score=score, updated_by=actor)
    row.score, row.source, row.updated_by, row.updated_at = score, source[:200], actor, now
    session.add(row)
    _audit(
        session,
        actor=actor,
        entity="routine",
        key=unit_code,
        field="score",
        old=old,
        new=score,
        campaign_id=campaign_id,
        unit_code=unit_code,
        now=now,
    )
    return "updated" if old is not None else "added"


def bonus_items(
    *, session: Session, campaign_id: str, unit_code: str | None = None, status: str | None = None
) -> list[BonusItem]:
    query = select(BonusItem).where(BonusItem.campaign_id == campaign_id).order_by(BonusItem.id)
    if unit_code is not None:
        query = query.where(BonusItem.unit_code == unit_code)
    if status is not None:
        query = query.where(BonusItem.status == status)
    return list(session.exec(query))


def bonus_item(*, session: Session, item_id: int) -> BonusItem | None:
    return session.get(BonusItem, item_id)


def add_bonus(
    *,
    session: Session,
    campaign_id: str,
    unit_code: str,
    title: str,
    points: float,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> BonusItem:
    now = now or utcnow()
    item = BonusItem(
        campaign_id=campaign_id,
        unit_code=unit_code,
        title=title,
        points=points,
        reason=reason,
        declared_by=actor,
        declared_at=now,
    )
    session.add(item)
    session.flush()
    _audit(
        session,
        actor=actor,
        entity="bonus",
        key=str(item.id),
        field="declared",
        old=None,
        new=f"{title} {points:g} 分：{reason}",
        campaign_id=campaign_id,
        unit_code=unit_code,
        now=now,
    )
    return item


def decide_bonus(
    *, session: Session, item: BonusItem, approve: bool, reason: str, actor: str, now: datetime | None = None
) -> BonusItem:
    now = now or utcnow()
    old = item.status
    item.status = "approved" if approve else "refused"
    item.decided_by, item.decided_at, item.decision_reason = actor, now, reason
    session.add(item)
    _audit(
        session,
        actor=actor,
        entity="bonus",
        key=str(item.id),
        field="status",
        old=old,
        new=f"{item.status}：{reason}",
        campaign_id=item.campaign_id,
        unit_code=item.unit_code,
        now=now,
    )
    session.flush()
    return item


def reviewed_scores(*, session: Session, campaign_id: str) -> dict[tuple[str, str], ReviewedScore]:
    rows = session.exec(select(ReviewedScore).where(ReviewedScore.campaign_id == campaign_id))
    return {(r.unit_code, r.key): r for r in rows}


def set_reviewed(
    *,
    session: Session,
    campaign_id: str,
    unit_code: str,
    key: str,
    points: float,
    reason: str,
    actor: str,
    old_points: float | None,
    now: datetime | None = None,
) -> ReviewedScore:
    """The reviewed score of one category; `old_points` is the figure it replaces (self-score or earlier review)."""
    now = now or utcnow()
    row = session.exec(
        select(ReviewedScore).where(
            ReviewedScore.campaign_id == campaign_id, ReviewedScore.unit_code == unit_code, ReviewedScore.key == key
        )
    ).first()
    row = row or ReviewedScore(
        campaign_id=campaign_id, unit_code=unit_code, key=key, points=points, reason=reason, set_by=actor
    )
    row.points, row.reason, row.set_by, row.set_at = points, reason, actor, now
    session.add(row)
    _audit(
        session,
        actor=actor,
        entity="reviewed",
        key=key,
        field="points",
        old=old_points,
        new=f"{points:g}：{reason}",
        campaign_id=campaign_id,
        unit_code=unit_code,
        now=now,
    )
    session.flush()
    return row


def grade_decisions(*, session: Session, campaign_id: str) -> dict[str, GradeDecision]:
    rows = session.exec(select(GradeDecision).where(GradeDecision.campaign_id == campaign_id))
    return {r.unit_code: r for r in rows}


def set_grade(
    *,
    session: Session,
    campaign_id: str,
    unit_code: str,
    grade: str,
    reason: str,
    actor: str,
    old_grade: str | None,
    now: datetime | None = None,
) -> GradeDecision:
    now = now or utcnow()
    row = grade_decisions(session=session, campaign_id=campaign_id).get(unit_code) or GradeDecision(
        campaign_id=campaign_id, unit_code=unit_code, grade=grade, reason=reason, decided_by=actor
    )
    row.grade, row.reason, row.decided_by, row.decided_at = grade, reason, actor, now
    session.add(row)
    _audit(
        session,
        actor=actor,
        entity="grade",
        key=unit_code,
        field="grade",
        old=old_grade,
        new=f"{grade}：{reason}",
        campaign_id=campaign_id,
        unit_code=unit_code,
        now=now,
    )
    session.flush()
    return row
