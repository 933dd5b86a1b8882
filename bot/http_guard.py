"""uvicorn's h11 protocol with a deadline for each request's head (request line and headers).

uvicorn has none: a connection that sends nothing after connecting, or a header line a minute, is kept for
ever (its keep-alive timer runs only between requests and stops at the first byte), and enough of them use up
the process's connections and file descriptors (slowloris). Here a request's head must be whole within
KAOHE_HEADER_TIMEOUT_S of the connection opening or of the last response; otherwise the client gets 408 and
the connection is closed, with one line in the log. The body has its own deadline (bot/body_guard.py).
`kaohe serve` runs with it (`http="bot.http_guard:HeaderDeadlineH11"`)."""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)
PROTOCOL = "bot.http_guard:HeaderDeadlineH11"  # for uvicorn's `http=` (an import string works with --workers)
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_from_settings: list[float] = []


class HeaderDeadlineH11(H11Protocol):
    timeout: float | None = None  # seconds; None: KAOHE_HEADER_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the head is whole (or the connection is done with)
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # the next request's head, on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(_deadline(self), self._too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_head_deadline", None) is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("closed a connection from %s: no whole request head within %.0f s", client, _deadline(self))
        self.transport.write(_TIMED_OUT)
        self.transport.close()


def _deadline(protocol: HeaderDeadlineH11) -> float:
    if protocol.timeout is not None:
        return protocol.timeout
    if not _from_settings:  # once a process, at its first connection (the settings were checked at start)
        from bot.settings import load_settings

        _from_settings.append(load_settings().header_timeout_s)
    return _from_settings[0]
