"""Progress summaries for phones: per unit and per group from plain column reads (4,000 units well under 0.5 s)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from handlers.vote_results import closed_results, recommended
from storage import tallies
from storage.campaign import Campaign
from storage.render import render

if TYPE_CHECKING:
    from sqlmodel import Session

PHONE_BYTES = 2000  # WeCom caps a text message at 2048 bytes; keep a margin


@dataclass
class UnitLine:
    code: str
    name: str
    group: str
    acts_total: int
    scores_total: int
    acts_filled: int = 0
    reached: int = 0  # filled and at or above the target (items without a target count once filled)
    scores_filled: int = 0
    points: float = 0.0
    submitted: bool = False
    clerks: list[str] = field(default_factory=list)

    @property
    def acts_missing(self) -> int:
        return self.acts_total - self.acts_filled

    @property
    def scores_missing(self) -> int:
        return self.scores_total - self.scores_filled

    @property
    def complete(self) -> bool:
        return not self.acts_missing and not self.scores_missing

    @property
    def behind(self) -> int:
        """How far from done, for ordering who is behind: missing items first, then targets not reached."""
        return (self.acts_missing + self.scores_missing) * 100 + (self.acts_filled - self.reached)


@dataclass
class GroupLine:
    name: str
    units: list[UnitLine]

    @property
    def submitted(self) -> int:
        return sum(u.submitted for u in self.units)

    @property
    def mean_points(self) -> float | None:
        done = [u.points for u in self.units if u.scores_filled == u.scores_total]
        return round(sum(done) / len(done), 1) if done else None


def unit_lines(*, session: Session, campaign: Campaign, group_id: int | None = None) -> list[UnitLine]:
    """Every unit's counts from four column reads: no ORM objects, so a city of 4,000 units stays fast."""
    targets = {
        org: {a.key: a.targets.get(org) for a in campaign.activities_for(org)} for org in campaign.campaign.org_types
    }
    lines, applicable = {}, {}
    for code, name, org, group in tallies.units(session=session, group_id=group_id):
        applicable[code] = targets.get(org, {})
        lines[code] = UnitLine(code, name, group, len(applicable[code]), len(campaign.categories))
    _add_entries(session, campaign, lines, applicable)
    for code, submitted in tallies.submitted(session=session, campaign_id=campaign.id):
        if code in lines:
            lines[code].submitted = bool(submitted)
    for name, code in tallies.clerks(session=session):
        if code in lines:
            lines[code].clerks.append(name)
    return list(lines.values())


def _add_entries(session: Session, campaign: Campaign, lines: dict, applicable: dict) -> None:
    for code, key, count in tallies.filled_activities(session=session, campaign_id=campaign.id):
        line, targets = lines.get(code), applicable.get(code, {})
        if line is None or key not in targets:
            continue
        line.acts_filled += 1
        line.reached += targets[key] is None or count >= targets[key]
    for code, points in tallies.filled_scores(session=session, campaign_id=campaign.id):
        if code in lines:
            lines[code].scores_filled += 1
            lines[code].points += points


def groups_of(lines: list[UnitLine]) -> list[GroupLine]:
    """Groups in the order of their first unit code (第一, 第二… as the roster has them)."""
    found: dict[str, list[UnitLine]] = {}
    for line in lines:
        found.setdefault(line.group, []).append(line)
    return [GroupLine(name, units) for name, units in found.items()]


def vote_lines(*, session: Session, campaign: Campaign, group: str | None = None) -> list[dict]:
    """Closed votes in a line each: group, title, recommended names with their votes, turnout."""
    return [
        {"group": v.group, "title": v.title, "eligible": v.eligible, "voted": v.voted,
         "picks": [f"{c.label}（{c.count}票）" for c in recommended(v)]}
        for v in closed_results(session=session, campaign_id=campaign.id)
        if group in (None, v.group)
    ]  # fmt: skip


def fit(template: str, items: list, render_with: Callable[[list, int], dict], limit: int = PHONE_BYTES) -> str:
    """Render with as many of `items` as fit on a phone (binary search); the template says how many it left out."""
    low, high = 0, len(items)
    best = render(template, **render_with(items[:0], len(items)))
    while low <= high:
        middle = (low + high) // 2
        text = render(template, **render_with(items[:middle], len(items) - middle))
        if len(text.encode()) <= limit:
            best, low = text, middle + 1
        else:
            high = middle - 1
    return best
