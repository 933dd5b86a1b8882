"""The closed recommendation votes, as the summaries and documents read them (until issue 8 lands: none)."""

from __future__ import annotations

from sqlmodel import Session


def closed_results(*, session: Session, campaign_id: str) -> list:
    """Closed votes, each with group, kind, title, max_choices, eligible, voted and candidates (label, count).
    Issue 8's storage.votes.closed_results takes this place when it lands; until then there are none."""
    return []


def recommended(result) -> list:
    """The candidates a closed vote recommends: the most votes, up to its limit, never one with none."""
    return [c for c in result.candidates if c.count > 0][: result.max_choices]
