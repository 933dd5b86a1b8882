"""Fault run, longer than make test's: a WeCom outage (45009 on every call, with stalls and drops) while clerks
chat and a reminder to thousands goes out; the shipped backoff and 5 s timeout. Prints figures, never fails."""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from collections import Counter

from sqlmodel import select

from bot.app import create_app
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from schedules.firing import fire_reminder
from storage.campaign import DEFAULT_CAMPAIGN
from storage.migrate import upgrade
from storage.models import Outbox
from tests.bulk_roster import add_roster
from tests.conftest import IN_SELF_CHECK
from tests.fakes.wecom_server import FakeWeCom
from tests.live_server import Clerk, LiveServer, ShiftedClock
from tests.wecom_client_side import app_settings

CLERKS = ["wangfang", "liqiang", "zhangmin", "liujing", "chenjie", "yangyang", "zhaolei", "huangyan"]
WORDS = ["填报", "6", "24", "12", "上一步", "5", "进度", "取消"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outage", type=float, default=90, help="seconds WeCom misbehaves")
    parser.add_argument("--units", type=int, default=2000, help="bulk units (one clerk each) for the reminder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # each failed attempt is a warning line: thousands in an outage
    with tempfile.TemporaryDirectory() as tmp, FakeWeCom() as fake:
        url = f"sqlite:///{tmp}/faults.db"
        upgrade(url)
        run(url, fake, args)


def run(url: str, fake: FakeWeCom, args) -> None:
    settings = app_settings(url, fake.base_url)
    services = build_services(settings, clock=ShiftedClock(IN_SELF_CHECK))
    campaign, _ = load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    add_roster(services.db, units=args.units, clerks_per_unit=1)
    # The outage: rate limits on every call, with a 10 s stall, a dropped connection and an HTTP 500 early on.
    fake.plan_next("message/send", ["stall:10", "drop-applied", "http500", "42001", "drop"])
    fake.fail_next("message/send", 45009, times=10**9)
    stop, clerks = threading.Event(), [Clerk("", u) for u in CLERKS]
    with LiveServer(create_app(settings, services=services)) as server:
        for clerk in clerks:
            clerk.url = server.url
        threads = [threading.Thread(target=chat, args=(c, stop)) for c in clerks]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        fired = [fire_reminder(services.db, campaign, r, services.clock.now()) for r in campaign.reminders[:2]]
        services.sender.wakeup.set()
        time.sleep(args.outage)
        during = len(fake.calls_to("message/send"))
        fake.heal()
        healed = time.monotonic()
        while not settled(services) and time.monotonic() - healed < 600:
            time.sleep(0.2)
        delivered_s = time.monotonic() - healed
        stop.set()
        for thread in threads:
            thread.join()
    report(services, fake, clerks, fired, args, during, delivered_s, healed - started)
    services.close()


def chat(clerk: Clerk, stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        clerk.say(WORDS[i % len(WORDS)])
        i += 1
        time.sleep(0.3)


def settled(services) -> bool:
    with services.db.read() as session:
        return {r.status for r in session.exec(select(Outbox))} <= {"sent"}


def report(services, fake, clerks, fired, args, during, delivered_s, outage_s) -> None:
    with services.db.read() as session:
        rows = list(session.exec(select(Outbox)))
    wanted = Counter((u, json.dumps({"content": r.content}, ensure_ascii=False)) for r in rows for u in r.recipients)
    got = fake.messages()
    twice = sum(1 for k, n in got.items() if n > wanted.get(k, 0))
    missing = sum(1 for k, n in wanted.items() if got.get(k, 0) < n)
    seconds = sorted(s for c in clerks for s in c.seconds)
    statuses = Counter(s for c in clerks for s in c.statuses)
    print(
        f"WeCom outage of {outage_s:.0f} s (45009 on every call; a 10 s stall, drops, HTTP 500, 42001 first)\n"
        f"  reminders: {' and '.join(f'{f.key} to {f.recipients} people' for f in fired)}, {len(rows)} outbox rows\n"
        f"  message/send calls during the outage: {during} (capped backoff, pool of 4)\n"
        f"  all rows delivered {delivered_s:.1f} s after WeCom recovered; statuses {Counter(r.status for r in rows)}\n"
        f"  delivered twice: {twice}, missing: {missing}, resends dropped by the duplicate check: {fake.duplicates}\n"
        f"  callbacks meanwhile: {len(seconds)} answered {dict(statuses)}, p50 {seconds[len(seconds) // 2]:.3f} s, "
        f"p99 {seconds[int(len(seconds) * 0.99)]:.3f} s, max {seconds[-1]:.3f} s"
    )


if __name__ == "__main__":
    main()
