"""`kaohe reminders`: each reminder's time, audience and state at a moment, who would get it, what was sent."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from schedules.audience import select_audience
from schedules.firing import batch_letters
from storage import campaigns, reminders, roster
from storage.calendar import reminder_state
from storage.campaign import Campaign, Reminder
from storage.db import Database
from storage.render import render
from storage.secrecy import Keyring

NAMED = 10  # people named per reminder; the rest are counted


def reminders_report(db: Database, moment: datetime, keyring: Keyring | None = None) -> str:
    """What is due at `moment` (or would be), to whom, and what was recorded and sent; writes nothing."""
    with db.read() as session:
        campaign = campaigns.active_campaign(session=session)
        if campaign is None:
            return render("reminders_report.txt", campaign=None)
        known = {
            "names": {p.userid: p.name for p in roster.people(session=session, inactive=True)},
            "runs": reminders.runs(session=session, campaign_id=campaign.id),
            "counts": reminders.delivery_counts(session=session, campaign_id=campaign.id),
            "keyring": keyring,
        }
        rows = [_row(session, campaign, r, moment, **known) for r in campaign.reminders]
    return render("reminders_report.txt", campaign=campaign, moment=campaign.local(moment), rows=rows, named=NAMED)


def _row(
    session: Session,
    campaign: Campaign,
    reminder: Reminder,
    moment: datetime,
    *,
    names: dict,
    runs: dict,
    counts: dict,
    keyring: Keyring | None,
) -> dict:
    run, counts = runs.get(reminder.key), counts.get(reminder.key, {})
    failed = reminders.failed_rows(session=session, campaign_id=campaign.id, key=reminder.key) if counts else []
    return {
        "r": reminder,
        "at": campaign.reminder_time(reminder),
        "phase": campaign.phase(reminder.about),
        "state": reminder_state(campaign, reminder, moment),
        "run": run,
        "acted_at": campaign.local(run.acted_at) if run else None,
        "would": [] if run else [names.get(u, u) for u in _would_receive(session, campaign, reminder, moment, keyring)],
        "counts": {k: counts.get(k, 0) for k in ("sent", "pending", "failed", "expired")},
        "recorded": sum(counts.values()),
        "errors": [row.last_error for row in failed],
        "refused": [
            (names.get(u, u), u, reason)
            for u, reason in (
                reminders.refused_people(session=session, campaign_id=campaign.id, key=reminder.key)
                if counts.get("failed")
                else []
            )
        ],
    }


def _would_receive(
    session: Session, campaign: Campaign, reminder: Reminder, moment: datetime, keyring: Keyring | None
) -> list[str]:
    letters = select_audience(session, campaign, reminder, moment, keyring=keyring)
    done = reminders.recorded(session=session, campaign_id=campaign.id, key=reminder.key)
    return [u for _, _, users in batch_letters(letters, exclude=done) for u in users]
