"""The outbox sender: claims due rows for a small pool, respects WeCom's limits, retries with capped backoff."""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Row

from bot.outcomes import Outcome, commit_outcomes
from storage import outbox
from storage.clock import Clock
from storage.db import Database
from storage.outbox import BATCH

log = logging.getLogger(__name__)
PER_MINUTE = 30  # per member per app; WeCom silently drops the excess (wecom.md §3.2)
DUPLICATE_CHECK_S = 14400  # WeCom's maximum: a resend within 4 h of an accepted call is dropped by WeCom
WORKERS = 4  # calls in flight at once, so one stalled call does not hold up the others (KAOHE_SEND_WORKERS)
CLAIM_PER_WORKER = 16  # rows claimed per worker in one transaction
# A queued row starts only while this much of its lease is left: enough for one call's three 5 s requests
# (token refetch included) with room to spare, so it is never sent after another sender took it over.
START_BY_S = 60
COMMIT_EVERY = 64  # finished sends committed together once this many are waiting ...
COMMIT_WITHIN_S = 0.2  # ... or the oldest has waited this long, or nothing is in flight any more
BACKOFF_BASE_S = 5.0  # first retry after 5 s, then 10, 20, ...
# A frequency block lifts after a minute (wecom.md §3.2, error codes), so an outage is tried once a minute per
# row until the row expires; the first success after failures makes every backed-off row due at once.
BACKOFF_CAP_S = 60.0


class Transport(Protocol):
    """Where messages go: WeCom's API, or (without a WeCom app) the simulator's log.

    `send_users` returns the userids WeCom refused (invaliduser), in any case; `key` is the row's stable key,
    the same on every resend, so WeCom's duplicate check can drop a resend of an accepted call."""

    def send_users(self, userids: list[str], msgtype: str, content: str, key: str = "") -> list[str] | None: ...
    def send_chat(self, chat_id: str, msgtype: str, content: str, key: str = "") -> None: ...


class SendError(Exception):
    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class LocalTransport:
    """No WeCom app configured: messages count as delivered once recorded; the simulator shows them."""

    def send_users(self, userids, msgtype, content, key="") -> list[str]:
        log.debug("local delivery to %d people", len(userids))
        return []

    def send_chat(self, chat_id, msgtype, content, key="") -> None:
        log.debug("local delivery to chat %s", chat_id)


class RateWindow:
    """Messages sent to each person in the last minute by this sender; shared by its pool, so it locks."""

    def __init__(self, per_minute: int = PER_MINUTE):
        self.per_minute, self._sent = per_minute, defaultdict(deque)
        self._lock = threading.Lock()

    def reserve(self, userids: list[str], now: datetime) -> float:
        """0 and the sends counted, or how long to wait before anyone in `userids` may get another message."""
        with self._lock:
            worst = 0.0
            for uid in userids:
                sent = self._sent[uid]
                while sent and (now - sent[0]).total_seconds() >= 60:
                    sent.popleft()
                if len(sent) >= self.per_minute:
                    worst = max(worst, 60 - (now - sent[0]).total_seconds())
            if worst == 0:
                for uid in userids:
                    self._sent[uid].append(now)
            return worst


