"""Benchmark: select and hand over one reminder to 20,000 clerks in 4,000 units, to a fake WeCom on loopback."""

# Every run checks the outcome: each recorded person got exactly their text once (no one missing,
# duplicated or extra) and every outbox row is sent; a wrong outcome exits non-zero, slowness never does.

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, insert, make_url, select, text

from benchmarks.fake_process import FakeProcess, InProcess, expected_messages, floor
from bot.operations import load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from schedules.firing import fire_reminder
from storage.campaign import DEFAULT_CAMPAIGN
from storage.clock import FixedClock
from storage.migrate import upgrade
from storage.models import ActivityEntry, Outbox, ReminderSend, ScoreEntry, Submission
from tests.bulk_roster import add_roster

AT = datetime(2013, 12, 16, 9, 10, tzinfo=ZoneInfo("Asia/Shanghai"))  # self_check_week: clerks_not_submitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=4000)
    parser.add_argument("--clerks-per-unit", type=int, default=5)
    parser.add_argument("--submitted", type=float, default=0.1, help="share of units that have submitted")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="fill a random part of each unit's tables, so nearly every unit reads its own text",
    )
    parser.add_argument("--workers", type=int, default=None, help="the sender's pool (default: KAOHE_SEND_WORKERS)")
    parser.add_argument(
        "--fake-in-process", action="store_true", help="run the fake WeCom in this process (it then shares the GIL)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", args)
    if os.environ.get("KAOHE_TEST_PG_URL"):
        with pg_database(os.environ["KAOHE_TEST_PG_URL"]) as url:
            run("PostgreSQL", url, args)


def run(label: str, url: str, args) -> None:
    upgrade(url)
    with InProcess() if args.fake_in_process else FakeProcess() as fake:
        settings = load_settings(
            database_url=url, corp_id="bench", secret="bench", agent_id=1, api_base=fake.base_url, _env_file=None
        )
        settings = settings.model_copy(update={"send_workers": args.workers or settings.send_workers})
        services = build_services(settings, clock=FixedClock(AT))
        campaign, _ = load_campaign_file(services.db, DEFAULT_CAMPAIGN)
        add_roster(services.db, units=args.units, clerks_per_unit=args.clerks_per_unit, groups=40)
        fill(services.db, campaign, args)
        reminder = next(r for r in campaign.reminders if r.key == "self_check_week")
        started = time.perf_counter()
        fired = fire_reminder(services.db, campaign, reminder, AT)
        handed = time.perf_counter()
        services.sender.drain()  # until nothing is due
        done = time.perf_counter()
        got = fake.report()
        texts, rows, statuses = recorded(services.db)
        fake.reset()
        bare = floor(fake.base_url, rows)
        services.close()
    check(got, texts, statuses)
    print(
        f"{label}: {args.units} units, {len(texts)} clerks reminded{' (partly filled)' if args.partial else ''}, "
        f"sender pool {settings.send_workers}, fake WeCom {'in this' if args.fake_in_process else 'in a child'} "
        f"process\n"
        f"  select + render + record + enqueue: {handed - started:.2f} s, {fired.recipients} people "
        f"in {fired.messages} outbox rows\n"
        f"  delivery to the fake WeCom:        {done - handed:.2f} s, {got['calls']} message/send calls\n"
        f"  fan-out in all (fired to delivered): {done - started:.2f} s\n"
        f"  floor (the same {len(rows)} calls, bare, one connection): {bare:.2f} s; "
        f"delivery / floor {(done - handed) / bare:.2f}, fan-out / floor {(done - started) / bare:.2f}\n"
        f"  checked: each of {len(texts)} people got their text exactly once, {got['duplicates']} resends dropped"
    )


def recorded(db) -> tuple[dict[str, str], list[tuple[str, list[str]]], set[str]]:
    """Who the reminder is on record for, with their row's text; the rows; the rows' statuses."""
    with db.read() as session:
        rows = session.execute(select(Outbox.id, Outbox.content, Outbox.recipients, Outbox.status)).all()
        sends = session.execute(select(ReminderSend.userid, ReminderSend.outbox_id)).all()
    content = {row.id: row.content for row in rows}
    return {u: content[o] for u, o in sends}, [(r.content, r.recipients) for r in rows], {r.status for r in rows}


def check(got: dict, texts: dict[str, str], statuses: set[str]) -> None:
    expected, delivered = expected_messages(texts), got["messages"]
    missing, extra = expected - delivered, delivered - expected
    if missing or extra or statuses != {"sent"}:
        raise SystemExit(f"WRONG: {len(missing)} missing, {len(extra)} duplicated or unexpected, rows {statuses}")


def fill(db, campaign, args) -> None:
    """Mark a share of units submitted and, with --partial, fill random entries of the others."""
    rng = random.Random(2013)
    codes = [f"B{i:05d}" for i in range(args.units)]
    submitted = [
        dict(campaign_id=campaign.id, unit_code=c, submitted=True, submitted_at=AT, submitted_by="bench")
        for c in rng.sample(codes, int(len(codes) * args.submitted))
    ]
    acts, scores = [], []
    for code in codes if args.partial else []:
        acts += [_entry(campaign, code, a.key, count=2) for a in campaign.activities if rng.random() < 0.5]
        scores += [_entry(campaign, code, c.key, points=c.points) for c in campaign.categories if rng.random() < 0.5]
    with db.write() as session:
        for model, rows in ((Submission, submitted), (ActivityEntry, acts), (ScoreEntry, scores)):
            if rows:
                session.execute(insert(model), rows)


def _entry(campaign, code: str, key: str, **value) -> dict:
    return dict(campaign_id=campaign.id, unit_code=code, key=key, updated_by="bench", updated_at=AT, **value)


class pg_database:
    """A throw-away PostgreSQL database beside the one KAOHE_TEST_PG_URL names."""

    def __init__(self, server_url: str):
        self.name = f"kaohe_bench_{os.getpid()}"
        self.admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.url = make_url(server_url).set(database=self.name).render_as_string(hide_password=False)

    def __enter__(self) -> str:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self.url

    def __exit__(self, *exc) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def on_chosen_database(parser, args, run) -> None:
    """`run(label, url, args)` on a temporary SQLite file, or (`--db postgres`) on a throw-away database
    beside KAOHE_TEST_PG_URL's; refused in one line when that is unset."""
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            return run("SQLite", f"sqlite:///{tmp}/bench.db", args)
    server = os.environ.get("KAOHE_TEST_PG_URL")
    if not server:
        parser.error("--db postgres needs KAOHE_TEST_PG_URL (. scripts/test-services.sh)")
    with pg_database(server) as url:
        run("PostgreSQL", url, args)


if __name__ == "__main__":
    main()
