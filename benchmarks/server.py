"""A benchmark server process: the echo floor or the real app, on a loopback port it prints, with counters.

`python -m benchmarks.server echo|turn [--url URL]`. The real app is create_app with the clock fixed inside
the 2013 self-check phase and its outbox sender on (as `kaohe serve`, without the scheduler). Beside it,
under /_bench/, counters of turns and SQL statements (a SQLAlchemy event); the service itself has no such route.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.wecom_client_side import AES_KEY, CORP_ID, TOKEN

AT = datetime(2013, 12, 12, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # self-check phase: entries are open


class Counters:
    """Turns, transactions and statements: all of them, and those issued inside the dispatcher."""

    def __init__(self):
        self.lock, self.inside = threading.Lock(), threading.local()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.turns = self.statements = self.turn_statements = self.batches = 0

    def on_statement(self, *_args) -> None:
        with self.lock:
            self.statements += 1
            self.turn_statements += bool(getattr(self.inside, "on", False))

    def counted_many(self, dispatch_many):
        """The lane's batches: every message in one counts as a turn."""

        def counted(work):
            self.inside.on = True
            try:
                return dispatch_many(work)
            finally:
                self.inside.on = False
                with self.lock:
                    self.turns += len(work)
                    self.batches += 1

        return counted

    def as_dict(self) -> dict:
        with self.lock:
            return {
                "turns": self.turns,
                "statements": self.statements,
                "turn_statements": self.turn_statements,
                "batches": self.batches,
            }


class WithCounters:
    """ASGI wrapper: GET /_bench/stats reads the counters, POST /_bench/mark zeroes them."""

    def __init__(self, app, counters: Counters):
        self.app, self.counters = app, counters

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/_bench/"):
            return await self.app(scope, receive, send)
        if scope["path"] == "/_bench/mark":
            self.counters.reset()
        body = json.dumps(self.counters.as_dict()).encode()
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
    event.listen(services.db.engine, "before_cursor_execute", counters.on_statement)
    # callbacks reach the dispatcher through the turn lane, one dispatch_many per transaction
    services.dispatcher.dispatch_many = counters.counted_many(services.dispatcher.dispatch_many)
    return create_app(settings, services=services, sender=True, scheduler=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=("echo", "turn"))
    parser.add_argument("--url", default="", help="the database (turn only)")
    args = parser.parse_args()
    import uvicorn

    logging.basicConfig(level=logging.WARNING)
    counters = Counters()
    if args.app == "echo":
        from benchmarks.echo import create_echo_app

        app = create_echo_app(TOKEN, AES_KEY, CORP_ID)
    else:
        app = turn_app(args.url, counters)
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it each
    # keep-alive answer waits ~40 ms for a delayed ACK (as `kaohe serve` gets from getaddrinfo).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(WithCounters(app, counters), log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
