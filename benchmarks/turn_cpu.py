"""Benchmark: CPU per answer turn straight into the dispatcher, one thread, alone and in batches as the lane runs them.

`python -m benchmarks.turn_cpu [--turns 3000] [--batch 16] [--db sqlite|postgres] [--on-loop] [--profile]`. The same
clerks and 填报 answers as benchmarks/callbacks.py, without HTTP or crypto: the steadiest figure on a busy
machine, and the one to profile (`--profile` prints cProfile's top functions). It measures and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import deque

from sqlalchemy.util.concurrency import greenlet_spawn

from benchmarks.callbacks import prepare
from benchmarks.reminders import on_chosen_database
from benchmarks.server import AT
from bot.services import build_services
from bot.settings import load_settings
from handlers.base import Inbound
from storage.clock import FixedClock


def messages(clerks, count: int) -> list[Inbound]:
    """Each clerk's whole 填报 in order (the opening, then an answer per item), clerk after clerk."""
    out, pool, n = [], deque(clerks), 0
    while len(out) < count:
        clerk = pool.popleft()
        for _ in range(clerk.questions + 1):
            text, _expected = clerk.next_text()
            n += 1
            out.append(Inbound("app", clerk.userid, text, f"app:msg:{clerk.userid}:{n}"))
        pool.append(clerk)
    return out[:count]


def measure(dispatcher, work: list[Inbound], batch: int, on_loop: bool = False) -> float:
    if on_loop:  # as bot/lane.py runs a batch on PostgreSQL: in a greenlet on the event loop
        return asyncio.run(_on_loop(dispatcher, work, batch))
    started = time.process_time()
    for i in range(0, len(work), batch):
        chunk = work[i : i + batch]
        if batch == 1:
            dispatcher.dispatch(chunk[0], 2048)
        else:
            outcomes = dispatcher.dispatch_many([(m, 2048) for m in chunk])
            failed = [o for o in outcomes if isinstance(o, Exception)]
            if failed:
                raise failed[0]
    return (time.process_time() - started) / len(work)


async def _on_loop(dispatcher, work: list[Inbound], batch: int) -> float:
    started = time.process_time()
    for i in range(0, len(work), batch):
        await greenlet_spawn(dispatcher.dispatch_on_loop, [(m, 2048) for m in work[i : i + batch]])
    return (time.process_time() - started) / len(work)


def run(label: str, url: str, args) -> None:
    clerks = prepare(url, argparse.Namespace(units=2000, clerks_per_unit=2))
    services = build_services(load_settings(database_url=url, _env_file=None), clock=FixedClock(AT))
    work = messages(clerks, 500 + 2 * args.turns)
    measure(services.dispatcher, work[:500], 1)  # warm: the roster view, compiled statements, templates
    alone = measure(services.dispatcher, work[500 : 500 + args.turns], 1)
    on_loop = args.on_loop and not services.db.is_sqlite
    profile = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not the waits
    if profile:
        profile.enable()
    together = measure(services.dispatcher, work[500 + args.turns :], args.batch, on_loop)
    if profile:
        profile.disable()
    print(
        f"{label}: CPU per answer turn, one thread: alone {alone * 1e6:.0f} µs, in batches of {args.batch} "
        f"{together * 1e6:.0f} µs{' on the event loop' if on_loop else ''}{' (profiled)' if profile else ''}; "
        f"load average "
        f"{' '.join(open('/proc/loadavg').read().split()[:3])}",
        flush=True,
    )
    if profile:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(40)
    services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative", help="cProfile's order: cumulative, tottime, …")
    parser.add_argument("--on-loop", action="store_true", help="PostgreSQL: batches as the lane runs them there")
    args = parser.parse_args()
    on_chosen_database(parser, args, run)


if __name__ == "__main__":
    main()
