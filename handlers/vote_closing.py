"""Closing a vote (by its officer or, at its time, by the scheduler, once) and what turnout shows before that."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers.base import Reply, Turn
from storage import roster, votes
from storage.campaign import Campaign
from storage.models import Vote
from storage.render import render
from storage.secrecy import Keyring
from storage.times import shown

if TYPE_CHECKING:
    from sqlmodel import Session


@dataclass(frozen=True)
class Place:
    rank: int
    count: int
    labels: list[str]

    @property
    def tie(self) -> bool:
        return len(self.labels) > 1


def ballot_context(vote_id: int, voter_hash: str) -> str:
    """Binds a sealed ballot to its row: moved to another voter or vote, it no longer opens."""
    return f"ballot:{vote_id}:{voter_hash}"


def count(session: Session, vote: Vote, keyring: Keyring) -> Counter:
    tally: Counter = Counter()
    for ballot in votes.sealed_ballots(session=session, vote_id=vote.id):
        tally.update(keyring.unseal(ballot.sealed, ballot_context(vote.id, ballot.voter_hash)))
    return tally


def places(results: list[tuple[str, int]]) -> list[Place]:
    """Candidates by count, most first; equal counts share a place and are named as a tie."""
    grouped: dict[int, list[str]] = {}
    for label, n in results:
        grouped.setdefault(n, []).append(label)
    ordered, rank = [], 1
    for n in sorted(grouped, reverse=True):
        ordered.append(Place(rank, n, grouped[n]))
        rank += len(grouped[n])
    return ordered


def result_text(session: Session, vote: Vote, campaign: Campaign) -> str:
    group = roster.group(session=session, group_id=vote.group_id)
    candidates = votes.candidates(session=session, vote_id=vote.id)
    return render(
        "vote_result.txt",
        group=group.name if group else "",
        vote=vote,
        places=places([(c.label, c.count or 0) for c in candidates]),
        closed=shown(campaign.local(vote.closed_at)) if vote.closed_at else None,
    )


def close_vote(
    session: Session,
    vote: Vote,
    keyring: Keyring,
    now,
    *,
    by: str,
    campaign: Campaign | None = None,
    here: Turn | None = None,
) -> list[Reply] | None:
    """Count the sealed ballots, close the vote and keep the counts; the result goes to the group's chat, its
    officers and the administrators. None when the vote was no longer open (someone closed it first)."""
    campaign = campaign or here.campaign
    tally = count(session, vote, keyring)
    voters = votes.eligible_voters(session=session, group_id=vote.group_id, ballot_per=vote.ballot_per)
    voted = votes.ballot_count(session=session, vote_id=vote.id)
    if not votes.close(
        session=session, vote_id=vote.id, by=by, now=now, counts=dict(tally), eligible=len(voters), voted=voted
    ):
        return None
    session.refresh(vote)
    text = result_text(session, vote, campaign)
    group = roster.group(session=session, group_id=vote.group_id)
    readers = [p.userid for p in roster.liaison_officers(session=session, group_id=vote.group_id)]
    readers += [p.userid for p in roster.admins(session=session)]
    replies = []
    if here is not None:
        here.say("vote_closed.txt", result=text)
        readers = [u for u in readers if u != here.person.userid]
    if group and group.chat_id and not (here and here.inbound.chat_id == group.chat_id):
        replies.append(Reply(text, chat_id=group.chat_id))
    if readers:
        replies.append(Reply(text, to=readers))
    if here is not None:
        here.replies += replies
    return replies


def turnout_view(session: Session, vote: Vote, keyring: Keyring, campaign: Campaign) -> dict:
    """Before closing: 应到, 实到 and who has not voted, never a count. After: the result."""
    if vote.status == "closed":
        return {"vote": vote, "closed": True, "result": result_text(session, vote, campaign)}
    missing = votes.not_voted(session=session, vote=vote, keyring=keyring)
    voters = votes.eligible_voters(session=session, group_id=vote.group_id, ballot_per=vote.ballot_per)
    return {
        "vote": vote,
        "closed": False,
        "eligible": len(voters),
        "voted": len(voters) - len(missing),
        "missing": [v.name for v in missing],
        "closes": shown(campaign.local(vote.closes_at)),
    }
