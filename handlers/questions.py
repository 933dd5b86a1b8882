"""Questions people ask in their own words, answered from the campaign and the roster: deadlines, what is
missing, how to correct an entry, who the liaison officer is."""

from __future__ import annotations

from handlers import admin, tables
from handlers.base import Turn
from handlers.guards import clerk_ready, needs_campaign
from handlers.progress import unit_progress
from handlers.router import question
from storage import roster
from storage.calendar import SUB_PHASES, current_phase, days_left, window

DEADLINE = r"截止|截至|期限|最后一天|deadline|什么时候(结束|交|提交|报|之前|前)|几号|哪天|还有几天|剩几天|多久"
MISSING = r"还差|还缺|还有(什么|哪些|哪几|几)|缺(什么|哪|几)|差(什么|哪|几)|没填(什么|哪)|漏了|没填完"
MISTAKE = r"填错|写错|输错|弄错|搞错|报错|填的不对|(怎么|如何|怎样|能不能|可以)(修改|改)"
WHO = r"联络员|联系人|找谁|问谁|管理员是谁|谁负责"


@question(DEADLINE)
@needs_campaign
def deadline(turn: Turn) -> None:
    phases = [window(turn.campaign, key) for key in SUB_PHASES if key in {p.key for p in turn.campaign.phases}]
    now = current_phase(turn.campaign, turn.now)
    turn.say(
        "answer_deadline.txt",
        phases=phases,
        current=now.phase.key if now else None,
        today=turn.campaign.local(turn.now),
        days=days_left(turn.campaign, "self_check", turn.now),
        self_check=turn.campaign.phase("self_check"),
        locked=_locked(turn),
    )


@question(MISSING, roles=("clerk",))
@clerk_ready
def missing(turn: Turn) -> None:
    p = unit_progress(session=turn.session, campaign=turn.campaign, unit=turn.unit)
    short = [line for line in p.activities if line.short_by > 0]
    days = days_left(turn.campaign, "self_check", turn.now)
    turn.say("answer_missing.txt", p=p, short=short, days=days, phase=turn.campaign.phase("self_check"))


question(MISSING, roles=("liaison",))(admin.group_progress)
question(MISSING, roles=("admin",))(admin.city_progress)


@question(MISTAKE, roles=("clerk",))
@clerk_ready
def mistake(turn: Turn) -> None:
    turn.say("answer_mistake.txt", locked=tables.lock_reason(turn))


@question(WHO)
def who(turn: Turn) -> None:
    groups = []
    for group in roster.groups(session=turn.session):
        if turn.person.role == "admin" or group.id == _group_id(turn):
            officers = roster.liaison_officers(session=turn.session, group_id=group.id)
            groups.append({"name": group.name, "officers": [o.name for o in officers]})
    admins = [a.name for a in roster.admins(session=turn.session)]
    turn.say("answer_who.txt", role=turn.person.role, groups=groups, admins=admins, unit=turn.unit)


def _group_id(turn: Turn) -> int | None:
    return turn.unit.group_id if turn.unit else turn.person.group_id


def _locked(turn: Turn) -> str | None:
    if turn.person.role != "clerk" or turn.unit is None:
        return None
    return tables.lock_reason(turn)
