"""Voters: `投票 1 3` in any chat, or a click on the vote card; one sealed ballot each, replaced until closing."""

from __future__ import annotations

import json
from datetime import timedelta

from handlers.base import Reply, Turn
from handlers.guards import needs_campaign
from handlers.router import action, command, flow
from handlers.vote_cards import CARD_CHANNELS, card_update, chosen_options, vote_id_of
from handlers.vote_closing import ballot_context
from handlers.vote_words import VoteRefusal, parse_choices
from handlers.votes import ALL, arguments, refusals, roster_chat_owner
from storage import roster, votes
from storage.models import Vote
from storage.render import render

WHICH = "ballot_which"


def check_ballot(turn: Turn, vote: Vote | None, choices: list[int]) -> list:
    """Every rule a ballot must pass; the chosen candidates, or VoteRefusal with the reason."""
    if vote is None or vote.status != "open" or vote.closes_at <= turn.now:
        raise VoteRefusal("closed", title=vote.title if vote else "")
    group = roster.group(session=turn.session, group_id=vote.group_id)
    if turn.person.role != "clerk" or turn.unit is None or turn.unit.group_id != vote.group_id:
        raise VoteRefusal("outside", group=group.name, title=vote.title)
    if not choices:
        raise VoteRefusal("empty")
    if len(set(choices)) != len(choices):
        raise VoteRefusal("repeated", number=next(n for n in choices if choices.count(n) > 1))
    if len(choices) > vote.max_choices:
        raise VoteRefusal("too_many", limit=vote.max_choices, given=len(choices))
    by_number = {c.number: c for c in votes.candidates(session=turn.session, vote_id=vote.id)}
    unknown = [n for n in choices if n not in by_number]
    if unknown:
        raise VoteRefusal("unknown_option", number=unknown[0], last=max(by_number))
    for n in choices:
        chosen = by_number[n]
        if chosen.userid and chosen.userid == turn.person.userid:
            raise VoteRefusal("oneself", label=chosen.label)
        if chosen.userid is None and chosen.unit_code == turn.unit.code:
            raise VoteRefusal("own_unit", label=chosen.label)
    return [by_number[n] for n in choices]


def cast_ballot(turn: Turn, vote: Vote, choices: list[int]) -> tuple[list, bool]:
    """Seal and store; True when it replaced the voter's earlier ballot."""
    chosen = check_ballot(turn, vote, choices)
    key = votes.voter_key(ballot_per=vote.ballot_per, userid=turn.person.userid, unit_code=turn.unit.code)
    voter_hash = turn.keyring.voter_hash(vote.id, key)
    replaced = votes.has_ballot(session=turn.session, vote_id=vote.id, voter_hash=voter_hash)
    sealed = turn.keyring.seal(sorted(choices), ballot_context(vote.id, voter_hash))
    votes.cast(session=turn.session, vote_id=vote.id, voter_hash=voter_hash, sealed=sealed)
    return chosen, replaced


def open_votes_here(turn: Turn) -> tuple[list[Vote], bool]:
    """The open votes a text ballot is for: the group chat's group, else the voter's own; and whether any closed."""
    owner = roster_chat_owner(turn, turn.inbound.chat_id) if turn.inbound.chat_id else None
    group_id = owner.id if owner else (turn.unit.group_id if turn.unit else turn.person.group_id)
    if group_id is None:
        raise VoteRefusal("outside", group="", title="")
    every = votes.votes(session=turn.session, campaign_id=turn.campaign.id, group_id=group_id)
    current = [v for v in every if v.status == "open" and v.closes_at > turn.now]
    return current, any(v.status == "closed" or v.closes_at <= turn.now for v in every if v.status != "draft")


