"""The .docx drafts: a unit's self-check summary (自查总结) and the committee's results announcement (考核结果通报)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from handlers.docx_render import cell_text, render_docx
from handlers.progress import unit_progress
from handlers.results import unit_results
from handlers.vote_results import closed_results, recommended
from storage import roster
from storage.campaign import Campaign
from storage.models import Unit
from storage.render import render

if TYPE_CHECKING:
    from sqlmodel import Session

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Document:
    name: str
    media_type: str
    data: bytes


def self_check_summary(*, session: Session, campaign: Campaign, unit: Unit, now: datetime) -> Document:
    """The unit's draft from what its clerks entered: tables 1 and 2, key work and summary topics, places to write."""
    p = unit_progress(session=session, campaign=campaign, unit=unit)
    filler = "、".join(c.name for c in roster.clerks(session=session, unit_code=unit.code))
    text = render(
        "self_check_summary.docx.txt",
        p=p,
        c=campaign,
        short=[line for line in p.activities if line.short_by],
        filler=filler,
        day=campaign.local(now).date(),
        cell=cell_text,
    )
    title = f"{unit.name}{campaign.campaign.year}年度自查总结"
    return Document(f"{unit.code}-自查总结（草稿）.docx", DOCX, render_docx(text, title=title))


def results_announcement(*, session: Session, campaign: Campaign, now: datetime) -> Document:
    """The committee's draft: units by decided grade, every unit's figures, and each group's recommendations."""
    results = sorted(unit_results(session=session, campaign=campaign), key=lambda r: (-(r.final or -1), r.unit.code))
    grades = [
        {"name": g.name, "units": [r for r in results if r.grade == g.name]}
        for g in sorted(campaign.grades, key=lambda g: -g.min_score)
    ]
    text = render(
        "announcement.docx.txt",
        c=campaign,
        grades=grades,
        ungraded=[r for r in results if r.grade is None],
        results=results,
        recommended=recommendations(session, campaign),
        day=campaign.local(now).date(),
    )
    title = f"{campaign.campaign.year}年度考核结果通报"
    return Document(f"{campaign.campaign.year}年度考核结果通报（草稿）.docx", DOCX, render_docx(text, title=title))


def recommendations(session: Session, campaign: Campaign) -> dict[str, list[dict]]:
    """By vote title (先进基层党组织, 优秀党务干部): each group's recommended names and its turnout."""
    found: dict[str, list[dict]] = {}
    for v in closed_results(session=session, campaign_id=campaign.id):
        line = {"group": v.group, "names": [c.label for c in recommended(v)], "eligible": v.eligible, "voted": v.voted}
        found.setdefault(v.title, []).append(line)
    return found
