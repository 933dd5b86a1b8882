"""Who a reminder goes to and what each person reads: one function per audience, registered by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlmodel import Session

from handlers.progress import UnitProgress, all_progress
from storage import roster, votes
from storage.calendar import days_left
from storage.campaign import Campaign, Phase, Reminder
from storage.render import render
from storage.secrecy import Keyring
from storage.times import shown

LISTED = 10  # units or groups named in one message before "and N more": WeCom's text limit is 2048 bytes


@dataclass(frozen=True)
class Letter:
    text: str
    userids: list[str]


@dataclass
class Occasion:
    """One reminder at one moment, with what its audiences share, each read once."""

    session: Session
    campaign: Campaign
    reminder: Reminder
    now: datetime
    keyring: Keyring | None = None  # voters_not_voted needs it to tell who has voted
    _texts: dict = field(default_factory=dict)

    @cached_property
    def progress(self) -> list[UnitProgress]:
        return all_progress(session=self.session, campaign=self.campaign)

    @cached_property
    def phase(self) -> Phase:
        return self.campaign.phase(self.reminder.about)

    def render(self, template: str, **values) -> str:
        """Render with the phase, its dates, days left and the campaign's title."""
        days = days_left(self.campaign, self.phase.key, self.now)
        return render(template, phase=self.phase, days=days, title=self.campaign.campaign.title, **values)

    def people(self, role: str) -> list[tuple[str, str | None, int | None]]:
        return roster.active_people(session=self.session, role=role)


AUDIENCES: dict[str, Callable[[Occasion], list[Letter]]] = {}


def audience(name: str):
    def register(fn: Callable[[Occasion], list[Letter]]):
        AUDIENCES[name] = fn
        return fn

    return register


def select_audience(
    session: Session, campaign: Campaign, reminder: Reminder, now: datetime, keyring: Keyring | None = None
) -> list[Letter]:
    """Everyone the reminder is for at `now`, each with their text; reads only, never writes."""
    return AUDIENCES[reminder.audience](Occasion(session, campaign, reminder, now, keyring))


def _by(rows, index: int) -> dict:
    grouped: dict = {}
    for row in rows:
        if row[index] is not None:
            grouped.setdefault(row[index], []).append(row[0])
    return grouped


@audience("clerks_not_submitted")
def clerks_not_submitted(o: Occasion) -> list[Letter]:
    """Clerks of units that have not submitted, told what their unit still lacks."""
    clerks = _by(o.people("clerk"), 1)
    return [
        Letter(_clerk_text(o, p), clerks[p.unit.code]) for p in o.progress if not p.submitted and p.unit.code in clerks
    ]


def _clerk_text(o: Occasion, p: UnitProgress) -> str:
    # No unit name: units lacking the same items share one text, so one message/send reaches them all,
    # and that text is rendered once.
    missing = (tuple(q.name for q in p.missing_activities), tuple(q.name for q in p.missing_scores))
    if missing not in o._texts:
        o._texts[missing] = o.render("reminder_clerk.txt", activities=missing[0], scores=missing[1])
    return o._texts[missing]


@audience("clerks_all")
def clerks_all(o: Occasion) -> list[Letter]:
    userids = [row[0] for row in o.people("clerk")]
    return [Letter(o.render("reminder_clerk_all.txt"), userids)] if userids else []


@audience("liaison_officers")
def liaison_officers(o: Occasion) -> list[Letter]:
    """Each officer, told which of the group's units are behind."""
    rows: dict[int, list[UnitProgress]] = {}
    for p in o.progress:
        rows.setdefault(p.unit.group_id, []).append(p)
    letters = []
    for group_id, userids in _by(o.people("liaison"), 2).items():
        group = rows.get(group_id, [])
        name = group[0].group_name if group else ""
        behind = [p for p in group if not p.submitted]
        text = o.render("reminder_liaison.txt", group=name, total=len(group), behind=behind, listed=LISTED)
        letters.append(Letter(text, userids))
    return letters


@audience("voters_not_voted")
def voters_not_voted(o: Occasion) -> list[Letter]:
    """Exactly the voters without a ballot in each vote open at `now`, told the vote and its closing time.
    Without the service's key nobody can tell who has voted, so nobody is selected."""
    if o.keyring is None:
        return []
    letters = []
    groups = {g.id: g.name for g in roster.groups(session=o.session)}
    for vote in votes.votes(session=o.session, campaign_id=o.campaign.id, status="open"):
        if vote.closes_at <= o.now:
            continue
        missing = votes.not_voted(session=o.session, vote=vote, keyring=o.keyring)
        userids = sorted({u for voter in missing for u in voter.userids})
        if userids:
            text = o.render(
                "reminder_voter.txt",
                group=groups.get(vote.group_id, ""),
                vote_title=vote.title,
                closes=shown(o.campaign.local(vote.closes_at)),
            )
            letters.append(Letter(text, userids))
    return letters


@audience("admins")
def admins(o: Occasion) -> list[Letter]:
    """The administrators, with the city-wide picture."""
    userids = [row[0] for row in o.people("admin")]
    if not userids:
        return []
    groups: dict[str, list[UnitProgress]] = {}
    for p in o.progress:
        groups.setdefault(p.group_name, []).append(p)
    text = o.render(
        "reminder_admin.txt",
        submitted=sum(p.submitted for p in o.progress),
        total=len(o.progress),
        groups=[_group_line(name, rows) for name, rows in groups.items()],
        listed=LISTED,
    )
    return [Letter(text, userids)]


def _group_line(name: str, rows: list[UnitProgress]) -> dict:
    behind = [p.unit.name for p in rows if not p.submitted]
    return {"name": name, "total": len(rows), "submitted": len(rows) - len(behind), "behind": behind}
