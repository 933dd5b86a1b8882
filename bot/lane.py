"""The turn lane: callbacks wait in the event loop while their messages are handled together, on the loop
itself when that cannot stall it (SQLite: lock free, nothing heavy; PostgreSQL: awaiting the server, in
greenlets), else on one thread."""

# SQLite has one writer. Thirty-two request threads each waiting for it spend more on the wait (the GIL,
# the write lock, a wake-up per answer) than on their turn, and each pays its own BEGIN and COMMIT.
# Here a callback queues its message and awaits a future, and the messages waiting go in one transaction.
# On SQLite the event loop runs that transaction itself, right after the callbacks that queued them: a
# second busy thread would take the GIL from the loop for every statement (benchmarks/callbacks.py: CPU
# per turn 1.8 -> 1.2-1.3 ms). It never waits there: a held write lock (another thread, the scheduler's
# process) or a heavy turn (Turn.heavy: a document, the whole city) raises HandOff with nothing kept, and
# the same messages go to the thread, which may wait. While the thread has messages, new ones follow them
# there, so one person's messages are always handled in the order they came.
# On PostgreSQL the loop runs each batch in a greenlet (SQLAlchemy's greenlet_spawn) whose waits for the
# server are the loop's (storage/pgwire.py, Database.write_awaiting), so the loop serves other requests
# meanwhile, and up to `flights` batches are in the air at once, each on its own connection. None takes a
# person another has (that person's messages wait behind it, in order); a batch handed off waits until
# none is in the air, then all that was handed off goes to the thread in the order the batches took off.
# (benchmarks/callbacks.py --db postgres, alternating with the thread: 574 -> 667/s, medians of four.)

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy.util.concurrency import greenlet_spawn

from bot.heap import HeapKeeper
from handlers.base import Inbound, Reply
from handlers.dispatch import Dispatcher
from storage.db import HandOff

log = logging.getLogger(__name__)
SLOW_ON_LOOP_S = 0.1  # a batch on the loop longer than this held every other request up: said in the log


