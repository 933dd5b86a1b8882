"""Overviews and the administrator's powers: `本组进度`, `全市进度`, `重新开放 单位`."""

from __future__ import annotations

from handlers.base import Turn
from handlers.guards import needs_campaign
from handlers.progress import all_progress
from handlers.router import command
from storage import entries, roster
from storage.calendar import days_left, is_open


@command("本组进度", "组进度", "进度", roles=("liaison",))
@needs_campaign
def group_progress(turn: Turn) -> None:
    units = roster.units(session=turn.session, group_id=turn.person.group_id)
    group = roster.group(session=turn.session, group_id=turn.person.group_id) if turn.person.group_id else None
    rows = all_progress(session=turn.session, campaign=turn.campaign, units=units)
    turn.say(
        "group_progress.txt",
        group=group.name if group else "本组",
        rows=rows,
        days=days_left(turn.campaign, "self_check", turn.now),
    )


@command("全市进度", "进度", "总进度", roles=("admin",))
@needs_campaign
def city_progress(turn: Turn) -> None:
    rows = all_progress(session=turn.session, campaign=turn.campaign)
    by_group: dict[str, list] = {}
    for row in rows:
        by_group.setdefault(row.group_name, []).append(row)
    turn.say(
        "city_progress.txt",
        by_group=by_group,
        total=len(rows),
        submitted=sum(r.submitted for r in rows),
        days=days_left(turn.campaign, "self_check", turn.now),
    )


@command("重新开放", "开放", "解锁", roles=("admin",), prefix=True)
@needs_campaign
def reopen(turn: Turn) -> None:
    arg = turn.text.split(maxsplit=1)[1].strip() if len(turn.text.split(maxsplit=1)) > 1 else ""
    unit = _find_unit(turn, arg)
    if unit is None:
        return turn.say("reopen_unknown.txt", arg=arg)
    if not _is_locked(turn, unit):
        return turn.say("reopen_not_needed.txt", unit=unit)
    entries.set_submitted(
        session=turn.session,
        campaign_id=turn.campaign.id,
        unit_code=unit.code,
        actor=turn.person.userid,
        submitted=False,
        now=turn.now,
    )
    clerks = roster.clerks(session=turn.session, unit_code=unit.code)
    turn.tell([c.userid for c in clerks], "reopened_clerk.txt", by=turn.person.name, unit=unit)
    turn.say("reopened.txt", unit=unit, clerks=[c.name for c in clerks])


def _is_locked(turn: Turn, unit) -> bool:
    sub = entries.submission(session=turn.session, campaign_id=turn.campaign.id, unit_code=unit.code)
    if sub and sub.submitted:
        return True
    return not is_open(turn.campaign, "self_check", turn.now) and not (sub and sub.reopened_at)


def _find_unit(turn: Turn, arg: str):
    if not arg:
        return None
    found = roster.unit(session=turn.session, code=arg.upper())
    if found:
        return found
    matches = [u for u in roster.units(session=turn.session) if arg in u.name]
    return matches[0] if len(matches) == 1 else None
