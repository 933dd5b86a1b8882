"""`kaohe votes`: every recommendation vote with its turnout, and its counts once closed (never who chose whom)."""

from __future__ import annotations

from storage import campaigns, roster, votes
from storage.db import Database
from storage.models import Vote


def votes_overview(db: Database) -> list[dict]:
    with db.read() as session:
        campaign = campaigns.active_campaign(session=session)
        if campaign is None:
            return []
        groups = {g.id: g.name for g in roster.groups(session=session)}
        return [_row(session, v, groups) for v in votes.votes(session=session, campaign_id=campaign.id)]


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def _row(session, vote: Vote, groups: dict) -> dict:
    closed = vote.status == "closed"
    if closed:
        eligible, voted = vote.eligible, vote.voted
    else:  # counting rows needs no key and shows no choice
        eligible = len(votes.eligible_voters(session=session, group_id=vote.group_id, ballot_per=vote.ballot_per))
        voted = votes.ballot_count(session=session, vote_id=vote.id)
    candidates = votes.candidates(session=session, vote_id=vote.id)
    return {
        "id": vote.id,
        "group": groups.get(vote.group_id, ""),
        "kind": vote.kind,
        "title": vote.title,
        "status": vote.status,
        "max_choices": vote.max_choices,
        "opened_at": _iso(vote.opened_at),
        "closes_at": _iso(vote.closes_at),
        "closed_at": _iso(vote.closed_at),
        "eligible": eligible,
        "voted": voted,
        "candidates": [
            {"number": c.number, "label": c.label, "unit_code": c.unit_code, "count": c.count if closed else None}
            for c in candidates
        ],
    }
