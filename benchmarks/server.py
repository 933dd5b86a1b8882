"""A benchmark server process: the echo floor or the real app, on a loopback port it prints, with counters.

`python -m benchmarks.server echo|turn|werobot [--url URL]`. The real app is create_app with
the clock fixed inside the 2013 self-check phase and its outbox sender on (as `kaohe serve`, without the
scheduler). Beside it, under /_bench/, counters of turns and SQL statements (a SQLAlchemy event); the service
itself has no such route. `werobot` is benchmarks/werobot_app.py (its session in the SQLite file --url), a WSGI
app under waitress (see serve_wsgi).
"""

from __future__ import annotations

import argparse
import contextvars
import gc
import json
import logging
import socket
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.wecom_keys import AES_KEY, CORP_ID, TOKEN

AT = datetime(2013, 12, 12, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # self-check phase: entries are open


class Counters:
    """Turns, transactions and statements: all of them, and those issued inside the dispatcher; and the
    garbage collector's passes and their time (gc.callbacks), whichever thread ran them."""

    def __init__(self):
        self.lock, self.inside = threading.Lock(), contextvars.ContextVar("inside", default=False)
        # (a context variable: on PostgreSQL batches run in greenlets on the loop, each with its own context)
        self.reset()
        self._gc_began = 0.0
        gc.callbacks.append(self._on_gc)

    def reset(self) -> None:
        with self.lock:
            self.turns = self.statements = self.turn_statements = self.batches = self.handed_off = 0
            self.gc_passes, self.gc_s, self.gc_full_s = [0, 0, 0], 0.0, 0.0

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
            return
        took = time.perf_counter() - self._gc_began
        with self.lock:
            self.gc_passes[info["generation"]] += 1
            self.gc_s += took
            if info["generation"] == 2:
                self.gc_full_s += took

    def on_statement(self, *_args) -> None:
        with self.lock:
            self.statements += 1
            self.turn_statements += self.inside.get()

    def counted_many(self, dispatch_many):
        """The lane's batches (dispatch_many on its thread, dispatch_on_loop on the event loop): every message
        in one counts as a turn once it is answered; a batch handed from the loop to the thread (HandOff)
        counts once, where it was answered, though its statements on the loop are counted."""

        def counted(work):
            token = self.inside.set(True)
            try:
                answers = dispatch_many(work)
            except Exception:
                with self.lock:
                    self.handed_off += 1
                raise
            finally:
                self.inside.reset(token)
            with self.lock:
                self.turns += len(work)
                self.batches += 1
            return answers

        return counted

    def as_dict(self) -> dict:
        with self.lock:
            return {
                "turns": self.turns,
                "statements": self.statements,
                "turn_statements": self.turn_statements,
                "batches": self.batches,
                "handed_off": self.handed_off,
                "gc_passes": list(self.gc_passes),
                "gc_ms": self.gc_s * 1e3,
                "gc_full_ms": self.gc_full_s * 1e3,
            }


class WithCounters:
    """ASGI wrapper: /_bench/stats reads the counters, /_bench/mark reads and zeroes them; with ?count=1 the
    SQL statements are counted from then on, with ?count=0 no longer (`counting`, where the app has them)."""

    def __init__(self, app, counters: Counters, counting=None):
        self.app, self.counters, self.counting = app, counters, counting

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/_bench/"):
            return await self.app(scope, receive, send)
        body = json.dumps(self.counters.as_dict()).encode()
        if scope["path"] == "/_bench/mark":
            self.counters.reset()
        count = scope["query_string"].decode().partition("count=")[2][:1]
        if count and self.counting is not None:
            self.counting(count == "1")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def turn_app(url: str, counters: Counters):
    from sqlalchemy import event

    from bot.app import create_app
    from bot.services import build_services
    from bot.settings import load_settings
    from storage.clock import FixedClock

    settings = load_settings(database_url=url, corp_id=CORP_ID, token=TOKEN, aes_key=AES_KEY, _env_file=None)
    services = build_services(settings, clock=FixedClock(AT))
    # The statement counter is a SQLAlchemy event listener, which costs each statement a call (about 3 % of
    # the turn's CPU in a profile): it listens only while the benchmark counts (/_bench/mark?count=1), in a
    # run of its own, never in a measured one. A transaction asks whether anyone listens when it begins.
    engine = services.db.engine

    def counting(on: bool) -> None:
        if on != event.contains(engine, "before_cursor_execute", counters.on_statement):
            (event.listen if on else event.remove)(engine, "before_cursor_execute", counters.on_statement)

    # callbacks reach the dispatcher through the turn lane, one dispatch_many per transaction
    services.dispatcher.dispatch_many = counters.counted_many(services.dispatcher.dispatch_many)
    services.dispatcher.dispatch_on_loop = counters.counted_many(services.dispatcher.dispatch_on_loop)
    return create_app(settings, services=services, sender=True, scheduler=False), counting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=("echo", "turn", "werobot"))
    parser.add_argument("--url", default="", help="the database (turn), the session file (werobot)")
    parser.add_argument("--werobot-wal", action="store_true", help="its session in WAL, synchronous=NORMAL")
    parser.add_argument(
        "--loop", default="auto", help="uvicorn's event loop: auto (uvloop when installed, as kaohe serve), asyncio"
    )
    parser.add_argument(
        "--http",
        default="auto",
        choices=("auto", "httptools", "h11"),
        help="uvicorn's HTTP protocol: auto, httptools, h11 (as kaohe serve)",
    )
    args = parser.parse_args()
    import uvicorn

    from bot.http_guard import protocol

    logging.basicConfig(level=logging.WARNING)
    counters = Counters()
    if args.app == "werobot":
        from benchmarks.werobot_app import WithCounters as WsgiCounters
        from benchmarks.werobot_app import create_werobot

        robot = create_werobot(TOKEN, AES_KEY, CORP_ID, args.url, wal=args.werobot_wal)
        return serve_wsgi(WsgiCounters(robot, counters), _listen())
    if args.app == "echo":
        from benchmarks.echo import create_echo_app

        app, counting = create_echo_app(TOKEN, AES_KEY, CORP_ID), None
    else:
        app, counting = turn_app(args.url, counters)
    config = uvicorn.Config(
        WithCounters(app, counters, counting),
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop=args.loop,
        http=protocol(args.http),  # kaohe serve's protocol, with its deadline for request heads
    )
    uvicorn.Server(config).run(sockets=[_listen()])


def _listen() -> socket.socket:
    """A loopback socket on a free port, which is printed for benchmarks.callbacks to read."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it each
    # keep-alive answer waits ~40 ms for a delayed ACK (as `kaohe serve` gets from getaddrinfo).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    return sock


def serve_wsgi(app, sock: socket.socket) -> None:
    """One process, one thread: WeRoBot's default session shares one sqlite3 connection among threads, and
    with two or more (waitress, gunicorn gthread) some answers come back empty ("cannot commit - no
    transaction is active"). Waitress is what WeRoBot's own `robot.run()` picks when installed (bottle's
    "auto"), and was the fastest single-threaded server for it: 621/s against gunicorn's gthread worker 383/s,
    its sync worker (no keep-alive) 194/s, uvicorn through a2wsgi 102/s (one wrk run each, load average 2)."""
    import waitress

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth is N" at every burst
    sock.listen(1024)
    waitress.serve(app, sockets=[sock], threads=1, _quiet=True)


if __name__ == "__main__":
    main()
