"""The outbox sender: claims due messages, batches recipients, respects WeCom's limits, retries with backoff."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Protocol

from storage import outbox
from storage.clock import Clock
from storage.db import Database
from storage.models import Outbox
from storage.outbox import BATCH

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
PER_MINUTE = 30  # per member per app; WeCom silently drops the excess (wecom.md §3.2)
DUPLICATE_CHECK_S = 14400  # a resend after a crash between send and record is dropped by WeCom


class Transport(Protocol):
    """Where messages go: WeCom's API, or (without a WeCom app) the simulator's log."""

    def send_users(self, userids: list[str], msgtype: str, content: str) -> None: ...
    def send_chat(self, chat_id: str, msgtype: str, content: str) -> None: ...


class SendError(Exception):
    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class LocalTransport:
    """No WeCom app configured: messages count as delivered once recorded; the simulator shows them."""

    def send_users(self, userids, msgtype, content) -> None:
        log.debug("local delivery to %d people", len(userids))

    def send_chat(self, chat_id, msgtype, content) -> None:
        log.debug("local delivery to chat %s", chat_id)


class RateWindow:
    """Messages sent to each person in the last minute, in this (the only) sending process."""

    def __init__(self, per_minute: int = PER_MINUTE):
        self.per_minute, self._sent = per_minute, defaultdict(deque)

    def wait_needed(self, userids: list[str], now: datetime) -> float:
        worst = 0.0
        for uid in userids:
            sent = self._sent[uid]
            while sent and (now - sent[0]).total_seconds() >= 60:
                sent.popleft()
            if len(sent) >= self.per_minute:
                worst = max(worst, 60 - (now - sent[0]).total_seconds())
        return worst

    def record(self, userids: list[str], now: datetime) -> None:
        for uid in userids:
            self._sent[uid].append(now)


class Sender:
    def __init__(self, db: Database, transport: Transport, clock: Clock):
        self.db, self.transport, self.clock = db, transport, clock
        self.window = RateWindow()
        self.wakeup = threading.Event()

    def run_once(self, limit: int = 100) -> int:
        """Send what is due; returns how many rows were handled. Network calls happen outside transactions."""
        now = self.clock.now()
        with self.db.read() as session:
            if not outbox.any_due(session=session, now=now):
                return 0
        with self.db.write() as session:
            rows = outbox.claim(session=session, now=now, limit=limit, skip_locked=not self.db.is_sqlite)
        for row in rows:
            self._send(row)
        return len(rows)

    def drain(self, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            handled = self.run_once()
            total += handled
            if not handled:
                break
        return total

    def _send(self, row: Outbox) -> None:
        now = self.clock.now()
        wait = self.window.wait_needed(row.recipients, now) if row.kind == "user" else 0
        if wait > 0:
            return self._finish(row, error=f"per-person limit, waiting {wait:.0f}s", retry_in=wait, count=False)
        try:
            if row.kind == "chat":
                self.transport.send_chat(row.chat_id, row.msgtype, row.content)
            else:
                for start in range(0, len(row.recipients), BATCH):
                    self.transport.send_users(row.recipients[start : start + BATCH], row.msgtype, row.content)
        except SendError as exc:
            log.warning("outbox %s (%s) failed: %s", row.id, row.key, exc)
            retry = _backoff(row.attempts) if exc.retryable and row.attempts + 1 < MAX_ATTEMPTS else None
            return self._finish(row, error=str(exc), retry_in=retry)
        self.window.record(row.recipients, now)
        with self.db.write() as session:
            outbox.mark_sent(session=session, outbox_id=row.id, now=self.clock.now())

    def _finish(self, row: Outbox, error: str, retry_in: float | None, count: bool = True) -> None:
        retry_at = self.clock.now() + timedelta(seconds=retry_in) if retry_in is not None else None
        with self.db.write() as session:
            outbox.mark_failed(session=session, outbox_id=row.id, error=error, retry_at=retry_at)
            if not count:
                fresh = session.get(Outbox, row.id)
                fresh.attempts -= 1  # waiting for the rate limit is not a failed attempt
                session.add(fresh)


def _backoff(attempts: int) -> float:
    return min(600.0, 5.0 * 2**attempts)


class SenderThread(threading.Thread):
    """Runs the sender every `interval` seconds, or at once when woken."""

    def __init__(self, sender: Sender, interval: float = 1.0):
        super().__init__(name="outbox-sender", daemon=True)
        self.sender, self.interval, self.stopping = sender, interval, threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.sender.drain(max_rounds=10)
            except Exception:  # the loop must outlive a database hiccup; the row stays claimed-then-retried
                log.exception("outbox sender round failed")
            self.sender.wakeup.wait(self.interval)
            self.sender.wakeup.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.sender.wakeup.set()
