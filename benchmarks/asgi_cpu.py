"""Benchmark: a callback's CPU and Python calls inside the app, straight through ASGI (no sockets, no HTTP parser).

`python -m benchmarks.asgi_cpu [--requests 4000] [--concurrent 32] [--calls] [--db sqlite|postgres]`. The echo floor
(benchmarks/echo.py) and the real app (create_app: a clerk answering 填报, each callback a fresh encrypted
message) are called as ASGI apps by 32 coroutines at once on one event loop, as uvicorn would, so the turns
go through the lane and run on the loop. A third run puts a fixed answer in place of the dispatcher: what
the app costs around a turn (middleware, routing, the 4 s guard, the lane), against the floor's. `--calls`
counts Python calls per request with cProfile (the same on any machine, however busy). It prints; it asserts
nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections import deque
from pathlib import Path

from benchmarks.callbacks import Requests, prepare
from benchmarks.echo import create_echo_app
from benchmarks.reminders import on_chosen_database
from benchmarks.server import AT
from tests.wecom_keys import AES_KEY, CORP_ID, TOKEN


async def _call(app, query: bytes, body: bytes) -> None:
    sent, given = [], False

    async def receive():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # http.disconnect never comes while the answer is written

    async def send(message):
        sent.append(message)

    headers = [(b"host", b"bench"), (b"content-length", str(len(body)).encode()), (b"content-type", b"text/xml")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/wecom/callback",
        "raw_path": b"/wecom/callback",
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    if sent[0]["status"] != 200 or not sent[-1].get("body"):
        raise RuntimeError(f"the app answered {sent[0]['status']} with {sent[-1].get('body')!r}")


async def _drive(app, requests: list, concurrent: int) -> None:
    pending = iter(requests)

    async def client():
        for query, body in pending:
            await _call(app, query, body)

    await asyncio.gather(*(client() for _ in range(concurrent)))


def _read(path: Path) -> list[tuple[bytes, bytes]]:
    return [tuple(part.encode() for part in line.split("\t", 1)) for line in path.read_text().splitlines()]


def _measure(app, requests: list, args) -> tuple[float, float | None]:
    """(CPU seconds per request, Python calls per request or None)."""
    profile = cProfile.Profile() if args.calls else None
    started = time.process_time()
    if profile:
        profile.enable()
    asyncio.run(_drive(app, requests, args.concurrent))
    if profile:
        profile.disable()
    spent = (time.process_time() - started) / len(requests)
    return spent, (pstats.Stats(profile).total_calls / len(requests) if profile else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrent", type=int, default=32)
    parser.add_argument("--calls", action="store_true", help="count Python calls per request (cProfile)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    on_chosen_database(parser, args, run)


def run(label: str, url: str, args) -> None:
    from bot.app import create_app
    from bot.services import build_services
    from bot.settings import load_settings
    from handlers.base import Reply
    from storage.clock import FixedClock

    with tempfile.TemporaryDirectory() as tmp:
        clerks = prepare(url, argparse.Namespace(units=2000, clerks_per_unit=2))
        settings = load_settings(database_url=url, corp_id=CORP_ID, token=TOKEN, aes_key=AES_KEY, _env_file=None)
        services = build_services(settings, clock=FixedClock(AT))
        apps = {"floor (echo)": create_echo_app(TOKEN, AES_KEY, CORP_ID)}
        apps["turn (填报 answer)"] = create_app(settings, services=services, sender=False)
        gen, file, warm = Requests(1), Path(tmp) / "requests.txt", 500
        gen.write(file, warm + args.requests, None)
        echoes = _read(file)
        gen.write(file, 2 * (warm + args.requests), [deque(clerks)], 4 * args.concurrent)
        turns = _read(file)
        results = {}
        for name, app in apps.items():
            work = echoes if name.startswith("floor") else turns
            asyncio.run(_drive(app, work[:warm], args.concurrent))  # warm: roster view, statements, templates
            results[name] = _measure(app, work[warm : warm + args.requests], args)
        dispatcher = services.dispatcher
        dispatcher.dispatch_on_loop = dispatcher.dispatch_many = lambda work: [[Reply("已记录")] for _ in work]
        results["around a turn (fixed answer)"] = _measure(apps["turn (填报 answer)"], turns[warm:], args)
        services.close()
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(
        f"== {label}: in the app, through ASGI, {args.concurrent} at once, {args.requests} requests; load average {load}"
    )
    floor = results["floor (echo)"][0]
    for name, (cpu, calls) in results.items():
        counted = f", {calls:6.0f} Python calls" if calls is not None else ""
        print(f"{name:30s} {cpu * 1e6:6.0f} µs CPU per request ({cpu / floor:4.2f}× the floor){counted}")


if __name__ == "__main__":
    main()
