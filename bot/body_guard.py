"""An ASGI guard on request bodies: a body not received in time is a 408 and a closed connection, and a
client that leaves mid-body is one warning line (uvicorn has no body-read timeout of its own)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class BodyGuard:
    """Each request's body has `read_s` from its first read. One timer per event loop watches every body
    being read (as the turn lane watches its messages' deadlines): a timeout per request armed and cancelled
    a timer of its own on every callback, 5 µs of each (benchmarks/asgi_cpu.py). The deadlines come in the
    order the bodies' first reads did, so the first one waiting is the next one due."""

    def __init__(self, app: ASGIApp, read_s: float) -> None:
        self.app, self.read_s = app, read_s
        self._reading: dict[asyncio.AbstractEventLoop, deque[_Body]] = {}  # per loop, bodies being read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = _Body(scope)

        async def guarded() -> Message:
            if body.done:
                return await receive()  # after the body only http.disconnect comes: no deadline on it
            if body.deadline is None:
                self._watch(body)
            if body.expired:  # its time ran out while the app was not waiting for it
                raise body.too_late(self.read_s)
            body.waiting = True
            try:
                message = await receive()
            except asyncio.CancelledError:
                # cancelled by _expire, and by nobody else (then the cancellation is theirs and goes on)
                if body.expired and body.task is not None and body.task.uncancel() == 0:
                    raise body.too_late(self.read_s) from None
                raise
            finally:
                body.waiting = False
            if message["type"] == "http.request":
                body.bytes += len(message.get("body", b""))
                body.done = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                body.done = True
                log.warning("%s: client disconnected after %d bytes of the body", body.where(), body.bytes)
            return message

        try:
            await self.app(scope, guarded, send)
        except ClientDisconnect:
            pass  # logged above, once; there is nobody to answer

    def _watch(self, body: _Body) -> None:
        loop = asyncio.get_running_loop()
        body.deadline, body.task = loop.time() + self.read_s, asyncio.current_task()
        reading = self._reading.setdefault(loop, deque())
        # the bodies read in full at the front go now, not at the timer; one always stays, so the timer armed
        # for this deque finds it non-empty (only _expire empties it) and there is one chain of timers
        while len(reading) > 1 and reading[0].done:
            reading.popleft()
        reading.append(body)
        if len(reading) == 1:
            loop.call_at(body.deadline, self._expire, loop, reading)

    def _expire(self, loop: asyncio.AbstractEventLoop, reading: deque[_Body]) -> None:
        now = loop.time()
        while reading and (reading[0].done or reading[0].deadline <= now):
            body = reading.popleft()
            if body.done:
                continue
            body.expired = True
            if body.waiting and body.task is not None:  # else the app's next read raises it
                body.task.cancel()
        if reading:
            loop.call_at(reading[0].deadline, self._expire, loop, reading)
        elif self._reading.get(loop) is reading:  # none left: the next body arms a new timer
            del self._reading[loop]  # (and a closed loop is not kept)


class _Body:
    __slots__ = ("scope", "deadline", "task", "bytes", "done", "waiting", "expired")

    def __init__(self, scope: Scope) -> None:
        self.scope, self.deadline, self.task = scope, None, None
        self.bytes, self.done, self.waiting, self.expired = 0, False, False, False

    def where(self) -> str:
        return f"{self.scope['method']} {self.scope['path']}"

    def too_late(self, read_s: float) -> HTTPException:
        log.warning(
            "%s: body not received within %.0f s (%d bytes came); answered 408 and closed",
            self.where(),
            read_s,
            self.bytes,
        )
        # An HTTPException passes FastAPI's body parsing and becomes the answer; "close" ends the
        # connection, so the rest of the declared body is never waited for.
        return HTTPException(408, "request body not received in time", {"Connection": "close"})
