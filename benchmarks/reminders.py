"""Benchmark: select and hand over one reminder to 20,000 clerks in 4,000 units, to a fake WeCom on loopback."""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, insert, text

from bot.operations import load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from schedules.firing import fire_reminder
from storage.campaign import DEFAULT_CAMPAIGN
from storage.clock import FixedClock
from storage.migrate import upgrade
from storage.models import ActivityEntry, ScoreEntry, Submission
from tests.bulk_roster import add_roster
from tests.fakes.wecom_server import FakeWeCom

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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", args)
    if os.environ.get("KAOHE_TEST_PG_URL"):
        with pg_database(os.environ["KAOHE_TEST_PG_URL"]) as url:
            run("PostgreSQL", url, args)


def run(label: str, url: str, args) -> None:
    upgrade(url)
    with FakeWeCom() as fake:
        settings = load_settings(
            database_url=url, corp_id="bench", secret="bench", agent_id=1, api_base=fake.base_url, _env_file=None
        )
        services = build_services(settings, clock=FixedClock(AT))
        campaign, _ = load_campaign_file(services.db, DEFAULT_CAMPAIGN)
        clerks = add_roster(services.db, units=args.units, clerks_per_unit=args.clerks_per_unit, groups=40)
        fill(services.db, campaign, args)
        reminder = next(r for r in campaign.reminders if r.key == "self_check_week")
        started = time.perf_counter()
        fired = fire_reminder(services.db, campaign, reminder, AT)
        handed = time.perf_counter()
        services.sender.drain()  # until nothing is due
        done = time.perf_counter()
        delivered = sum(fake.delivered_to(u) for u in clerks)
        services.close()
    print(
        f"{label}: {args.units} units, {len(clerks)} clerks{' (partly filled)' if args.partial else ''}\n"
        f"  select + render + record + enqueue: {handed - started:.2f} s, {fired.recipients} people "
        f"in {fired.messages} outbox rows\n"
        f"  delivery to the fake WeCom:        {done - handed:.2f} s, "
        f"{len(fake.calls_to('message/send'))} message/send calls, {delivered} recipients delivered\n"
        f"  fan-out in all (fired to delivered): {done - started:.2f} s"
    )


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
        self.url = server_url.rsplit("/", 1)[0] + f"/{self.name}"

    def __enter__(self) -> str:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self.url

    def __exit__(self, *exc) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


if __name__ == "__main__":
    main()