@command("投票", roles=ALL)
@command("投票", roles=ALL, prefix=True)
@needs_campaign
@refusals
def vote_by_text(turn: Turn) -> None:
    choices = parse_choices(arguments(turn))
    current, any_closed = open_votes_here(turn)
    if not current:
        raise VoteRefusal("closed" if any_closed else "none_open_voter", title="")
    if len(current) > 1:
        turn.enter(
            WHICH, sealed=turn.keyring.seal(choices, f"which:{turn.person.userid}"), votes=[v.id for v in current]
        )
        return turn.say("vote_which.txt", votes=current)
    _confirm(turn, current[0], choices)


@flow(WHICH, expires=timedelta(minutes=30))
@needs_campaign
@refusals
def which_vote(turn: Turn) -> None:
    ids = turn.state.data.get("votes", [])
    choices = turn.keyring.unseal(turn.state.data["sealed"], f"which:{turn.person.userid}")
    options = [votes.vote(session=turn.session, vote_id=i) for i in ids]
    answer = turn.text.strip()
    picked = next((v for i, v in enumerate(options, 1) if v and (answer == str(i) or v.title in answer)), None)
    if picked is None:
        return turn.say("vote_which.txt", votes=options, again=True)
    turn.leave()
    _confirm(turn, picked, choices)


def _confirm(turn: Turn, vote: Vote, choices: list[int]) -> None:
    chosen, replaced = cast_ballot(turn, vote, choices)
    per_unit = vote.ballot_per == "unit"
    if turn.inbound.chat_id:  # others read the group chat: the answer never names the choice
        return turn.say("vote_cast.txt", vote=vote, chosen=None, replaced=replaced, per_unit=per_unit)
    turn.replies.append(
        Reply(_render_cast(vote, chosen, replaced, per_unit), private=True)  # the reply is kept sealed
    )


def _render_cast(vote, chosen, replaced, per_unit) -> str:
    return render("vote_cast.txt", vote=vote, chosen=chosen, replaced=replaced, per_unit=per_unit)


@action
@needs_campaign
def vote_by_card(turn: Turn) -> None:
    """A click on the vote card: the clicker's card is redrawn with the ballot, or with why it was refused."""
    vote_id = vote_id_of(turn.inbound.action)
    vote = votes.vote(session=turn.session, vote_id=vote_id) if vote_id else None
    if vote is None or vote.campaign_id != turn.campaign.id:
        return turn.say("vote_refused.txt", code="unknown_card")
    group = roster.group(session=turn.session, group_id=vote.group_id)
    candidates = votes.candidates(session=turn.session, vote_id=vote.id)
    where = "g" if turn.inbound.channel in CARD_CHANNELS else "a"
    try:
        numbers = [int(o) for o in chosen_options(turn.inbound.action) if o.isdigit()]
        chosen, replaced = cast_ballot(turn, vote, numbers)
    except VoteRefusal as exc:
        return _card_refused(turn, vote, group.name, candidates, where, exc)
    text = _render_cast(vote, chosen, replaced, vote.ballot_per == "unit")
    if where == "g":
        status = render("vote_card_status.txt", chosen=chosen)
        return turn.replies.append(card_update(vote, group.name, candidates, where, status, [c.number for c in chosen]))
    turn.replies.append(Reply(text, private=True))
    _grey_button(turn, render("vote_card_button.txt"))


def _card_refused(turn: Turn, vote, group: str, candidates, where: str, exc: VoteRefusal) -> None:
    reason = render("vote_refused.txt", code=exc.code, **exc.values)
    if where == "g":
        return turn.replies.append(card_update(vote, group, candidates, where, reason))
    turn.say("vote_refused.txt", code=exc.code, **exc.values)


def _grey_button(turn: Turn, label: str) -> None:
    """The app's card is updated through message/update_template_card with the event's response code
    (wecom.md §3.3); the label never names a choice, since the outbox keeps it."""
    code = turn.inbound.action.get("response_code")
    if code:
        payload = {"response_code": code, "button": {"replace_name": label}}
        turn.replies.append(Reply(json.dumps(payload), to=[turn.person.userid], msgtype="update_template_card"))
