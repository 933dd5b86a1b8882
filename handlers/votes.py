"""The liaison officer's side of 民主推荐: bind the group chat, 发起推荐, 提名, 结束投票, 投票结果."""

from __future__ import annotations

import functools

from handlers.base import Turn
from handlers.guards import needs_campaign
from handlers.router import before, command
from handlers.vote_cards import announce
from handlers.vote_closing import close_vote, turnout_view
from handlers.vote_words import VoteRefusal, parse_nomination, parse_open
from storage import roster, votes
from storage.models import LiaisonGroup, Vote
from storage.secrecy import SealBroken

ALL = ("clerk", "liaison", "admin")


def refusals(handler):
    """A refused action says why, in Chinese; handlers check everything before they write, so it records nothing."""

    @functools.wraps(handler)
    def guarded(turn: Turn) -> None:
        try:
            handler(turn)
        except VoteRefusal as exc:
            turn.say("vote_refused.txt", code=exc.code, **exc.values)
        except SealBroken:
            turn.say("vote_refused.txt", code="seal_broken")

    return guarded


def arguments(turn: Turn) -> str:
    parts = turn.text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


@before
def bind_group_chat(turn: Turn) -> None:
    """A liaison officer's first words to the bot in a group chat make it the group's chat."""
    chat_id = turn.inbound.chat_id
    if not chat_id or turn.person.role != "liaison" or not turn.person.group_id:
        return
    group = roster.group(session=turn.session, group_id=turn.person.group_id)
    if group is None or group.chat_id or roster_chat_owner(turn, chat_id):
        return
    group.chat_id = chat_id
    turn.session.add(group)
    turn.say("group_chat_bound.txt", group=group.name, rebound=False)


def roster_chat_owner(turn: Turn, chat_id: str) -> LiaisonGroup | None:
    return next((g for g in roster.groups(session=turn.session) if g.chat_id == chat_id), None)


def officer_group(turn: Turn, words: str, action: str) -> LiaisonGroup:
    """The group this officer acts for; an administrator names it (or speaks in its chat); others are refused."""
    if turn.person.role == "liaison" and turn.person.group_id:
        return roster.group(session=turn.session, group_id=turn.person.group_id)
    if turn.person.role == "admin":
        named = [g for g in roster.groups(session=turn.session) if g.name in words]
        chat = roster_chat_owner(turn, turn.inbound.chat_id) if turn.inbound.chat_id else None
        if named or chat:
            return named[0] if named else chat
        raise VoteRefusal("need_group", groups=[g.name for g in roster.groups(session=turn.session)])
    group_id = turn.unit.group_id if turn.unit else None
    officers = roster.liaison_officers(session=turn.session, group_id=group_id) if group_id else []
    raise VoteRefusal("not_officer", action=action, officers=[p.name for p in officers])


@command("发起推荐", "发起投票", roles=ALL)
@command("发起推荐", "发起投票", roles=ALL, prefix=True)
@needs_campaign
@refusals
def open_recommendation(turn: Turn) -> None:
    request = parse_open(arguments(turn), turn.campaign, turn.now)
    group = officer_group(turn, request.rest, "发起推荐")
    rec = request.recommendation
    vote = votes.current(session=turn.session, campaign_id=turn.campaign.id, group_id=group.id, kind=rec.key)
    if vote is not None and vote.status == "open":
        raise VoteRefusal("already_open", title=rec.name, group=group.name)
    units = roster.units(session=turn.session, group_id=group.id)
    existing = votes.candidates(session=turn.session, vote_id=vote.id) if vote else []
    count = len(units) if rec.candidates == "units_of_group" and not existing else len(existing)
    if not count:
        raise VoteRefusal("no_nominees", title=rec.name)
    limit = request.max_choices or rec.max_choices
    if not 1 <= limit <= count:
        raise VoteRefusal("bad_limit", limit=limit, count=count)
    closes_at = request.closes_at or _default_close(turn)
    if closes_at <= turn.now:
        raise VoteRefusal("close_past", at=turn.campaign.local(closes_at))
    # Every check is above: a refusal writes nothing.
    vote = vote or _draft(turn, group, rec)
    if rec.candidates == "units_of_group" and not existing:
        for unit in units:
            votes.add_candidate(session=turn.session, vote_id=vote.id, label=unit.name, unit_code=unit.code)
    candidates = votes.candidates(session=turn.session, vote_id=vote.id)
    vote.max_choices = limit
    votes.open_vote(
        session=turn.session,
        vote=vote,
        by=turn.person.userid,
        now=turn.now,
        closes_at=closes_at,
        chat_id=turn.inbound.chat_id,
    )
    announce(turn, vote, group, candidates)


