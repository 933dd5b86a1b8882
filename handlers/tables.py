"""Tables 1 and 2 as questions from the campaign, the rules every answer must pass, and the entry lock."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.base import Turn
from handlers.errors import InputError
from storage import entries, roster
from storage.campaign import Campaign
from storage.render import fmt_number as _n

_UNREAD = object()
MAX_COUNT = 366  # more activities of one kind than days in a year is a typing slip


@dataclass(frozen=True)
class Question:
    kind: str  # activity | score
    key: str
    name: str
    target: float | None  # table 1: the annual target; table 2: the category's maximum
    subitems: int = 0
    parent: str | None = None  # 其中…: may not exceed this activity
    parent_name: str | None = None
    children: tuple[tuple[str, str], ...] = ()  # (key, name) of the activities 其中… of this one

    @property
    def allow_half(self) -> bool:
        return self.kind == "score"

    @property
    def unit_word(self) -> str:
        return "分" if self.kind == "score" else "次"


_BUILT: dict[tuple, tuple[Campaign, object]] = {}


def _per_campaign(campaign: Campaign, key: tuple, build):
    """What `build()` makes of a campaign, made once per campaign object (a frozen model, kept beside
    what was built so that its id is not reused: a reloaded campaign is a new object and gets its own)."""
    found = _BUILT.get((id(campaign), *key))
    if found is None:
        if len(_BUILT) > 256:  # campaigns reloaded many times in one process: start afresh
            _BUILT.clear()
        found = _BUILT[(id(campaign), *key)] = (campaign, build())
    return found[1]


def questions(campaign: Campaign, kind: str, org_type: str) -> tuple[Question, ...]:
    """The questions of a table for an organisation type, built once per campaign. Read-only for the caller."""
    return _per_campaign(campaign, (kind, org_type), lambda: tuple(_questions(campaign, kind, org_type)))


def _questions(campaign: Campaign, kind: str, org_type: str) -> list[Question]:
    if kind == "activity":
        names = {a.key: a.name for a in campaign.activities}
        return [
            Question(
                "activity",
                a.key,
                a.name,
                a.targets.get(org_type),
                parent=a.at_most,
                parent_name=names.get(a.at_most),
                children=tuple((c.key, c.name) for c in campaign.activities if c.at_most == a.key),
            )
            for a in campaign.activities_for(org_type)
        ]
    return [Question("score", c.key, c.name, c.points, subitems=c.subitems) for c in campaign.categories]


def question(campaign: Campaign, kind: str, key: str, org_type: str) -> Question | None:
    return next((q for q in questions(campaign, kind, org_type) if q.key == key), None)


def current(turn: Turn, kind: str) -> dict:
    """The unit's entries of this kind, read once per turn and kept up to date by the turn's own writes."""
    return entries.unit_entries(session=turn.session, kind=kind, campaign_id=turn.campaign.id, unit_code=turn.unit.code)


def entry(turn: Turn, kind: str, key: str):
    """One of the unit's entries (or None), from what this turn read, else read now."""
    unit = turn.unit.code
    return entries.unit_entry(session=turn.session, kind=kind, campaign_id=turn.campaign.id, unit_code=unit, key=key)


def lock_and_read(turn: Turn, qs: tuple[Question, ...], i: int | None = None) -> str | None:
    """lock_reason, with what a step at question i looks at read in the same go (one round trip on
    PostgreSQL): the questions before, at and after it and what its 其中 rule compares; the whole table
    at the last question (the end names what is missing) or when i is None (a form's opening)."""
    keys = None
    if i is not None and i + 1 < len(qs):
        q = qs[i]
        keys = [qs[max(i - 1, 0)].key, q.key, qs[i + 1].key, *(k for k, _ in q.children)]
        if q.parent:
            keys.append(q.parent)
    state = entries.read_with_submission(
        session=turn.session, kind=qs[0].kind, campaign_id=turn.campaign.id, unit_code=turn.unit.code, keys=keys
    )
    return lock_reason(turn, state)


def check(turn: Turn, q: Question, value, pending: dict | None = None) -> None:
    """Raise InputError when `value` cannot be saved for `q`; `pending` holds other values about to be
    saved with it (a sentence naming both 领导上党课 and 其中主要领导上党课)."""
    if value < 0:
        raise InputError("不能是负数")
    if q.kind == "score":
        if value > q.target:
            raise InputError(f"{q.name}满分 {_n(q.target)} 分，不能填 {_n(value)} 分")
        return
    if value > MAX_COUNT:
        raise InputError(f"一年最多 {MAX_COUNT} 天，{_n(value)} 次不太可能，请核对")
    _check_of_which(turn, q, value, pending or {})


def _check_of_which(turn: Turn, q: Question, value, pending: dict) -> None:
    """其中…: not more than its parent's count, not less than any of its own 其中's (pending ones first)."""
    if q.parent:
        parent = _count(turn, q.parent, pending)
        if parent is not None and value > parent:
            raise InputError(f"{q.name}不能多于{q.parent_name}（{q.parent_name}填的是 {_n(parent)} 次）")
    for key, name in q.children:
        child = _count(turn, key, pending)
        if child is not None and value < child:
            raise InputError(f"{q.name}不能少于{name}（已填 {_n(child)} 次）")


def _count(turn: Turn, key: str, pending: dict):
    if key in pending:
        return pending[key]
    found = entry(turn, "activity", key)
    return None if found is None else found.count


def implausible(campaign: Campaign, q: Question, value) -> bool:
    """A count so far beyond its annual target (the campaign's `checks.confirm_over_target` times it)
    that it is more likely a slip than a year's work: asked about, never refused."""
    factor = campaign.checks.confirm_over_target
    return q.kind == "activity" and bool(q.target) and value > q.target * factor


def not_applicable(turn: Turn, key: str) -> str | None:
    """Why an activity does not apply to this unit, or None when it does."""
    activity = turn.campaign.activity(key)
    if activity.applies_to(turn.unit.org_type):
        return None
    return f"{activity.name}只适用于{'、'.join(activity.targets)}单位，本单位是{turn.unit.org_type}"


def lock_reason(turn: Turn, sub=_UNREAD) -> str | None:
    """Why this unit's entries cannot be changed now, with who can reopen them; None when they can.
    `sub`: the unit's submission state (entries.submission_state), when it was read already."""
    if sub is _UNREAD:
        sub = entries.submission_state(session=turn.session, campaign_id=turn.campaign.id, unit_code=turn.unit.code)
    if sub and sub.submitted:
        return f"本单位已于 {turn.campaign.local(sub.submitted_at):%m月%d日 %H:%M} 提交自查，填报已锁定。如需修改，请联系{_admins(turn)}重新开放。"
    if turn.now >= _self_check_end(turn.campaign) and not (sub and sub.reopened_at):
        return f"自查阶段已于 {turn.campaign.phase('self_check').end:%m月%d日} 结束，填报已锁定。如需修改，请联系{_admins(turn)}重新开放。"
    return None


def _self_check_end(campaign: Campaign):
    return _per_campaign(campaign, ("self_check_end",), lambda: campaign.phase_bounds("self_check")[1])


def _admins(turn: Turn) -> str:
    people = turn.roster.admins(turn.session) if turn.roster else roster.admins(session=turn.session)
    return "、".join(p.name for p in people) or "市直工委管理员"
