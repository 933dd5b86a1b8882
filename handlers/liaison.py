"""A liaison officer's group: `查看 U03` shows one unit's tables, `催办` nudges the units that are behind."""

from __future__ import annotations

from handlers.base import Turn
from handlers.guards import needs_campaign
from handlers.progress import all_progress, unit_progress
from handlers.router import command
from handlers.words import normalise_command
from storage import nudges, roster
from storage.calendar import days_left, is_open

VIEW = ("查看单位", "查看")


@command(*VIEW, roles=("liaison", "admin"), prefix=True)
@needs_campaign
def show_unit(turn: Turn) -> None:
    word = normalise_command(turn.text)
    arg = next(word[len(p) :] for p in VIEW if word.startswith(p)).strip()
    unit = find_unit(turn, arg)
    mine = _my_units(turn)
    if unit is None or (mine is not None and unit.code not in {u.code for u in mine}):
        return turn.say("unit_unknown.txt", arg=arg, found=unit, mine=mine)
    p = unit_progress(session=turn.session, campaign=turn.campaign, unit=unit)
    clerks = [c.name for c in roster.clerks(session=turn.session, unit_code=unit.code)]
    submitted_at = turn.campaign.local(p.submitted_at) if p.submitted_at else None
    turn.say("unit_tables.txt", p=p, clerks=clerks, submitted_at=submitted_at)


@command("催办", "催一下", "提醒填报", "催促", roles=("liaison",))
@needs_campaign
def nudge(turn: Turn) -> None:
    phase = turn.campaign.phase("self_check")
    if not is_open(turn.campaign, "self_check", turn.now):
        return turn.say("nudge_closed.txt", phase=phase)
    units = _my_units(turn) or []
    behind = [p for p in all_progress(session=turn.session, campaign=turn.campaign, units=units) if not p.submitted]
    day = turn.campaign.local(turn.now).date().isoformat()
    earlier = nudges.on_day(session=turn.session, campaign_id=turn.campaign.id, day=day)
    sent, already, nobody = [], [], []
    days = days_left(turn.campaign, "self_check", turn.now)
    for p in behind:
        clerks = roster.clerks(session=turn.session, unit_code=p.unit.code)
        if p.unit.code in earlier:
            already.append((p, _name(turn, earlier[p.unit.code].by)))
        elif not clerks:
            nobody.append(p)
        elif _claim(turn, p, day, clerks):
            turn.tell([c.userid for c in clerks], "nudge_clerk.txt", p=p, by=turn.person.name, phase=phase, days=days)
            sent.append((p, [c.name for c in clerks]))
        else:
            already.append((p, ""))
    turn.say("nudge_report.txt", total=len(units), behind=behind, sent=sent, already=already, nobody=nobody)


def _claim(turn: Turn, p, day: str, clerks) -> bool:
    return nudges.claim(
        session=turn.session,
        campaign_id=turn.campaign.id,
        unit_code=p.unit.code,
        day=day,
        by=turn.person.userid,
        recipients=[c.userid for c in clerks],
        now=turn.now,
    )


def _my_units(turn: Turn):
    """The units this person may look at: a liaison officer's group; None (all) for an administrator."""
    if turn.person.role == "admin":
        return None
    if turn.person.group_id is None:
        return []
    return roster.units(session=turn.session, group_id=turn.person.group_id)


def find_unit(turn: Turn, arg: str):
    """A unit by code (u03 too) or by a part of its name that fits one unit only."""
    if not arg:
        return None
    found = roster.unit(session=turn.session, code=arg.upper())
    if found:
        return found
    matches = [u for u in roster.units(session=turn.session) if arg in u.name]
    return matches[0] if len(matches) == 1 else None


def _name(turn: Turn, userid: str) -> str:
    person = roster.person(session=turn.session, userid=userid)
    return person.name if person else userid