def _draft(turn: Turn, group: LiaisonGroup, rec) -> Vote:
    return votes.create(
        session=turn.session,
        campaign_id=turn.campaign.id,
        group_id=group.id,
        kind=rec.key,
        title=rec.name,
        max_choices=rec.max_choices,
        ballot_per=rec.ballot_per,
    )


def _default_close(turn: Turn):
    """The end of group review (分组考核), the phase the notice puts the recommendation in."""
    if "group_review" not in {p.key for p in turn.campaign.phases}:
        raise VoteRefusal("need_close")
    return turn.campaign.phase_bounds("group_review")[1]


@command("提名", roles=ALL)
@command("提名", roles=ALL, prefix=True)
@needs_campaign
@refusals
def nominate(turn: Turn) -> None:
    name, unit_words = parse_nomination(arguments(turn))
    group = officer_group(turn, unit_words, "提名")
    rec = next((r for r in turn.campaign.recommendations if r.candidates == "nominated_people"), None)
    if rec is None:
        raise VoteRefusal("no_nominated_kind")
    units = roster.units(session=turn.session, group_id=group.id)
    unit = next((u for u in units if unit_words in (u.code, u.name) or unit_words in u.name), None)
    if unit is None:
        raise VoteRefusal("unknown_unit", text=unit_words[:20], group=group.name)
    vote = votes.current(session=turn.session, campaign_id=turn.campaign.id, group_id=group.id, kind=rec.key)
    if vote is not None and vote.status == "open":
        raise VoteRefusal("nominate_open", title=rec.name)
    vote = vote or _draft(turn, group, rec)
    existing = votes.candidates(session=turn.session, vote_id=vote.id)
    label = f"{name}（{unit.name}）"
    if any(c.label == label for c in existing):
        raise VoteRefusal("nominated_twice", label=label)
    person = next((p for p in roster.clerks(session=turn.session, unit_code=unit.code) if p.name == name), None)
    votes.add_candidate(
        session=turn.session,
        vote_id=vote.id,
        label=label,
        unit_code=unit.code,
        userid=person.userid if person else None,
    )
    turn.say("vote_nominated.txt", label=label, title=rec.name, candidates=[*existing, label])


@command("结束投票", "结束推荐", "关闭投票", roles=ALL)
@command("结束投票", "结束推荐", roles=ALL, prefix=True)
@needs_campaign
@refusals
def close_recommendation(turn: Turn) -> None:
    words = arguments(turn)
    group = officer_group(turn, words, "结束投票")
    open_votes = votes.votes(session=turn.session, campaign_id=turn.campaign.id, group_id=group.id, status="open")
    chosen = [v for v in open_votes if v.title in words] or open_votes
    if not chosen:
        raise VoteRefusal("none_open", group=group.name)
    if len(chosen) > 1:
        raise VoteRefusal("which_to_close", titles=[v.title for v in chosen])
    close_vote(turn.session, chosen[0], turn.keyring, turn.now, by=turn.person.userid, here=turn)


@command("投票结果", "投票情况", "推荐结果", roles=ALL)
@command("投票结果", "投票情况", roles=ALL, prefix=True)
@needs_campaign
@refusals
def turnout(turn: Turn) -> None:
    group = officer_group(turn, arguments(turn), "投票结果")
    rows = votes.votes(session=turn.session, campaign_id=turn.campaign.id, group_id=group.id)
    views = [turnout_view(turn.session, v, turn.keyring, turn.campaign) for v in rows if v.status != "draft"]
    turn.say("vote_turnout.txt", group=group.name, views=views)


@command("绑定群聊", roles=("admin",))
@command("绑定群聊", roles=("admin",), prefix=True)
@refusals
def bind(turn: Turn) -> None:
    """An administrator re-binds a group's chat: in that chat, or naming an app-created chat's id."""
    words = arguments(turn).split()
    group = next((g for g in roster.groups(session=turn.session) if words and g.name == words[0]), None)
    chat_id = turn.inbound.chat_id or (words[1] if len(words) > 1 else None)
    if group is None or not chat_id:
        raise VoteRefusal("bind_usage", groups=[g.name for g in roster.groups(session=turn.session)])
    for other in roster.groups(session=turn.session):
        if other.chat_id == chat_id and other.id != group.id:
            other.chat_id = None
            turn.session.add(other)
    group.chat_id = chat_id[:64]
    turn.session.add(group)
    turn.say("group_chat_bound.txt", group=group.name, rebound=True)
