"""APScheduler wiring: a wake-up per reminder, a periodic sync (campaign file, catch-up) and the lease."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from schedules.firing import Fired, act_on_due
from schedules.votes import close_due_votes
from storage import campaigns, dialogs, leases, reminders
from storage.campaign import Campaign, CampaignError
from storage.campaigns import load_campaign_file

if TYPE_CHECKING:  # the assembled service is built above this layer and handed in
    from bot.services import Services

log = logging.getLogger(__name__)
LEASE = "scheduler"
LEASE_S = 60  # a holder that stops renewing loses the lease after this long
RENEW_S = 15
SYNC_S = 30  # how often the campaign file and missed reminders are looked at
JOB_PREFIX = "reminder:"
KEEP_MESSAGE_KEYS = timedelta(days=7)


class ReminderScheduler:
    """APScheduler only wakes things up; what was sent, and whether a reminder was acted on, is in the database."""

    def __init__(self, services: Services, *, sync_s: float = SYNC_S):
        self.services, self.sync_s = services, sync_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading: bool | None = None
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(1)},
            # Never dropped as "missed": whether a late reminder is still worth sending is ours to decide.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._lock = threading.Lock()
        self._file_hash: str | None = None
        self._scheduled_hash: str | None = None

    def start(self, *, paused: bool = False) -> ReminderScheduler:
        """Start; `paused` computes run times but runs nothing (tests call `sync` with the time passed in)."""
        # APScheduler logs every run of every job at INFO: the lease and sync jobs would fill the log.
        quiet = logging.getLogger("apscheduler.executors.default")
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.WARNING)
        self.scheduler.start(paused=paused)
        self.scheduler.add_job(
            self.sync, IntervalTrigger(seconds=self.sync_s, timezone=UTC), id="_sync", next_run_time=datetime.now(UTC)
        )
        self.scheduler.add_job(self.hold_lease, IntervalTrigger(seconds=RENEW_S, timezone=UTC), id="_lease")
        return self

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.leading:
            with self.services.db.write() as session:
                leases.release(session=session, name=LEASE, holder=self.holder, now=self.services.clock.now())

    def job(self, key: str):
        return self.scheduler.get_job(JOB_PREFIX + key)

    def sync(self, now: datetime | None = None) -> list[Fired]:
        """Hold the lease or do nothing; reload a changed campaign file; reschedule a changed campaign;
        fire what is due and skip what has expired."""
        with self._lock:
            now = now or self.services.clock.now()
            if not self.hold_lease(now):
                return []
            self._reload_file()
            with self.services.db.write() as session:
                dialogs.prune_processed(session=session, before=now - KEEP_MESSAGE_KEYS)
            with self.services.db.read() as session:
                row = campaigns.active_row(session=session)
                campaign = campaigns.active_campaign(session=session)
            if campaign is None:
                return []
            if row.source_hash != self._scheduled_hash:
                self.reschedule(campaign, now)
                self._scheduled_hash = row.source_hash
            fired = act_on_due(self.services.db, campaign, now, self.holder, keyring=self.services.keyring)
            closed = close_due_votes(self.services.db, self.services.keyring, now)
            if closed or any(f.outcome == "fired" and f.recipients for f in fired):
                self.services.sender.wakeup.set()
            return fired

    def hold_lease(self, now: datetime | None = None) -> bool:
        now = now or self.services.clock.now()
        with self.services.db.write() as session:
            holder = leases.take(session=session, name=LEASE, holder=self.holder, now=now, ttl_s=LEASE_S)
        leading = holder == self.holder
        if leading != self.leading:
            state = (
                "holds the lease; reminders are sent from here" if leading else f"stands by: {holder} holds the lease"
            )
            log.info("scheduler %s %s", self.holder, state)
        self.leading = leading
        return leading

    def reschedule(self, campaign: Campaign, now: datetime) -> None:
        """One wake-up job per reminder still ahead and not acted on; jobs of reminders gone are removed."""
        with self.services.db.read() as session:
            acted = reminders.runs(session=session, campaign_id=campaign.id)
        wanted = {
            JOB_PREFIX + r.key: (r, campaign.reminder_time(r))
            for r in campaign.reminders
            if r.key not in acted and campaign.reminder_time(r) > now
        }
        for job in self.scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
                job.remove()
        for job_id, (reminder, at) in wanted.items():
            self.scheduler.add_job(
                self._wake,
                DateTrigger(run_date=at, timezone=campaign.tz),
                args=[at],
                id=job_id,
                name=f"{campaign.id} {reminder.key} ({reminder.audience})",
                replace_existing=True,
            )
        log.info("campaign %s: %d reminders scheduled", campaign.id, len(wanted))

    def _wake(self, at: datetime) -> None:
        # The job runs at its time; a clock a hair behind must not make it look early.
        self.sync(max(self.services.clock.now(), at))

    def _reload_file(self) -> None:
        """Load the campaign file of KAOHE_CAMPAIGN when it changes; a refused edit keeps the old schedule.
        Only a file the operator named is watched (never the shipped default), and on first sight it is loaded
        only if this database never loaded it with this content, as at a start: a campaign loaded by hand
        since is left alone (bot.operations.start_campaign)."""
        if not self.services.settings.campaign_explicit:
            return
        path = self.services.settings.campaign_file
        try:
            digest = campaigns.file_digest(path)
        except (OSError, UnicodeDecodeError) as exc:
            if self._file_hash != "unreadable":
                log.warning("campaign file %s unreadable, the schedule stays as it was: %s", path, exc)
            self._file_hash = "unreadable"
            return
        if digest == self._file_hash:
            return
        first, self._file_hash = self._file_hash is None, digest
        with self.services.db.read() as session:
            seen = campaigns.loaded_before(session=session, path=path, digest=digest)
        if first and seen:
            return
        self._load(path)

    def _load(self, path: Path) -> None:
        try:
            campaign, _ = load_campaign_file(self.services.db, path, how="watch")
        except CampaignError as exc:
            log.warning("campaign file changed but refused, the schedule stays as it was: %s", exc)
            return
        log.info("campaign file %s changed: %s reloaded", path, campaign.id)