class Sender:
    """Several of these may run (each web worker and the scheduler): a row's lease keeps it to one of them.

    Rows are claimed many at a time and what became of them is committed many at a time by the loop that
    calls `pump`, so a fan-out of thousands of texts costs a few hundred transactions instead of two per
    row. A row is never started once too little of its lease is left; a sent row stays leased until its
    outcome commits, and a crash in between is a resend that WeCom's duplicate check drops."""

    def __init__(self, db: Database, transport: Transport, clock: Clock, workers: int = WORKERS):
        self.db, self.transport, self.clock = db, transport, clock
        self.workers = workers  # the pool
        self.holder = uuid.uuid4().hex[:16]
        self.backoff_base_s = BACKOFF_BASE_S  # fault runs shorten it to fit WeCom's misbehaviour into seconds
        self.claim_per_worker = CLAIM_PER_WORKER
        self.window = RateWindow()
        self.wakeup = threading.Event()
        self._inflight: set[Future] = set()  # submitted and not finished (settle waits for them)
        self._inflight_lock = threading.Lock()  # never held across a database call: workers take it at the end
        self._troubled = threading.Event()  # a retryable failure since the last success
        self._claim_lock = threading.Lock()  # one claim at a time in this sender
        self._outcomes: list[Outcome] = []  # finished sends not committed yet
        self._first_outcome_at = 0.0  # time.monotonic() of the oldest of them
        self._outcomes_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    @property
    def workers(self) -> int:
        return self._workers

    @workers.setter
    def workers(self, count: int) -> None:
        """A pool of `count` threads from now on (tests narrow it; rows already started finish where they are)."""
        self._workers = count
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="outbox-send")  # the old one's end, unreferenced

    def close(self) -> None:
        """Let the pool's threads end: what is running finishes; rows not started yet are left to their
        lease, which runs out, and are sent by whoever claims them next (as after a crash). `settle` first
        for a clean stop."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def pump(self) -> int:
        """Commit what finished (when enough has, or long enough ago), then claim rows while fewer than two
        per worker are queued or running; returns how many started."""
        self._commit_due(idle=not self._inflight)
        with self._claim_lock:
            queued = len(self._inflight)
            room = self.workers * self.claim_per_worker - queued
            if queued >= 2 * self.workers or room <= 0:
                return 0
            with self.db.read() as session:
                if not outbox.any_due(session=session, now=self.clock.now()):
                    return 0
            with self.db.write() as session:
                rows = outbox.claim(
                    session=session,
                    now=self.clock.now(),
                    limit=room,
                    skip_locked=not self.db.is_sqlite,
                    holder=self.holder,
                )
            for row in rows:
                future = self._pool.submit(self._send, row)
                with self._inflight_lock:
                    self._inflight.add(future)
                future.add_done_callback(self._done)  # at once, in this thread, if it is done already
            return len(rows)

    def _done(self, future: Future) -> None:
        with self._inflight_lock:
            self._inflight.discard(future)
        if future.exception() is not None:
            log.error("outbox send failed unexpectedly: %r", future.exception())
        self.wakeup.set()

    def drain(self, max_rounds: int | None = None) -> int:
        """Send everything due now and wait for it (tests, benchmarks); returns rows handled. A round ends
        when a send finishes, so `max_rounds` (unbounded by default) is a safety bound, not a batch size."""
        total, rounds = 0, itertools.count()
        while max_rounds is None or next(rounds) < max_rounds:
            self.wakeup.clear()  # before looking, so a send finishing meanwhile still wakes the wait below
            started = self.pump()
            total += started
            if not started and not self._inflight:
                if self.wakeup.is_set():  # a send ended after pump looked (it may have made rows due): look again
                    continue
                if not self.commit():
                    break
                continue  # handed-back rows are due again
            self.wakeup.wait(self.patience(1.0))
        self.commit()  # max_rounds ran out: what has finished is on record, what is out commits later
        return total

    def patience(self, idle_s: float) -> float:
        """How long a pumping loop may sleep: not past the moment finished sends are due to commit."""
        return COMMIT_WITHIN_S if self._outcomes else idle_s

    def settle(self, timeout: float = 10.0) -> None:
        """Wait for the rows in flight and commit their outcomes (a clean stop), so none is sent again."""
        with self._inflight_lock:
            running = set(self._inflight)
        wait(running, timeout=timeout)
        self.commit()

    def _send(self, row: Row) -> None:
        now = self.clock.now()
        if row.next_attempt_at - now < timedelta(seconds=START_BY_S):  # claimed rows queued too long
            return self._record(Outcome(row, "release"))
        wait_s = self.window.reserve(row.recipients, now) if row.kind == "user" else 0
        if wait_s > 0:  # waiting for the per-person limit is not a failed attempt
            return self._fail(row, f"per-person limit, waiting {wait_s:.0f}s", retry_in=wait_s, count=False)
        try:
            rejected = self._deliver(row)
        except SendError as exc:
            log.warning("outbox %s (%s) failed: %s", row.id, row.key, exc)
            if exc.retryable:
                self._troubled.set()
            return self._fail(row, str(exc), retry_in=self._backoff(row.attempts) if exc.retryable else None)
        if rejected:
            log.warning("outbox %s (%s): WeCom refused %d userids: %s", row.id, row.key, len(rejected), rejected[:10])
        self._record(Outcome(row, "sent", rejected=rejected))
        if self._troubled.is_set():
            self._recovered()

    def _record(self, outcome: Outcome) -> None:
        with self._outcomes_lock:
            if not self._outcomes:
                self._first_outcome_at = time.monotonic()
            self._outcomes.append(outcome)

    def _commit_due(self, idle: bool) -> None:
        with self._outcomes_lock:
            waiting, since = len(self._outcomes), time.monotonic() - self._first_outcome_at
        if waiting and (idle or waiting >= COMMIT_EVERY or since >= COMMIT_WITHIN_S):
            self.commit()

    def commit(self) -> int:
        """Commit every finished send's outcome in one transaction; returns how many. On a database error
        they stay queued for the next round (their rows stay leased meanwhile)."""
        with self._commit_lock:
            with self._outcomes_lock:
                batch, self._outcomes = self._outcomes, []
            if not batch:
                return 0
            try:
                commit_outcomes(self.db, batch, self.clock.now(), self.holder)
            except Exception:
                with self._outcomes_lock:
                    self._outcomes[:0] = batch
                raise
            return len(batch)

    def _recovered(self) -> None:
        self._troubled.clear()
        self.commit()  # the failures recorded so far are backed off in the database, so hasten sees them
        with self.db.write() as session:
            hastened = outbox.hasten(session=session, now=self.clock.now())
        if hastened:
            log.info("WeCom answers again: %d messages waiting out a backoff are sent now", hastened)
        self.wakeup.set()

    def _deliver(self, row: Row) -> list[str]:
        """One call per 1000 recipients; the userids WeCom refused, spelled as in the row (WeCom lower-cases)."""
        if row.kind == "chat":
            self.transport.send_chat(row.chat_id, row.msgtype, row.content, key=row.key)
            return []
        refused: set[str] = set()
        for start in range(0, len(row.recipients), BATCH):
            part = row.recipients[start : start + BATCH]
            got = self.transport.send_users(part, row.msgtype, row.content, key=f"{row.key}:{start // BATCH}")
            refused |= {u.lower() for u in got or []}
        return [u for u in row.recipients if u.lower() in refused]

    def _backoff(self, attempts: int) -> float:
        return min(BACKOFF_CAP_S, self.backoff_base_s * 2 ** min(attempts, 20))

    def _fail(self, row: Row, error: str, retry_in: float | None, count: bool = True) -> None:
        retry_at = self.clock.now() + timedelta(seconds=retry_in) if retry_in is not None else None
        self._record(Outcome(row, "failed", error=error, retry_at=retry_at, count=count))


class SenderThread(threading.Thread):
    """Keeps the pool busy: claims more rows whenever a worker frees up, or every `interval` seconds."""

    def __init__(self, sender: Sender, interval: float = 1.0):
        super().__init__(name="outbox-sender", daemon=True)
        self.sender, self.interval, self.stopping = sender, interval, threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            pause = self.interval
            try:
                self.sender.pump()
                pause = self.sender.patience(self.interval)
            except Exception:  # the loop must outlive a database hiccup; a claimed row's lease runs out
                log.exception("outbox sender round failed")
            self.sender.wakeup.wait(pause)
            self.sender.wakeup.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.sender.wakeup.set()
        if self.is_alive():
            self.join(timeout=self.interval + 5)
        self.sender.settle()
