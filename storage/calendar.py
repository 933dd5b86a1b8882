"""The phase calendar: pure functions of `now` and the campaign, in the campaign's timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.campaign import Campaign, Phase, Reminder

SUB_PHASES = ("self_check", "group_review", "committee")


@dataclass(frozen=True)
class PhaseWindow:
    phase: Phase
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive: midnight after the last day, local time


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def window(campaign: Campaign, key: str) -> PhaseWindow:
    start, end = campaign.phase_bounds(key)
    return PhaseWindow(campaign.phase(key), start, end)


def open_phases(campaign: Campaign, now: datetime) -> list[PhaseWindow]:
    """Every phase open at `now` (the evaluation window overlaps its sub-phases)."""
    _require_aware(now)
    return [w for w in (window(campaign, p.key) for p in campaign.phases) if w.start <= now < w.end]


def current_phase(campaign: Campaign, now: datetime) -> PhaseWindow | None:
    """The most specific open phase: the shortest of those open at `now`."""
    found = open_phases(campaign, now)
    return min(found, key=lambda w: w.end - w.start) if found else None


def next_phase(campaign: Campaign, now: datetime) -> PhaseWindow | None:
    _require_aware(now)
    later = [w for w in (window(campaign, p.key) for p in campaign.phases) if w.start > now]
    return min(later, key=lambda w: w.start) if later else None


def is_open(campaign: Campaign, key: str, now: datetime) -> bool:
    _require_aware(now)
    w = window(campaign, key)
    return w.start <= now < w.end


def days_left(campaign: Campaign, key: str, now: datetime) -> int:
    """Calendar days left in a phase counting today (the last day answers 1); 0 once it has closed."""
    _require_aware(now)
    w = window(campaign, key)
    if now >= w.end:
        return 0
    today = campaign.local(max(now, w.start)).date()
    return (w.phase.end - today).days + 1


def reminder_state(campaign: Campaign, reminder: Reminder, now: datetime) -> str:
    """`future` before its time; `due` from its time until its phase ends; `expired` after (no use any more)."""
    _require_aware(now)
    if now < campaign.reminder_time(reminder):
        return "future"
    return "due" if now < window(campaign, reminder.about).end else "expired"
