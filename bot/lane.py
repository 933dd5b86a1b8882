"""The turn lane: callbacks wait in the event loop while one thread handles the messages queued, together."""

# SQLite has one writer. Thirty-two request threads each waiting for it spend more on the wait (the GIL,
# the write lock, a wake-up per answer) than on their turn, and each pays its own BEGIN and COMMIT.
# Here a callback queues its message and awaits a future; one thread takes whatever is queued (up to
# `batch` messages), hands it to Dispatcher.dispatch_many (one transaction, one commit), and then
# resolves the futures in one call into the event loop. Messages are handled in the order they came.

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque

from handlers.base import Inbound, Reply
from handlers.dispatch import Dispatcher

log = logging.getLogger(__name__)


class TurnLane:
    def __init__(self, dispatcher: Dispatcher, batch: int = 32):
        self.dispatcher, self.batch = dispatcher, max(1, batch)
        self._queue: deque = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = self.messages = 0  # how many transactions carried how many messages

    async def dispatch(self, inbound: Inbound, passive_bytes: int | None = None) -> list[Reply]:
        """What Dispatcher.dispatch answers, handled on the lane; raises what it raises."""
        return await self.submit(inbound, passive_bytes)

    def submit(self, inbound: Inbound, passive_bytes: int | None = None) -> asyncio.Future:
        """Queue a message; the future (of the running event loop) gets its answer or its exception."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the turn lane is closed")
            self._queue.append((inbound, passive_bytes, future, loop))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="turn-lane", daemon=True)
                self._thread.start()
            self._ready.notify()
        return future

    def close(self, timeout: float = 10.0) -> None:
        """Handle what is queued, then stop the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                taken = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            try:
                outcomes = self.dispatcher.dispatch_many([(inbound, passive) for inbound, passive, _, _ in taken])
            except Exception as exc:  # dispatch_many hands out each failure; this is a last resort
                log.exception("the turn lane could not handle %d messages", len(taken))
                outcomes = [exc] * len(taken)
            self.batches, self.messages = self.batches + 1, self.messages + len(taken)
            by_loop: dict = {}
            for (_, _, future, loop), outcome in zip(taken, outcomes, strict=True):
                by_loop.setdefault(loop, []).append((future, outcome))
            for loop, settled in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, settled)
                except RuntimeError:  # that event loop has closed: nobody is waiting any more
                    log.warning("%d answers had nobody left to wait for them", len(settled))


def _settle(settled: list) -> None:
    for future, outcome in settled:
        if future.cancelled():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
