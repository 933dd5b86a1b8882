"""The scheduler process: the reminder scheduler with an outbox sender beside it, started and stopped together."""

from __future__ import annotations

import logging
import signal
import threading

from bot.delivery import SenderThread
from bot.services import Services, build_services
from bot.settings import Settings
from schedules.runner import ReminderScheduler

log = logging.getLogger(__name__)


class _Running:
    """What start_scheduler returns: the scheduler, and the sender thread when it started one."""

    def __init__(self, scheduler: ReminderScheduler, sender=None):
        self.scheduler, self.sender = scheduler, sender

    def stop(self) -> None:
        self.scheduler.stop()
        if self.sender:
            self.sender.stop()
            self.sender.join(timeout=10)


def start_scheduler(services: Services, *, send: bool = False, paused: bool = False) -> ReminderScheduler | _Running:
    """Start the reminder scheduler (and, with `send`, an outbox sender beside it); the result has stop()."""
    scheduler = ReminderScheduler(services).start(paused=paused)
    if not send:
        return scheduler
    sender = SenderThread(services.sender)
    sender.start()
    return _Running(scheduler, sender)


def run_forever(settings: Settings) -> None:
    """`kaohe scheduler`: reminders and the outbox sender, until SIGINT or SIGTERM."""
    services = build_services(settings)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    running = start_scheduler(services, send=True)
    log.info("reminder scheduler running; stop with Ctrl-C or SIGTERM")
    try:
        while not stopping.wait(1):
            pass
    finally:
        running.stop()
        services.close()
