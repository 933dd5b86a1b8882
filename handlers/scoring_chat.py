"""Scoring by chat: the clerk's `加分`, the administrator's `加分审核`, `批准`, `不批准`, `复核`, `评定`, `成绩`."""

from __future__ import annotations

import re
import unicodedata

from handlers import scoring
from handlers.base import Turn
from handlers.errors import InputError
from handlers.guards import clerk_ready, needs_campaign
from handlers.numerals import parse_number
from handlers.router import command, flow
from handlers.words import CONFIRM_TTL
from storage import roster
from storage.campaign import Campaign, Category

_TRAILING_POINTS = re.compile(r"^(?P<title>.+?)(?P<points>\d+(?:\.\d+)?|[零一二两三四五六七八九十半]+)分?$")
USAGE = {
    "bonus": "加分 市级表彰 5 依据（如：加分 市级表彰 5 2013年被评为市级文明单位）",
    "decide": "批准 1（可加理由）或 不批准 1 理由",
    "review": "复核 U01 组织建设 170 理由",
    "grade": "评定 U01 较好 理由",
    "result": "成绩 U01",
}


def points_of(text: str) -> float:
    """5, 5分, 2.5, 五, 两分半: a bonus or a reviewed score."""
    plain = unicodedata.normalize("NFKC", text).strip().removesuffix("分")
    try:
        return float(plain)
    except ValueError:
        return float(parse_number(plain, allow_half=True))


def args(turn: Turn, most: int) -> list[str]:
    """The words after the keyword; the last keeps its spaces (a reason may have several words)."""
    return unicodedata.normalize("NFKC", turn.text).split(maxsplit=most)[1:]


def refuse(turn: Turn, reason: str, usage: str) -> None:
    turn.say("scoring_refused.txt", reason=reason, usage=USAGE[usage])


# ---- the clerk: 加分 ----


@command("加分", "申报加分", roles=("clerk",), prefix=True)
@clerk_ready
def declare(turn: Turn) -> None:
    words = args(turn, 3)
    if len(words) == 1 and (m := _TRAILING_POINTS.match(words[0])):
        words = [m["title"], m["points"]]
    if len(words) < 2:
        return refuse(turn, "请写明加分事由和分值", "bonus")
    try:
        points = points_of(words[1])
    except (InputError, ValueError):
        return refuse(turn, f"分值「{words[1]}」不是数字", "bonus")
    if len(words) == 2:
        turn.enter("bonus_reason", title=words[0], points=points)
        return turn.say("bonus_ask_reason.txt", title=words[0], points=points)
    _declare(turn, words[0], points, words[2])


@flow("bonus_reason", expires=CONFIRM_TTL)
@clerk_ready
def bonus_reason(turn: Turn) -> None:
    data = turn.state.data
    turn.leave()
    _declare(turn, data["title"], data["points"], turn.text)


def _declare(turn: Turn, title: str, points: float, reason: str) -> None:
    try:
        item = scoring.declare_bonus(
            session=turn.session,
            campaign=turn.campaign,
            unit_code=turn.unit.code,
            title=title,
            points=points,
            reason=reason,
            actor=turn.person.userid,
            now=turn.now,
        )
    except InputError as exc:
        return refuse(turn, exc.reason, "bonus")
    admins = roster.admins(session=turn.session)
    turn.tell([a.userid for a in admins], "bonus_new_admin.txt", item=item, unit=turn.unit, by=turn.person.name)
    turn.say("bonus_declared.txt", item=item)


# ---- the administrator ----


@command("加分审核", "审核加分", "加分申报", roles=("admin",))
@needs_campaign
def pending(turn: Turn) -> None:
    items = scoring.pending_bonus(session=turn.session, campaign=turn.campaign)
    units = {u.code: u for u in roster.units(session=turn.session)}
    turn.say("bonus_pending.txt", items=items, units=units)


@command("批准", roles=("admin",), prefix=True)
@needs_campaign
def approve(turn: Turn) -> None:
    _decide(turn, approve=True)


@command("不批准", "驳回", roles=("admin",), prefix=True)
@needs_campaign
def refuse_bonus(turn: Turn) -> None:
    _decide(turn, approve=False)


