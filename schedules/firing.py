"""Firing reminders: select, render, record and enqueue in one transaction, so each person gets one once."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from schedules.audience import Letter, select_audience
from storage import reminders
from storage.calendar import reminder_state, window
from storage.campaign import Campaign, Reminder
from storage.db import Database
from storage.outbox import BATCH, USEFUL_FOR
from storage.secrecy import Keyring

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    key: str
    outcome: str  # fired | already (acted on before) | busy (another scheduler is at it) | skipped
    recipients: int = 0
    messages: int = 0


def fire_reminder(
    db: Database,
    campaign: Campaign,
    reminder: Reminder,
    now: datetime,
    holder: str | None = None,
    keyring: Keyring | None = None,
) -> Fired:
    """Send a reminder to its audience at `now`, once: a second call, or a second scheduler, adds nothing.

    The claim, the per-person records and the outbox rows commit together; the sender delivers later
    (no network call inside the transaction), and WeCom's duplicate check covers a crash after a send."""
    with db.write() as session:
        if not db.try_lock(session, f"reminder:{campaign.id}:{reminder.key}"):
            return Fired(reminder.key, "busy")
        run_id = reminders.claim_run(
            session=session,
            campaign_id=campaign.id,
            key=reminder.key,
            status="fired",
            due_at=campaign.reminder_time(reminder),
            now=now,
            holder=holder,
        )
        if run_id is None:
            return Fired(reminder.key, "already")
        letters = select_audience(session, campaign, reminder, now, keyring=keyring)
        done = reminders.recorded(session=session, campaign_id=campaign.id, key=reminder.key)
        batches = batch_letters(letters, exclude=done)
        count = reminders.enqueue_batches(
            session=session,
            campaign_id=campaign.id,
            key=reminder.key,
            run_id=run_id,
            batches=batches,
            now=now,
            expires_at=useful_until(campaign, reminder, now),
        )
        reminders.set_recipients(session=session, run_id=run_id, count=count)
    return Fired(reminder.key, "fired", count, len(batches))


def useful_until(campaign: Campaign, reminder: Reminder, now: datetime) -> datetime:
    """A reminder is worth delivering until its phase ends, and for a day at most (then its text is stale)."""
    return min(window(campaign, reminder.about).end, now + USEFUL_FOR)


def batch_letters(letters: list[Letter], exclude: set[str] = frozenset()) -> list[tuple[str, str, list[str]]]:
    """Merge people who read the same text, drop those in `exclude` and repeats, and cut into batches of
    at most 1000 (message/send's limit): (stable digest, text, userids)."""
    seen, by_text = set(exclude), {}
    for letter in letters:
        fresh = [u for u in letter.userids if u not in seen]
        seen.update(fresh)
        if fresh:
            by_text.setdefault(letter.text, []).extend(fresh)
    batches = []
    for text, users in by_text.items():
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        batches += [(f"{digest}:{i // BATCH}", text, users[i : i + BATCH]) for i in range(0, len(users), BATCH)]
    return batches


def skip_reminder(
    db: Database, campaign: Campaign, reminder: Reminder, now: datetime, holder: str | None = None
) -> bool:
    """Record that an expired reminder will not be sent; True the first time (so it is logged once)."""
    with db.write() as session:
        return (
            reminders.claim_run(
                session=session,
                campaign_id=campaign.id,
                key=reminder.key,
                status="skipped",
                due_at=campaign.reminder_time(reminder),
                now=now,
                holder=holder,
            )
            is not None
        )


def act_on_due(
    db: Database, campaign: Campaign, now: datetime, holder: str | None = None, keyring: Keyring | None = None
) -> list[Fired]:
    """On time or after downtime alike: fire each due reminder not acted on yet; skip, with a log line,
    those whose phase has ended."""
    with db.read() as session:
        acted = reminders.runs(session=session, campaign_id=campaign.id)
    results = []
    for reminder in campaign.reminders:
        state = reminder_state(campaign, reminder, now)
        if reminder.key in acted or state == "future":
            continue
        if state == "due":
            results.append(fire_reminder(db, campaign, reminder, now, holder, keyring))
            _log_fired(campaign, reminder, results[-1])
        elif skip_reminder(db, campaign, reminder, now, holder):
            results.append(Fired(reminder.key, "skipped"))
            log.warning(
                "reminder %s (due %s) skipped: its phase %s ended %s",
                reminder.key,
                campaign.reminder_time(reminder).isoformat(),
                reminder.about,
                window(campaign, reminder.about).end.isoformat(),
            )
    return results


def _log_fired(campaign: Campaign, reminder: Reminder, fired: Fired) -> None:
    if fired.outcome == "fired":
        log.info(
            "reminder %s (due %s, %s): %d people in %d messages",
            reminder.key,
            campaign.reminder_time(reminder).isoformat(),
            reminder.audience,
            fired.recipients,
            fired.messages,
        )
