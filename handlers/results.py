"""Each unit's result: year-end part from the reviewed table 2, routine, approved bonus, final score and grade."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from storage import entries, roster, scoring
from storage.campaign import Campaign
from storage.models import BonusItem, GradeDecision, ReviewedScore, RoutineScore, Unit

if TYPE_CHECKING:
    from sqlmodel import Session


def rounded(value: float | Decimal, precision: int) -> float:
    """四舍五入 to the campaign's precision: 84.125 -> 84.13 (Python's round() would give 84.12)."""
    step = Decimal(1).scaleb(-precision)
    return float(Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP))


def _d(value: float) -> Decimal:
    """Decimal arithmetic from the figures as written: 95.55 × 0.7 is 66.885, not 66.88499999999999."""
    return Decimal(str(value))


@dataclass
class CategoryScore:
    key: str
    name: str
    max: float
    self_score: float | None
    review: ReviewedScore | None = None

    @property
    def points(self) -> float | None:
        """The figure that counts: the reviewed score where an administrator set one, else the self-score."""
        return self.review.points if self.review else self.self_score


@dataclass
class UnitResult:
    unit: Unit
    group_name: str
    categories: list[CategoryScore]
    routine: RoutineScore | None
    bonus_items: list[BonusItem]
    decision: GradeDecision | None
    year_end: float | None = None
    bonus: float = 0.0
    final: float | None = None
    proposed_grade: str | None = None
    missing: list[str] = field(default_factory=list)

    @property
    def self_total(self) -> float | None:
        values = [c.self_score for c in self.categories]
        return None if all(v is None for v in values) else sum(v or 0 for v in values)

    @property
    def reviewed_total(self) -> float | None:
        values = [c.points for c in self.categories]
        return None if None in values else sum(values)

    @property
    def reviews(self) -> list[CategoryScore]:
        return [c for c in self.categories if c.review]

    @property
    def routine_score(self) -> float | None:
        return self.routine.score if self.routine else None

    @property
    def approved(self) -> list[BonusItem]:
        return [b for b in self.bonus_items if b.status == "approved"]

    @property
    def pending(self) -> list[BonusItem]:
        return [b for b in self.bonus_items if b.status == "pending"]

    @property
    def grade(self) -> str | None:
        """The decided grade: the committee's where it set one, else the proposed one."""
        return self.decision.grade if self.decision else self.proposed_grade

    @property
    def decided_at(self) -> datetime | None:
        return self.decision.decided_at if self.decision else None


def compute(campaign: Campaign, result: UnitResult) -> UnitResult:
    """Fill the figures: year-end = reviewed total / table-2 total × scale, rounded; final = year-end × weight
    + routine × weight + approved bonus (capped by the campaign), rounded; the grade from the thresholds."""
    rules, weights = campaign.scoring, campaign.weights
    total = result.reviewed_total
    result.missing = []
    if total is None:
        result.missing.append("表二未填完")
    else:
        scaled = _d(total) / _d(campaign.total_points) * _d(rules.year_end_scale)
        result.year_end = rounded(scaled, rules.precision)
    if result.routine is None:
        result.missing.append("无平时成绩")
    bonus = sum(b.points for b in result.approved)
    result.bonus = min(bonus, rules.bonus_max) if rules.bonus_max is not None else bonus
    if result.year_end is not None and result.routine is not None:
        raw = (
            _d(result.year_end) * _d(weights.year_end)
            + _d(result.routine.score) * _d(weights.routine)
            + _d(result.bonus)
        )
        result.final = rounded(raw, rules.precision)
        result.proposed_grade = grade_for(campaign, result.final)
    return result


def grade_for(campaign: Campaign, score: float) -> str | None:
    """The highest grade whose threshold the score reaches; None when the campaign names no grades."""
    for grade in sorted(campaign.grades, key=lambda g: g.min_score, reverse=True):
        if score >= grade.min_score:
            return grade.name
    return None


def unit_results(*, session: Session, campaign: Campaign, units: list[Unit] | None = None) -> list[UnitResult]:
    """Every unit's result (or those given) from a handful of bulk reads, in unit-code order."""
    units = sorted(roster.units(session=session) if units is None else units, key=lambda u: u.code)
    names = {g.id: g.name for g in roster.groups(session=session)}
    selfs = {
        k: points for k, (points, _) in entries.values(session=session, kind="score", campaign_id=campaign.id).items()
    }
    reviews = scoring.reviewed_scores(session=session, campaign_id=campaign.id)
    routine = scoring.routine_scores(session=session, campaign_id=campaign.id)
    decisions = scoring.grade_decisions(session=session, campaign_id=campaign.id)
    bonus: dict[str, list[BonusItem]] = {}
    for item in scoring.bonus_items(session=session, campaign_id=campaign.id):
        bonus.setdefault(item.unit_code, []).append(item)
    return [
        compute(
            campaign,
            UnitResult(
                unit=u,
                group_name=names.get(u.group_id, ""),
                categories=[
                    _category(c, selfs.get((u.code, c.key)), reviews.get((u.code, c.key))) for c in campaign.categories
                ],
                routine=routine.get(u.code),
                bonus_items=bonus.get(u.code, []),
                decision=decisions.get(u.code),
            ),
        )
        for u in units
    ]


def unit_result(*, session: Session, campaign: Campaign, unit: Unit) -> UnitResult:
    return unit_results(session=session, campaign=campaign, units=[unit])[0]


def _category(category, points, review) -> CategoryScore:
    return CategoryScore(category.key, category.name, category.points, points, review)