def _decide(turn: Turn, approve: bool) -> None:
    words = args(turn, 2)
    number = words[0].lstrip("#第").rstrip("号") if words else ""
    if not number.isdigit() or int(number) >= 2**31:
        return refuse(turn, "请写明申报编号（「加分审核」列出的号码）", "decide")
    try:
        item = scoring.decide_bonus(
            session=turn.session,
            campaign=turn.campaign,
            item_id=int(number),
            approve=approve,
            reason=words[1] if len(words) > 1 else None,
            actor=turn.person.userid,
            now=turn.now,
        )
    except InputError as exc:
        return refuse(turn, exc.reason, "decide")
    unit = roster.unit(session=turn.session, code=item.unit_code)
    clerks = roster.clerks(session=turn.session, unit_code=item.unit_code)
    turn.tell([c.userid for c in clerks], "bonus_decision_clerk.txt", item=item, by=turn.person.name)
    turn.say("bonus_decided.txt", item=item, unit=unit)


@command("复核", "复核分", roles=("admin",), prefix=True)
@needs_campaign
def review(turn: Turn) -> None:
    words = args(turn, 4)
    if len(words) < 3:
        return refuse(turn, "请写明单位、类别和复核分", "review")
    category = find_category(turn.campaign, words[1])
    if category is None:
        return refuse(turn, f"表二没有「{words[1]}」这一类", "review")
    try:
        points = points_of(words[2])
    except (InputError, ValueError):
        return refuse(turn, f"复核分「{words[2]}」不是数字", "review")
    try:
        row = scoring.set_reviewed_score(
            session=turn.session,
            campaign=turn.campaign,
            unit_code=words[0],
            key=category.key,
            points=points,
            reason=words[3] if len(words) > 3 else "",
            actor=turn.person.userid,
            now=turn.now,
        )
    except InputError as exc:
        return refuse(turn, exc.reason, "review")
    _show(turn, row.unit_code, "reviewed_set.txt", category=category, row=row)


@command("评定", "评定等次", roles=("admin",), prefix=True)
@needs_campaign
def grade(turn: Turn) -> None:
    words = args(turn, 3)
    if len(words) < 2:
        return refuse(turn, "请写明单位和等次", "grade")
    try:
        row = scoring.override_grade(
            session=turn.session,
            campaign=turn.campaign,
            unit_code=words[0],
            grade=words[1],
            reason=words[2] if len(words) > 2 else "",
            actor=turn.person.userid,
            now=turn.now,
        )
    except InputError as exc:
        return refuse(turn, exc.reason, "grade")
    _show(turn, row.unit_code, "grade_set.txt", row=row)


@command("成绩", "查成绩", "考核成绩", roles=("admin",), prefix=True)
@needs_campaign
def result(turn: Turn) -> None:
    words = args(turn, 1)
    unit = roster.unit(session=turn.session, code=words[0].upper()) if words else None
    if unit is None:
        return refuse(turn, f"没有编码为「{words[0] if words else ''}」的单位", "result")
    _show(turn, unit.code, None)


def _show(turn: Turn, code: str, template: str | None, **values) -> None:
    unit = roster.unit(session=turn.session, code=code)
    r = scoring.unit_result(session=turn.session, campaign=turn.campaign, unit=unit)
    if template:
        turn.say(template, unit=unit, **values)
    turn.say("unit_result.txt", **result_values(turn.session, turn.campaign, r))


def result_values(session, campaign: Campaign, r) -> dict:
    """What unit_result.txt needs: the result, who is who, local times and the weighting line."""
    names = {p.userid: p.name for p in roster.people(session=session, role="admin", inactive=True)}
    return {
        "r": r,
        "c": campaign,
        "names": names,
        "at": lambda moment: f"{campaign.local(moment):%m-%d %H:%M}",
        "formula": scoring.weighting_line(campaign),
    }


def find_category(campaign: Campaign, word: str) -> Category | None:
    """组织建设, 三、组织建设, an alias or the key; a unique part of a name (党风廉政) too."""
    exact = [c for c in campaign.categories if word in (c.key, c.name, c.name.split("、", 1)[-1], *c.aliases)]
    if exact:
        return exact[0]
    partial = [c for c in campaign.categories if word and word in c.name]
    return partial[0] if len(partial) == 1 else None
