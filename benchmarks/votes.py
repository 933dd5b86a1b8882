"""Benchmark: 10,000 voters in 200 liaison groups cast sealed ballots at once through /wecom/callback.

`python -m benchmarks.votes [--groups 200] [--units-per-group 10] [--clerks-per-unit 5] [--connections 32]
[--db sqlite|postgres]`. Each voter's `投票 a b` is a real encrypted app callback (built before timing);
the app seals every ballot (HMAC voter hash, AES-GCM choices) in its own uvicorn process. The load comes
from a low-cost driver: `--connections` threads, each with one keep-alive http.client connection, sending
their share of the prepared requests once, every tenth one delivered twice (WeCom's retry), so the run
ends exactly when every ballot is in; each request's latency is timed. The same driver loads the echo
floor (check, decrypt, parse, encrypt; no database) for a ratio measured in the same run. Afterwards the
votes are closed the way the scheduler closes them and every group's counts are checked against the
ballots sent. It prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from benchmarks.callbacks import Requests, Server, _busy_since, _machine_ticks
from benchmarks.reminders import on_chosen_database
from benchmarks.server import AT
from bot.operations import load_campaign_file
from bot.secret_key import keyring
from bot.settings import load_settings
from schedules.votes import close_due_votes
from storage import votes
from storage.campaign import DEFAULT_CAMPAIGN
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Person, Unit
from tests.bulk_roster import add_roster

LIMIT = 2


def prepare(url: str, args) -> tuple[list[tuple[str, str]], dict[int, Counter]]:
    """Schema, campaign, roster, one open 先进基层党组织 vote per group; each voter's ballot and the counts expected."""
    upgrade(url)
    db = Database(url)
    campaign, _ = load_campaign_file(db, DEFAULT_CAMPAIGN)
    rec = next(r for r in campaign.recommendations if r.candidates == "units_of_group")
    add_roster(db, units=args.groups * args.units_per_group, clerks_per_unit=args.clerks_per_unit, groups=args.groups)
    rng, ballots, expected = random.Random(8), [], {}
    closes = campaign.phase_bounds("group_review")[1]
    with db.write() as session:
        units = list(session.exec(select(Unit).order_by(Unit.code)))
        clerks = list(session.exec(select(Person).where(Person.role == "clerk").order_by(Person.userid)))
        by_group: dict[int, list[Unit]] = {}
        for unit in units:
            by_group.setdefault(unit.group_id, []).append(unit)
        numbers = {}
        for group_id, members in by_group.items():
            vote = votes.create(
                session=session,
                campaign_id=campaign.id,
                group_id=group_id,
                kind=rec.key,
                title=rec.name,
                max_choices=LIMIT,
                ballot_per="clerk",
            )
            for unit in members:
                numbers[unit.code] = (
                    vote.id,
                    votes.add_candidate(session=session, vote_id=vote.id, label=unit.name, unit_code=unit.code).number,
                )
            votes.open_vote(session=session, vote=vote, by="bench", now=AT, closes_at=closes, chat_id=None)
            expected[vote.id] = Counter()
        unit_of = {u.code: u for u in units}
        for clerk in clerks:
            own = unit_of[clerk.unit_code]
            others = [numbers[u.code][1] for u in by_group[own.group_id] if u.code != own.code]
            choice = rng.sample(others, rng.choice((1, LIMIT)))
            vote_id = numbers[own.code][0]
            expected[vote_id].update(choice)
            ballots.append((clerk.userid, "投票 " + " ".join(map(str, choice))))
    db.dispose()
    return ballots, expected


def drive(base: str, requests: list[tuple[str, str]], connections: int) -> tuple[float, list[float], int]:
    """Send every request once, from `connections` keep-alive connections; (seconds, latencies, non-200s)."""
    host, port = base.removeprefix("http://").split(":")
    shares = [requests[i::connections] for i in range(connections)]
    latencies: list[float] = []
    failures, lock, start = [0], threading.Lock(), threading.Barrier(connections + 1)

    def worker(share):
        conn, mine, bad = http.client.HTTPConnection(host, int(port), timeout=30), [], 0
        start.wait()
        for query, body in share:
            began = time.perf_counter()
            conn.request("POST", f"/wecom/callback?{query}", body=body, headers={"Content-Type": "text/xml"})
            answer = conn.getresponse()
            answer.read()
            mine.append(time.perf_counter() - began)
            bad += answer.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=worker, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began, sorted(latencies), failures[0]


def envelopes(gen: Requests, ballots: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Encrypted once; every tenth delivered twice (WeCom retries), the retry later in the same share."""
    sent = [gen.envelope(userid, text)[1:] for userid, text in ballots]
    return sent + sent[::10]


def pct(latencies: list[float], p: float) -> float:
    return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000


def check(url: str, expected: dict[int, Counter]) -> tuple[int, int, int]:
    """Close every vote as the scheduler does; (groups whose counts are exact, groups, ballots stored)."""
    db = Database(url)
    ring = keyring(load_settings(database_url=url, _env_file=None))
    with db.read() as session:
        stored = sum(votes.ballot_count(session=session, vote_id=v) for v in expected)
    close_due_votes(db, ring, AT + timedelta(days=30))
    with db.read() as session:
        exact = 0
        for vote_id, counts in expected.items():
            got = {c.number: c.count for c in votes.candidates(session=session, vote_id=vote_id) if c.count}
            exact += got == dict(counts)
    db.dispose()
    return exact, len(expected), stored


def run(label: str, url: str, args) -> None:
    began = time.perf_counter()
    ballots, expected = prepare(url, args)
    gen = Requests(1)
    requests, floor_requests = envelopes(gen, ballots), [gen.envelope("echo", "6")[1:] for _ in range(4000)]
    print(f"prepared {label}: {len(ballots)} voters in {len(expected)} groups ({time.perf_counter() - began:.0f} s)")
    echo, app = Server("echo"), Server("turn", url)
    try:
        floor_s, floor_lat, floor_bad = drive(echo.base, floor_requests, args.connections)
        busy = _machine_ticks()
        vote_s, lat, bad = drive(app.base, requests, args.connections)
        machine = _busy_since(busy)
    finally:
        echo.stop()
        app.stop()
    exact, groups, stored = check(url, expected)
    floor_rate, rate = len(floor_requests) / floor_s, len(requests) / vote_s
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"== {label}: {len(ballots)} ballots (+{len(requests) - len(ballots)} redelivered) from {args.connections} "
        f"connections ==\n"
        f"floor (echo)   {floor_rate:7.0f} /s  p50 {pct(floor_lat, 0.5):6.1f} ms  p99 {pct(floor_lat, 0.99):6.1f} ms\n"
        f"ballots        {rate:7.0f} /s  p50 {pct(lat, 0.5):6.1f} ms  p99 {pct(lat, 0.99):6.1f} ms  max {lat[-1] * 1000:.0f} ms"
        f"  ({vote_s:.0f} s in all; {rate / floor_rate:.1%} of the floor)\n"
        f"errors         {floor_bad + bad} non-200 answers\n"
        f"tallies        {exact}/{groups} groups exact; {stored} ballots stored for {len(ballots)} voters\n"
        f"machine        {os.cpu_count()} cores, {machine:.0%} busy during the ballots; load average {load}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--units-per-group", type=int, default=10)
    parser.add_argument("--clerks-per-unit", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    on_chosen_database(parser, args, run)


if __name__ == "__main__":
    main()
