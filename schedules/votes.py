"""Votes the scheduler closes at their closing time: counted, closed and announced once, with time passed in."""

from __future__ import annotations

import logging
from datetime import datetime

from handlers.vote_closing import close_vote
from storage import campaigns, outbox, votes
from storage.db import Database
from storage.secrecy import Keyring

log = logging.getLogger(__name__)


def close_due_votes(db: Database, keyring: Keyring, now: datetime) -> list[int]:
    """Close every open vote whose time has come; returns the ids this call closed. A vote closed
    meanwhile (by its officer, or another scheduler) is left as it is."""
    with db.read() as session:
        due = votes.due_to_close(session=session, now=now)
    closed = []
    for vote_id in due:
        with db.write() as session:
            if not db.try_lock(session, f"vote-close:{vote_id}"):
                continue
            vote = votes.vote(session=session, vote_id=vote_id)
            campaign = campaigns.active_campaign(session=session)
            if vote is None or vote.status != "open" or campaign is None:
                continue
            replies = close_vote(session, vote, keyring, now, by="scheduler", campaign=campaign)
            if replies is None:
                continue
            for i, reply in enumerate(replies):
                outbox.enqueue(
                    session=session,
                    key=f"vote:{vote_id}:closed#{i}",
                    content=reply.text,
                    recipients=reply.to,
                    chat_id=reply.chat_id,
                    source="vote-result",
                    now=now,
                )
        closed.append(vote_id)
        log.info("vote %s (%s) closed at its time; result sent", vote_id, vote.title)
    return closed
