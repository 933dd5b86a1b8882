"""How a vote reaches voters: the ballot as text, the vote_interaction card, and its update after a click."""

from __future__ import annotations

import json
import re

from handlers.base import Reply, Turn
from storage import votes
from storage.calendar import window
from storage.models import LiaisonGroup, Vote, VoteCandidate
from storage.render import render
from storage.times import shown

MAX_OPTIONS = 20  # a vote_interaction card holds at most 20 options (wecom.md §3.2)
CARD_CHANNELS = ("bot", "sim")  # where a group chat shows a card in the answer itself
_TASK = re.compile(r"kaohe-vote-(\d+)")


def task_id(vote: Vote, where: str) -> str:
    return f"kaohe-vote-{vote.id}-{where}"


def vote_id_of(action: dict) -> int | None:
    match = _TASK.match(str(action.get("task_id") or ""))
    return int(match[1]) if match else None


def ballot_values(turn: Turn, vote: Vote, group: LiaisonGroup, candidates: list[VoteCandidate]) -> dict:
    return {
        "group": group.name,
        "vote": vote,
        "candidates": candidates,
        "closes": shown(turn.campaign.local(vote.closes_at)),
    }


def card(vote: Vote, group: str, candidates: list[VoteCandidate], where: str, status: str = "", checked=()) -> str:
    """The vote_interaction card (wecom.md §3.2): one option per candidate, id = its number."""
    return render(
        "vote_card.json",
        task_id=task_id(vote, where),
        group=group,
        vote=vote,
        candidates=candidates,
        status=status,
        checked=set(checked),
    )


def announce(turn: Turn, vote: Vote, group: LiaisonGroup, candidates: list[VoteCandidate]) -> None:
    """In the group chat the answer itself carries the ballot (text and card); from elsewhere the ballot
    goes to the group's chat and to each voter: a card in the WeCom app, text in the simulator."""
    values = ballot_values(turn, vote, group, candidates)
    review_start = window(turn.campaign, "group_review").start if _has_review(turn) else None
    early = review_start is not None and turn.now < review_start
    review_start = shown(turn.campaign.local(review_start), end=False) if review_start else None
    voters = votes.eligible_voters(session=turn.session, group_id=group.id, ballot_per=vote.ballot_per)
    userids = sorted({u for v in voters for u in v.userids})
    here = turn.inbound.chat_id
    turn.say(
        "vote_opened.txt", early=early, review_start=review_start, voters=len(voters), in_chat=bool(here), **values
    )
    if here and turn.inbound.channel in CARD_CHANNELS and len(candidates) <= MAX_OPTIONS:
        turn.replies.append(Reply(card(vote, group.name, candidates, "g"), msgtype="template_card"))
    if here:
        return
    if group.chat_id:
        turn.post(group.chat_id, "vote_ballot.txt", **values)
    if turn.inbound.channel == "app" and len(candidates) <= MAX_OPTIONS:
        turn.replies.append(Reply(card(vote, group.name, candidates, "a"), to=userids, msgtype="template_card"))
    else:
        turn.tell(userids, "vote_ballot.txt", **values)


def _has_review(turn: Turn) -> bool:
    return "group_review" in {p.key for p in turn.campaign.phases}


def chosen_options(action: dict) -> list[str]:
    """Option ids from a card event, whether xmltodict or JSON shaped it (a lone item is not a list)."""
    selected = action.get("selected") or {}
    items = selected.get("SelectedItem") or selected.get("selected_item") if isinstance(selected, dict) else selected
    items = items if isinstance(items, list) else [items] if items else []
    found: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        ids = item.get("OptionIds") or item.get("option_ids") or {}
        ids = ids.get("OptionId") or ids.get("option_id") if isinstance(ids, dict) else ids
        found += [str(i) for i in (ids if isinstance(ids, list) else [ids] if ids else [])]
    return found


def card_update(vote: Vote, group: str, candidates, where: str, status: str, checked=()) -> Reply:
    """The clicker's own card, redrawn with what they chose (or why it was refused)."""
    return Reply(card(vote, group, candidates, where, status, checked), msgtype="update_template_card", private=True)


def as_json(reply: Reply) -> dict:
    return json.loads(reply.text)
