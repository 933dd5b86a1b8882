"""The committee's decision as dashboard data: each unit's scores with every override beside what it changed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from handlers.results import UnitResult, unit_result, unit_results
from handlers.scoring import pending_bonus, weighting_line
from storage import roster
from storage.campaign import Campaign
from storage.models import Unit

if TYPE_CHECKING:
    from sqlmodel import Session

FINAL_BINS = 10


def results(*, session: Session, campaign: Campaign) -> dict:
    """Every unit's result, the bonus items waiting for a decision, and the final-score distribution."""
    rows = unit_results(session=session, campaign=campaign)
    pending = pending_bonus(session=session, campaign=campaign)
    names = _names(session, rows)
    units = {r.unit.code: r.unit.name for r in rows}
    return {
        "formula": weighting_line(campaign),
        "grades": [g.name for g in campaign.grades],
        "units": [result_view(r, campaign, names) for r in rows],
        "pending": [
            {**_bonus(b, campaign, names), "unit_code": b.unit_code, "unit_name": units.get(b.unit_code, b.unit_code)}
            for b in pending
        ],
        "final_distribution": final_distribution(rows, campaign.scoring.year_end_scale),
    }


def unit_scoring(*, session: Session, campaign: Campaign, unit: Unit) -> dict:
    r = unit_result(session=session, campaign=campaign, unit=unit)
    return {
        **result_view(r, campaign, _names(session, [r])),
        "formula": weighting_line(campaign),
        "grades": [g.name for g in campaign.grades],
    }


def result_view(r: UnitResult, campaign: Campaign, names: dict) -> dict:
    d = r.decision
    return {
        "code": r.unit.code,
        "name": r.unit.name,
        "group": r.group_name,
        "self_total": r.self_total,
        "reviewed_total": r.reviewed_total,
        "year_end": r.year_end,
        "routine": r.routine_score,
        "routine_by": _who(r.routine.updated_by, names) if r.routine else None,
        "routine_at": _at(campaign, r.routine.updated_at) if r.routine else None,
        "routine_source": r.routine.source if r.routine else None,
        "bonus": r.bonus,
        "final": r.final,
        "proposed_grade": r.proposed_grade,
        "grade": r.grade,
        "override": {
            "grade": d.grade,
            "reason": d.reason,
            "by": _who(d.decided_by, names),
            "at": _at(campaign, d.decided_at),
        }
        if d
        else None,
        "categories": [_category(c, campaign, names) for c in r.categories],
        "bonus_items": [_bonus(b, campaign, names) for b in r.bonus_items],
        "missing": r.missing,
    }


def final_distribution(rows: list[UnitResult], scale: float) -> list[dict]:
    """Units by final score in tenths of the year-end scale; a bonus above the scale lands in the top band."""
    width = scale / FINAL_BINS
    counts = [0] * FINAL_BINS
    for r in rows:
        if r.final is not None:
            counts[max(0, min(FINAL_BINS - 1, int(r.final // width)))] += 1
    return [{"from": round(i * width, 1), "to": round((i + 1) * width, 1), "units": n} for i, n in enumerate(counts)]


def _category(c, campaign: Campaign, names: dict) -> dict:
    review = c.review
    return {
        "key": c.key,
        "name": c.name,
        "max": c.max,
        "self_score": c.self_score,
        "points": c.points,
        "review": {
            "points": review.points,
            "reason": review.reason,
            "by": _who(review.set_by, names),
            "at": _at(campaign, review.set_at),
        }
        if review
        else None,
    }


def _bonus(b, campaign: Campaign, names: dict) -> dict:
    return {
        "id": b.id,
        "title": b.title,
        "points": b.points,
        "reason": b.reason,
        "status": b.status,
        "declared_by": _who(b.declared_by, names),
        "declared_at": _at(campaign, b.declared_at),
        "decided_by": _who(b.decided_by, names) if b.decided_by else None,
        "decided_at": _at(campaign, b.decided_at),
        "decision_reason": b.decision_reason,
    }


def _names(session: Session, rows: list[UnitResult]) -> dict:
    """Names of the people these results mention, read for them alone (not the city's 20,000 clerks)."""
    ids = set()
    for r in rows:
        ids.update(
            x for x in (r.routine.updated_by if r.routine else None, r.decision.decided_by if r.decision else None) if x
        )
        ids.update(c.review.set_by for c in r.categories if c.review)
        ids.update(x for b in r.bonus_items for x in (b.declared_by, b.decided_by) if x)
    return roster.names(session=session, userids=ids)


def _who(userid: str, names: dict) -> str:
    return names.get(userid, userid)


def _at(campaign: Campaign, moment: datetime | None) -> str | None:
    return f"{campaign.local(moment):%Y-%m-%d %H:%M}" if moment else None
