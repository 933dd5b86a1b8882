"""The committee's overviews as data: city-wide progress, one liaison group, one unit; for the dashboard and API."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from handlers.audit_view import audit_rows
from handlers.progress import UnitProgress, all_progress, unit_progress
from storage import roster
from storage.calendar import current_phase
from storage.campaign import Campaign
from storage.models import LiaisonGroup

if TYPE_CHECKING:
    from sqlmodel import Session

BINS = 10  # the score distribution: ten equal bands of the table-2 total


class NotFound(LookupError):
    """No such group or unit: the message says which, in Chinese."""


def city(*, session: Session, campaign: Campaign, now: datetime) -> dict:
    rows = all_progress(session=session, campaign=campaign)
    by_group: dict[int, list[UnitProgress]] = {}
    for r in rows:
        by_group.setdefault(r.unit.group_id, []).append(r)
    phase = current_phase(campaign, now)
    return {
        "campaign": {"id": campaign.id, "title": campaign.campaign.title, "year": campaign.campaign.year},
        "phase": phase.phase.name if phase else None,
        **_counts(rows),
        "groups": [_group_summary(g, by_group.get(g.id, [])) for g in roster.groups(session=session)],
        "score_distribution": distribution(rows, campaign.total_points),
    }


def group(*, session: Session, campaign: Campaign, code: str) -> dict:
    found = find_group(session=session, code=code)
    rows = all_progress(session=session, campaign=campaign, units=roster.units(session=session, group_id=found.id))
    officers = roster.liaison_officers(session=session, group_id=found.id)
    return {
        **_group_summary(found, rows),
        "liaison_officers": [{"userid": p.userid, "name": p.name} for p in officers],
        "units": [unit_summary(r, campaign) for r in rows],
    }


def unit(*, session: Session, campaign: Campaign, code: str, audit_limit: int = 100) -> dict:
    found = roster.unit(session=session, code=code.strip().upper())
    if found is None:
        raise NotFound(f"没有单位编码 {code}")
    p = unit_progress(session=session, campaign=campaign, unit=found)
    sub = p.submission
    return {
        **unit_summary(p, campaign),
        "clerks": [{"userid": c.userid, "name": c.name} for c in roster.clerks(session=session, unit_code=found.code)],
        "activities": [_activity(line) for line in p.activities],
        "scores": [_score(line) for line in p.scores],
        "reopened_at": _iso(campaign, sub.reopened_at) if sub else None,
        "audit": audit_rows(session=session, campaign=campaign, unit_code=found.code, limit=audit_limit),
    }


def find_group(*, session: Session, code: str) -> LiaisonGroup:
    """A group by its code (its number in the roster, as in /api/groups/1) or by its name."""
    code = code.strip()
    found = roster.group(session=session, group_id=int(code)) if code.isdigit() and len(code) < 10 else None
    found = found or roster.group_by_name(session=session, name=code)
    if found is None:
        raise NotFound(f"没有联络组 {code}")
    return found


def unit_summary(p: UnitProgress, campaign: Campaign) -> dict:
    filled = [line for line in p.activities if line.value is not None]
    return {
        "code": p.unit.code,
        "name": p.unit.name,
        "org_type": p.unit.org_type,
        "group": p.group_name,
        "group_code": str(p.unit.group_id),
        "activities_filled": len(filled),
        "activities_total": len(p.activities),
        "activities_reached": sum(1 for line in filled if line.short_by == 0),
        "scores_filled": len(p.scores) - len(p.missing_scores),
        "scores_total": len(p.scores),
        "self_score": p.total if len(p.missing_scores) < len(p.scores) else None,
        "max_score": p.max_total,
        "complete": p.complete,
        "submitted": p.submitted,
        "submitted_at": _iso(campaign, p.submitted_at),
    }


def distribution(rows: list[UnitProgress], max_total: float) -> list[dict]:
    """How many units' table-2 totals fall in each tenth of the maximum (units with no score left out)."""
    width = max_total / BINS
    counts = [0] * BINS
    for p in rows:
        if len(p.missing_scores) < len(p.scores):
            counts[min(BINS - 1, int(p.total // width))] += 1
    return [{"from": round(i * width, 1), "to": round((i + 1) * width, 1), "units": n} for i, n in enumerate(counts)]


def _counts(rows: list[UnitProgress]) -> dict:
    cells = sum(len(r.activities) + len(r.scores) for r in rows)
    filled = sum(len(r.activities) - len(r.missing_activities) + len(r.scores) - len(r.missing_scores) for r in rows)
    return {
        "unit_count": len(rows),
        "submitted": sum(r.submitted for r in rows),
        "complete": sum(r.complete for r in rows),
        "filled_percent": round(100 * filled / cells, 1) if cells else 0.0,
    }


def _group_summary(g: LiaisonGroup, rows: list[UnitProgress]) -> dict:
    return {
        "code": str(g.id),
        "name": g.name,
        **_counts(rows),
        "behind": [{"code": r.unit.code, "name": r.unit.name} for r in rows if not r.submitted],
    }


def _activity(line) -> dict:
    return {
        "key": line.q.key,
        "name": line.q.name,
        "target": line.q.target,
        "count": line.value,
        "note": line.note,
        "short_by": line.short_by if line.value is not None else None,
    }


def _score(line) -> dict:
    return {"key": line.q.key, "name": line.q.name, "max": line.q.target, "points": line.value, "note": line.note}


def _iso(campaign: Campaign, moment: datetime | None) -> str | None:
    return campaign.local(moment).isoformat(timespec="seconds") if moment else None
