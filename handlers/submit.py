"""`进度` shows a unit's tables against targets; `提交` reads everything back and submits the self-check."""

from __future__ import annotations

from handlers import tables
from handlers.base import Turn
from handlers.guards import clerk_ready
from handlers.progress import unit_progress
from handlers.router import command, flow
from handlers.words import CONFIRM_TTL, NO, YES, normalise_command
from storage import entries, roster
from storage.calendar import days_left


@command("进度", "查看进度", "看看进度", "完成情况", "查询", "查看", roles=("clerk",))
@clerk_ready
def show_progress(turn: Turn) -> None:
    p = unit_progress(session=turn.session, campaign=turn.campaign, unit=turn.unit)
    phase = turn.campaign.phase("self_check")
    turn.say(
        "progress.txt",
        p=p,
        phase=phase,
        days=days_left(turn.campaign, "self_check", turn.now),
    )


@command("提交", "提交自查", "上报", "交表", roles=("clerk",))
@clerk_ready
def begin_submit(turn: Turn) -> None:
    reason = tables.lock_reason(turn)
    if reason:
        return turn.say("locked.txt", reason=reason)
    p = unit_progress(session=turn.session, campaign=turn.campaign, unit=turn.unit)
    if not p.complete:
        turn.leave()
        return turn.say("submit_incomplete.txt", p=p)
    turn.enter("submit", seen={**_versions(turn, "activity"), **_versions(turn, "score")})
    turn.say("submit_readback.txt", p=p)


@flow("submit", expires=CONFIRM_TTL)
@clerk_ready
def confirm_submit(turn: Turn) -> None:
    word = normalise_command(turn.text)
    if word in NO:
        turn.leave()
        return turn.say("submit_not_yet.txt")
    if word not in YES:
        return turn.say("confirm_again.txt", what="提交")
    if tables.lock_reason(turn):
        turn.leave()
        return turn.say("locked.txt", reason=tables.lock_reason(turn))
    if {**_versions(turn, "activity"), **_versions(turn, "score")} != turn.state.data["seen"]:
        turn.leave()
        return turn.say("submit_changed.txt")
    _submit(turn)


def _submit(turn: Turn) -> None:
    turn.leave()
    entries.set_submitted(
        session=turn.session,
        campaign_id=turn.campaign.id,
        unit_code=turn.unit.code,
        actor=turn.person.userid,
        submitted=True,
        now=turn.now,
    )
    p = unit_progress(session=turn.session, campaign=turn.campaign, unit=turn.unit)
    # 附件1 说明: the tables go in two copies, to the committee and to the group's liaison officer.
    liaison = roster.liaison_officers(session=turn.session, group_id=turn.unit.group_id)
    admins = roster.admins(session=turn.session)
    turn.tell([x.userid for x in liaison + admins], "submitted_copy.txt", p=p, by=turn.person.name)
    others = [
        c.userid
        for c in roster.clerks(session=turn.session, unit_code=turn.unit.code)
        if c.userid != turn.person.userid
    ]
    turn.tell(others, "submitted_colleague.txt", by=turn.person.name)
    turn.say("submitted.txt", p=p, liaison=[x.name for x in liaison])


def _versions(turn: Turn, kind: str) -> dict[str, int]:
    found = entries.versions(session=turn.session, kind=kind, campaign_id=turn.campaign.id, unit_code=turn.unit.code)
    return {f"{kind}:{k}": v for k, v in found.items()}
