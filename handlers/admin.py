"""Overviews and the administrator's powers: `本组进度`, `全市进度`, `重新开放 单位`."""

from __future__ import annotations

from handlers.base import Reply, Turn
from handlers.guards import needs_campaign
from handlers.router import command
from handlers.summaries import fit, groups_of, unit_lines, vote_lines
from storage import entries, roster
from storage.calendar import days_left, is_open

BEHIND_SHOWN = 5  # the units furthest behind, named in the city-wide overview


@command("本组进度", "组进度", "进度", roles=("liaison",))
@needs_campaign
def group_progress(turn: Turn) -> None:
    group = roster.group(session=turn.session, group_id=turn.person.group_id) if turn.person.group_id else None
    if group is None:
        return turn.say("no_group.txt", name=turn.person.name)
    lines = unit_lines(session=turn.session, campaign=turn.campaign, group_id=group.id)
    votes = vote_lines(session=turn.session, campaign=turn.campaign, group=group.name)
    days = days_left(turn.campaign, "self_check", turn.now)
    ordered = sorted(lines, key=lambda u: (u.submitted, -u.behind, u.code))
    turn.replies.append(
        Reply(
            fit(
                "group_progress.txt",
                ordered,
                lambda shown, hidden: {
                    **group_figures(group.name, lines, days, votes),
                    "shown": shown,
                    "hidden": hidden,
                },
            )
        )
    )


@command("全市进度", "进度", "总进度", roles=("admin",), heavy=True)
@needs_campaign
def city_progress(turn: Turn) -> None:
    lines = unit_lines(session=turn.session, campaign=turn.campaign)
    groups = groups_of(lines)
    behind = sorted((u for u in lines if not u.complete), key=lambda u: (-u.behind, u.code))[:BEHIND_SHOWN]
    values = {
        **group_figures("全市", lines, days_left(turn.campaign, "self_check", turn.now), []),
        "behind": behind,
        "votes": vote_totals(vote_lines(session=turn.session, campaign=turn.campaign)),
    }
    turn.replies.append(
        Reply(fit("city_progress.txt", groups, lambda shown, hidden: {**values, "groups": shown, "hidden": hidden}))
    )


def group_figures(name: str, lines, days: int, votes: list) -> dict:
    """What both overviews say first: submitted, table 1 filled and reached against expected, table 2 mean."""
    scored = [u.points for u in lines if u.scores_filled == u.scores_total]
    return {
        "name": name,
        "total": len(lines),
        "submitted": sum(u.submitted for u in lines),
        "acts": sum(u.acts_total for u in lines),
        "filled": sum(u.acts_filled for u in lines),
        "reached": sum(u.reached for u in lines),
        "scored": len(scored),
        "mean": round(sum(scored) / len(scored), 1) if scored else None,
        "days": days,
        "votes": votes,
    }


def vote_totals(votes: list[dict]) -> dict[str, dict]:
    """By vote title: how many groups closed it and how many it recommended in all."""
    totals: dict[str, dict] = {}
    for v in votes:
        t = totals.setdefault(v["title"], {"groups": 0, "picks": 0})
        t["groups"] += 1
        t["picks"] += len(v["picks"])
    return totals


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
