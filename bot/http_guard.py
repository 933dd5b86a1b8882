"""uvicorn's HTTP protocols (httptools, else h11) with a deadline for each request's head (line and headers).

uvicorn has none: a connection that sends nothing after connecting, or a header line a minute, is kept for
ever (its keep-alive timer runs only between requests and stops at the first byte), and enough of them use up
the process's connections and file descriptors (slowloris). Here a request's head must be whole within
KAOHE_HEADER_TIMEOUT_S of the connection opening or of the last response; otherwise the client gets 408 and
the connection is closed, with one line in the log. The body has its own deadline (bot/body_guard.py).
A head is also at most MAX_HEAD_BYTES (h11's own limit; httptools has none and keeps a header line or URL
however long it grows): a longer one is answered 431 and its connection closed.

`kaohe serve --http auto|httptools|h11` picks the parser: auto is httptools (C, llhttp; a dependency) when it
can be imported, as uvicorn's own auto. It cost a callback about 130 µs less CPU than h11 (pure Python) in
`make bench-callbacks`. Each is given to uvicorn as an import string (`http=`), which works with --workers."""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)
PROTOCOLS = {"h11": "bot.http_guard:HeaderDeadlineH11", "httptools": "bot.http_guard:HeaderDeadlineHttpTools"}
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_TOO_BIG = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_HEAD_BYTES = 16 * 1024  # h11's max_incomplete_event_size, which uvicorn's h11 protocol keeps
_from_settings: list[float] = []


def httptools_installed() -> bool:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return False
    return True


def protocol(http: str = "auto") -> str:
    """uvicorn's `http=` for `auto`, `httptools` or `h11` (auto: httptools when it can be imported)."""
    if http == "auto":
        http = "httptools" if httptools_installed() else "h11"
    return PROTOCOLS[http]


class _HeadDeadline:
    """The head's timer; the protocol arms it when a head may begin and disarms it when the head is whole."""

    timeout: float | None = None  # seconds; None: KAOHE_HEADER_TIMEOUT_S
    parser_name = ""
    _head_deadline: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(_deadline(self), self._too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self._refuse(_TIMED_OUT, f"no whole request head within {_deadline(self):.0f} s")

    def _refuse(self, answer: bytes, why: str) -> None:
        """Answer (408, 431), close the connection, and say so in one log line."""
        self._disarm()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("closed a connection from %s: %s", client, why)
        self.transport.write(answer)
        self.transport.close()


class HeaderDeadlineH11(_HeadDeadline, H11Protocol):
    parser_name = "h11"

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the head is whole (or the connection is done with)
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # the next request's head, on a kept-alive connection


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: `--http auto` is h11
    pass
else:

    class HeaderDeadlineHttpTools(_HeadDeadline, HttpToolsProtocol):
        parser_name = "httptools"
        _head_bytes = 0  # received since the last head was whole, while no body was being read
        _in_body = False

        def data_received(self, data: bytes) -> None:
            if not self._in_body:  # a head's bytes (a chunk that begins in a body is the body's)
                self._head_bytes += len(data)
            super().data_received(data)
            if not self._in_body and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._refuse(_TOO_BIG, f"a request head over {MAX_HEAD_BYTES} bytes")

        def on_headers_complete(self) -> None:
            self._disarm()  # the head is whole: its request runs (or waits behind the one before it)
            self._head_bytes, self._in_body = 0, True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_body = False
            super().on_message_complete()

        def on_response_complete(self) -> None:
            next_is_whole = bool(self.pipeline)  # a pipelined request whose head came whole: it starts now
            super().on_response_complete()
            if not self.transport.is_closing() and not next_is_whole:
                self._arm()  # the next request's head, on a kept-alive connection


def _deadline(protocol: _HeadDeadline) -> float:
    if protocol.timeout is not None:
        return protocol.timeout
    if not _from_settings:  # once a process, at its first connection (the settings were checked at start)
        from bot.settings import load_settings

        _from_settings.append(load_settings().header_timeout_s)
        log.info("http: %s, a request's head within %.0f s", protocol.parser_name, _from_settings[0])
    return _from_settings[0]
