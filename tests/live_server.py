"""Fault-run helpers: a clock that moves in real time from a campaign moment, the app on a loopback port, and a
clerk posting real encrypted callbacks and timing the answers."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
import uvicorn

from storage.clock import Clock
from tests.wecom_client_side import envelope, open_reply, text_xml


class ShiftedClock(Clock):
    """Real time moved to `at`: retries and leases run out as they would, inside the campaign's dates."""

    def __init__(self, at: datetime):
        self.offset = at - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class LiveServer:
    """An ASGI app served by uvicorn in a thread, on an ephemeral loopback port."""

    def __init__(self, app):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        give_up = time.monotonic() + 30
        while not self.server.started and time.monotonic() < give_up:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@dataclass
class Clerk:
    """One person typing: each line a real encrypted callback to `url`, each answer decrypted and timed."""

    url: str
    userid: str
    seconds: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    def say(self, text: str, url: str | None = None) -> str:
        params, body = envelope(text_xml(self.userid, text))
        started = time.perf_counter()
        answer = requests.post(f"{url or self.url}/wecom/callback", params=params, data=body, timeout=30)
        self.seconds.append(time.perf_counter() - started)
        self.statuses.append(answer.status_code)
        reply = open_reply(answer.text) if answer.status_code == 200 and answer.text else ""
        self.replies.append(reply)
        return reply
