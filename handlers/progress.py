"""A unit's tables against targets and maxima: what is done, what is short, what is missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from handlers.tables import Question, questions
from storage import entries, roster
from storage.campaign import Campaign
from storage.models import Submission, Unit

if TYPE_CHECKING:
    from sqlmodel import Session

_FEW = 500  # up to this many units, read only their entries; beyond, read the campaign's in one go
_EMPTY = (None, None)


@dataclass
class Line:
    q: Question
    value: float | None
    note: str | None

    @property
    def short_by(self) -> float:
        if self.q.kind != "activity" or self.q.target is None or self.value is None:
            return 0
        return max(0, self.q.target - self.value)


@dataclass
class UnitProgress:
    unit: Unit
    group_name: str
    activities: list[Line]
    scores: list[Line]
    submission: Submission | None = None
    extra: dict = field(default_factory=dict)

    @property
    def missing_activities(self) -> list[Question]:
        return [line.q for line in self.activities if line.value is None]

    @property
    def missing_scores(self) -> list[Question]:
        return [line.q for line in self.scores if line.value is None]

    @property
    def complete(self) -> bool:
        return not self.missing_activities and not self.missing_scores

    @property
    def total(self) -> float:
        return sum(line.value or 0 for line in self.scores)

    @property
    def max_total(self) -> float:
        return sum(line.q.target for line in self.scores)

    @property
    def submitted(self) -> bool:
        return bool(self.submission and self.submission.submitted)

    @property
    def submitted_at(self) -> datetime | None:
        return self.submission.submitted_at if self.submitted else None


def unit_progress(*, session: Session, campaign: Campaign, unit: Unit) -> UnitProgress:
    return all_progress(session=session, campaign=campaign, units=[unit])[0]


def all_progress(*, session: Session, campaign: Campaign, units: list[Unit] | None = None) -> list[UnitProgress]:
    """Progress of many units from three bulk reads, so a city-wide view costs the same as one unit's."""
    codes = None if units is None or len(units) > _FEW else [u.code for u in units]
    units = roster.units(session=session) if units is None else units
    names = {g.id: g.name for g in roster.groups(session=session)}
    acts = entries.values(session=session, kind="activity", campaign_id=campaign.id, unit_codes=codes)
    scores = entries.values(session=session, kind="score", campaign_id=campaign.id, unit_codes=codes)
    one = units[0].code if len(units) == 1 else None  # one unit: read its rows, not the city's
    subs = entries.submissions(session=session, campaign_id=campaign.id, unit_code=one)
    score_qs = questions(campaign, "score", "")
    act_qs = {org: questions(campaign, "activity", org) for org in {u.org_type for u in units}}
    return [
        UnitProgress(
            unit=u,
            group_name=names.get(u.group_id, ""),
            submission=subs.get(u.code),
            activities=[Line(q, *acts.get((u.code, q.key), _EMPTY)) for q in act_qs[u.org_type]],
            scores=[Line(q, *scores.get((u.code, q.key), _EMPTY)) for q in score_qs],
        )
        for u in units
    ]