class TurnLane:
    def __init__(
        self,
        dispatcher: Dispatcher,
        batch: int = 32,
        *,
        on_loop: bool = False,
        heap: HeapKeeper | None = None,
        flights: int = 2,
    ):
        self.dispatcher, self.batch = dispatcher, max(1, batch)
        self.on_loop = on_loop
        # PostgreSQL: batches run in greenlets on the loop and await the server (storage/pgwire.py), up to
        # `flights` at once, each on its own connection, none with a person another has (their order)
        self.awaits = on_loop and not dispatcher.db.is_sqlite
        self.flights = max(1, flights)
        self._flights: dict[int, tuple[asyncio.Task, frozenset]] = {}  # in the air: task, people
        self._landed: list[tuple[int, list]] = []  # handed off, for the thread once none is in the air
        self._flown = itertools.count()
        self.heap = heap or HeapKeeper(enabled=False)
        self._queue: deque = deque()  # the thread's
        self._waiting: list = []  # the loop's, handled at its next turn
        self._on_thread = 0  # messages queued for or being handled on the thread
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = self.messages = 0  # how many transactions carried how many messages
        self.handed_off = 0  # batches tried on the loop and handled on the thread
        self._deadlines: dict[asyncio.AbstractEventLoop, deque] = {}  # per loop, messages waiting with one

    async def dispatch(self, inbound: Inbound, passive_bytes: int | None = None) -> list[Reply]:
        """What Dispatcher.dispatch answers, handled on the lane; raises what it raises."""
        return await self.submit(inbound, passive_bytes)

    def submit(
        self,
        inbound: Inbound,
        passive_bytes: int | None = None,
        *,
        within: float | None = None,
        late: Callable[[list[Reply] | Exception], None] | None = None,
    ) -> asyncio.Future:
        """Queue a message; the future (of the running event loop) gets its answer or its exception. With
        `within`: if no answer has come after that many seconds, the future gets None instead and `late`
        (on the loop) gets the answer or the exception once it comes; the work goes on either way."""
        loop = asyncio.get_running_loop()
        item = _Message(inbound, passive_bytes, loop.create_future(), loop, late)
        if within is not None:
            self._watch(item, loop.time() + within)
        with self._ready:
            if self._closed:
                raise RuntimeError("the turn lane is closed")
            if self.on_loop and not self._on_thread:
                self._waiting.append(item)
                if len(self._waiting) == 1 and self.awaits:
                    loop.call_soon(self._run_on_loop)
                elif len(self._waiting) == 1:
                    # SQLite: not at the loop's next turn but the one after, so the requests read in the same
                    # round of I/O, which reach here a callback later (uvloop runs them after this one),
                    # join the batch (benchmarks/callbacks.py on uvloop: 10.5 -> 21-30 turns a commit,
                    # 1,760-1,829 -> 2,007-2,079/s). Not on PostgreSQL, whose batches overlap in flights:
                    # there it made them larger and fewer at once (1,314-1,380 -> 1,232-1,239/s)
                    loop.call_soon(loop.call_soon, self._run_on_loop)
            else:
                self._to_thread([item])
        return item.future

    def _watch(self, item: _Message, deadline: float) -> None:
        """One timer per loop for every message's deadline (a timeout and a shield per message were 66 of a
        callback's 863 Python calls): messages wait in the order they came, so the first's is the next."""
        item.deadline = deadline
        waiting = self._deadlines.setdefault(item.loop, deque())
        # the answered ones at the front go now, not at the next timer: kept for the whole `within` (4 s),
        # each with its future, answer and message, they were some 8,000 messages alive at 2,000 turns a
        # second, which every young pass of the garbage collector walked. One always stays: the timer armed
        # for this deque finds it non-empty (only _expire empties it)
        while len(waiting) > 1 and waiting[0].future.done():
            waiting.popleft()
        waiting.append(item)
        if len(waiting) == 1:
            item.loop.call_at(deadline, self._expire, item.loop, waiting)

    def _expire(self, loop: asyncio.AbstractEventLoop, waiting: deque) -> None:
        now = loop.time()
        while waiting and (waiting[0].future.done() or waiting[0].deadline <= now):
            item = waiting.popleft()
            if not item.future.done():
                item.expired = True
                item.future.set_result(None)
        if waiting:
            loop.call_at(waiting[0].deadline, self._expire, loop, waiting)
        elif self._deadlines.get(loop) is waiting:  # none left: the next message arms a new timer
            del self._deadlines[loop]  # (and a closed loop is not kept)

    def close(self, timeout: float = 10.0) -> None:
        """Handle what is queued, then stop the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run_on_loop(self) -> None:
        if self.awaits:
            self._take_off()
            return
        with self._ready:
            taken, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
            if self._waiting:
                asyncio.get_running_loop().call_soon(self._run_on_loop)
            if not taken:  # handed to the thread with a batch before them
                return
        started = time.perf_counter()
        try:
            outcomes = self.dispatcher.dispatch_on_loop([(m.inbound, m.passive_bytes) for m in taken])
        except HandOff as why:
            self._hand_off(taken, why)
            return
        self._log_slow(taken, time.perf_counter() - started)
        self._done(taken, outcomes)

    def _take_off(self) -> None:
        """PostgreSQL: start batches while fewer than `flights` are in the air and none has been handed off.
        A person with a message in the air, or one left behind, waits with all that person's later ones."""
        loop = asyncio.get_running_loop()
        while len(self._flights) < self.flights and not self._landed and self._waiting:
            held = set().union(*(people for _, people in self._flights.values()))
            with self._ready:
                taken, behind = [], []
                for item in self._waiting:
                    if len(taken) < self.batch and item.inbound.userid not in held:
                        taken.append(item)
                    else:
                        behind.append(item)
                        held.add(item.inbound.userid)
                self._waiting = behind
            if not taken:
                return
            number = next(self._flown)
            task = loop.create_task(self._await_batch(number, taken))  # it starts at the loop's next step
            self._flights[number] = (task, frozenset(item.inbound.userid for item in taken))

    async def _await_batch(self, number: int, taken: list) -> None:
        """dispatch_on_loop in a greenlet, whose waits for the server are awaited here. Handed off, the
        batch waits for the others in the air; then all that was handed off goes to the thread in the
        order the batches took off, with the messages waiting behind them."""
        try:
            outcomes = await greenlet_spawn(
                self.dispatcher.dispatch_on_loop, [(m.inbound, m.passive_bytes) for m in taken]
            )
        except HandOff as why:
            log.debug("%d messages handed to the lane's thread: %s", len(taken), why)
            self._landed.append((number, taken))
        except BaseException:  # cancelled (the loop is closing): the thread still answers them
            self._landed.append((number, taken))
            raise
        else:  # (however long it took, the loop served others meanwhile: nothing for the slow log)
            self._done(taken, outcomes)
        finally:
            del self._flights[number]
            if self._landed and not self._flights:
                landed = [item for _, batch in sorted(self._landed, key=lambda flight: flight[0]) for item in batch]
                self._landed = []
                self._hand_off(landed, None)
            elif self._waiting:
                asyncio.get_running_loop().call_soon(self._run_on_loop)

    def _hand_off(self, taken: list, why: BaseException | None) -> None:
        if why is not None:
            log.debug("%d messages handed to the lane's thread: %s", len(taken), why)
        with self._ready:
            self.handed_off += 1
            self._to_thread(taken + self._waiting)  # and the ones behind them, to keep their order
            self._waiting = []

    @staticmethod
    def _log_slow(taken: list, took: float) -> None:
        if took > SLOW_ON_LOOP_S:
            log.warning(
                "%d messages on the event loop took %.0f ms (first %s)",
                len(taken),
                took * 1e3,
                taken[0].inbound.msg_key,
            )

    def _to_thread(self, items: list) -> None:
        """Under self._ready."""
        self._queue.extend(items)
        self._on_thread += len(items)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="turn-lane", daemon=True)
            self._thread.start()
        self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                taken = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            try:
                outcomes = self.dispatcher.dispatch_many([(m.inbound, m.passive_bytes) for m in taken])
            except Exception as exc:  # dispatch_many hands out each failure; this is a last resort
                log.exception("the turn lane could not handle %d messages", len(taken))
                outcomes = [exc] * len(taken)
            with self._ready:
                self._on_thread -= len(taken)  # committed: a message after these may run on the loop
            self._done(taken, outcomes)

    def _done(self, taken: list, outcomes: list) -> None:
        self.batches, self.messages = self.batches + 1, self.messages + len(taken)
        self.heap.after(len(taken), self.dispatcher.directory.generation)
        here = _running_loop()
        by_loop: dict = {}
        for item, outcome in zip(taken, outcomes, strict=True):
            by_loop.setdefault(item.loop, []).append((item, outcome))
        for loop, settled in by_loop.items():
            if loop is here:
                _settle(settled)
                continue
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # that event loop has closed: nobody is waiting any more
                log.warning("%d answers had nobody left to wait for them", len(settled))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Message:
    __slots__ = ("inbound", "passive_bytes", "future", "loop", "late", "deadline", "expired")

    def __init__(self, inbound, passive_bytes, future, loop, late):
        self.inbound, self.passive_bytes, self.future, self.loop, self.late = inbound, passive_bytes, future, loop, late
        self.deadline, self.expired = None, False


def _settle(settled: list) -> None:
    for item, outcome in settled:
        if item.expired:  # its caller answered without it: the answer goes the late way
            if item.late is not None:
                item.late(outcome)
        elif item.future.cancelled():
            continue
        elif isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)
