"""The closed recommendation votes, as the summaries and documents read them (issue 8's storage.votes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage import votes

if TYPE_CHECKING:
    from sqlmodel import Session


def closed_results(*, session: Session, campaign_id: str) -> list[votes.VoteResult]:
    """Closed votes, each with group, kind, title, max_choices, eligible, voted and candidates (label, count)."""
    return votes.closed_results(session=session, campaign_id=campaign_id)


def recommended(result) -> list:
    """The candidates a closed vote recommends: the most votes, up to its limit, never one with none."""
    return [c for c in result.candidates if c.count > 0][: result.max_choices]
