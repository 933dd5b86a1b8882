import logging
import threading
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.demo import SAMPLE_ROSTER, demo_campaign_text
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from schedules import firing
from schedules.firing import fire_reminder
from schedules.runner import LEASE_S, ReminderScheduler
from storage import campaigns
from storage.campaign import DEFAULT_CAMPAIGN
from storage.models import Outbox, ReminderRun, ReminderSend

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLERKS = 13


SHANGHAI_TZ = ZoneInfo("Asia/Shanghai")


def local(*args):
    return datetime(*args, tzinfo=SHANGHAI)


def active(services, key):
    with services.db.read() as session:
        campaign = campaigns.active_campaign(session=session)
    return campaign, next(r for r in campaign.reminders if r.key == key)


def fire(services, key, now=None):
    campaign, reminder = active(services, key)
    return fire_reminder(services.db, campaign, reminder, now or services.clock.now())


def reminder_rows(services) -> list[Outbox]:
    with services.db.read() as session:
        return list(session.exec(select(Outbox).where(Outbox.source == "reminder")))


def per_person(services) -> Counter:
    return Counter(u for row in reminder_rows(services) for u in row.recipients)


@pytest.fixture
def twin(any_services, clock, transport):
    """A second process's services on the same database."""
    s = build_services(any_services.settings, clock=clock, transport=transport)
    yield s
    s.close()


@pytest.fixture
def schedulers():
    started = []

    def start(services):
        started.append(ReminderScheduler(services).start(paused=True))
        return started[-1]

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def campaign_file(tmp_path):
    path = tmp_path / "campaign.toml"
    path.write_text(DEFAULT_CAMPAIGN.read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.fixture
def filed_services(sqlite_url, clock, transport, campaign_file):
    """Services whose KAOHE_CAMPAIGN is a file the test can edit."""
    settings = load_settings(database_url=sqlite_url, campaign=str(campaign_file), _env_file=None)
    s = build_services(settings, clock=clock, transport=transport)
    load_campaign_file(s.db, campaign_file)
    import_roster_files(s.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    yield s
    s.close()


def test_firing_twice_adds_no_outbox_rows(any_services):
    first = fire(any_services, "self_check_week")
    rows = len(reminder_rows(any_services))
    assert first.outcome == "fired" and first.recipients == CLERKS
    assert fire(any_services, "self_check_week").outcome == "already"
    assert len(reminder_rows(any_services)) == rows


def test_each_person_is_recorded_with_the_outbox_row_that_carries_their_message(any_services):
    fire(any_services, "self_check_week")
    rows = {row.id: row for row in reminder_rows(any_services)}
    with any_services.db.read() as session:
        sends = list(session.exec(select(ReminderSend)))
    assert len(sends) == CLERKS and all(s.userid in rows[s.outbox_id].recipients for s in sends)


def test_two_schedulers_on_one_database_deliver_once_each(any_services, twin, transport):
    outcomes = {fire(any_services, "self_check_week").outcome, fire(twin, "self_check_week").outcome}
    any_services.sender.drain()
    twin.sender.drain()
    assert outcomes == {"fired", "already"}
    assert Counter(u for s in transport.sent for u in s.userids) == Counter({u: 1 for u in per_person(twin)})
    assert len(per_person(twin)) == CLERKS


def test_two_schedulers_racing_at_the_same_moment_deliver_once_each(any_services, twin):
    barrier, outcomes = threading.Barrier(2), []

    def race(services):
        campaign, reminder = active(services, "self_check_week")
        barrier.wait()
        outcomes.append(fire_reminder(services.db, campaign, reminder, services.clock.now()).outcome)

    threads = [threading.Thread(target=race, args=(s,)) for s in (any_services, twin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) in (["already", "fired"], ["busy", "fired"])
    assert set(per_person(any_services).values()) == {1} and len(per_person(any_services)) == CLERKS


def test_a_crash_while_firing_leaves_nothing_behind_and_the_next_try_sends_once(any_services, monkeypatch):
    real = firing.reminders.enqueue_batches

    def crash(**kwargs):
        real(**kwargs)
        raise RuntimeError("power cut")

    monkeypatch.setattr(firing.reminders, "enqueue_batches", crash)
    with pytest.raises(RuntimeError):
        fire(any_services, "self_check_week")
    assert reminder_rows(any_services) == []
    monkeypatch.undo()
    assert fire(any_services, "self_check_week").outcome == "fired"
    assert set(per_person(any_services).values()) == {1}


def test_only_the_lease_holder_acts(any_services, twin, schedulers, clock):
    clock.at = local(2013, 12, 16, 12)
    first, second = schedulers(any_services), schedulers(twin)
    assert {f.key for f in first.sync()} == {"opening", "self_check_week"}
    assert second.sync() == [] and second.leading is False
    assert set(per_person(any_services).values()) == {2}


def test_the_lease_passes_on_when_its_holder_stops_renewing(any_services, twin, schedulers, clock):
    first, second = schedulers(any_services), schedulers(twin)
    first.sync()
    clock.advance(seconds=LEASE_S + 1)
    clock.at = max(clock.at, local(2013, 12, 16, 12))
    assert [f.key for f in second.sync()] == ["self_check_week"] and second.leading
    assert first.hold_lease() is False


def test_a_reminder_missed_while_down_is_sent_once_on_return(services, schedulers, clock, transport):
    schedulers(services).sync(local(2013, 12, 12, 10))  # opening: three days late, still useful
    services.sender.drain()  # (an outbox row not delivered within a day expires)
    clock.at = local(2013, 12, 16, 15)  # the service was down at 09:10
    runner = schedulers(services)
    assert [f.key for f in runner.sync()] == ["self_check_week"]
    assert runner.sync() == []
    services.sender.drain()
    assert len(transport.to("wangfang")) == 2


def test_a_reminder_whose_phase_ended_while_down_is_skipped_with_a_log_line(services, schedulers, clock, caplog):
    clock.at = local(2013, 12, 23, 10)
    runner = schedulers(services)
    with caplog.at_level(logging.WARNING, logger="schedules.firing"):
        fired = runner.sync()
    assert [f.key for f in fired if f.outcome == "fired"] == ["group_review_opens"]
    skipped = [r.message for r in caplog.records if "skipped" in r.message]
    assert len(skipped) == 4 and any("self_check_last_day" in m for m in skipped)
    caplog.clear()
    assert runner.sync() == [] and not caplog.records
    assert {u for u in per_person(services)} == {"hulin", "guoping", "linfeng"}


def test_a_due_reminder_fires_when_its_job_wakes(services, schedulers, clock):
    runner = schedulers(services)
    runner.sync()
    job = runner.job("self_check_two_days")
    assert job.next_run_time == local(2013, 12, 20, 9, 10)
    clock.at = local(2013, 12, 20, 9, 10)
    job.func(*job.args)
    with services.db.read() as session:
        run = session.exec(select(ReminderRun).where(ReminderRun.reminder_key == "self_check_two_days")).one()
    assert run.status == "fired" and run.recipients == CLERKS


def test_a_moved_reminder_is_rescheduled_without_a_restart(filed_services, schedulers, campaign_file):
    runner = schedulers(filed_services)
    runner.sync()
    assert runner.job("self_check_two_days").next_run_time == local(2013, 12, 20, 9, 10)
    text = campaign_file.read_text(encoding="utf-8")
    campaign_file.write_text(text.replace('at = "2013-12-20T09:10"', 'at = "2013-12-21T08:00"'), encoding="utf-8")
    runner.sync()
    assert runner.job("self_check_two_days").next_run_time == local(2013, 12, 21, 8)


def test_a_reminder_removed_from_the_file_loses_its_job(filed_services, schedulers, campaign_file):
    runner = schedulers(filed_services)
    runner.sync()
    text = campaign_file.read_text(encoding="utf-8")
    start = text.index('[[reminders]]\nkey = "committee_opens"')
    campaign_file.write_text(text[:start], encoding="utf-8")
    runner.sync()
    assert runner.job("committee_opens") is None and runner.job("votes_last_day") is not None


def test_a_refused_campaign_edit_keeps_the_schedule(filed_services, schedulers, campaign_file, caplog):
    runner = schedulers(filed_services)
    runner.sync()
    text = campaign_file.read_text(encoding="utf-8")
    campaign_file.write_text(text.replace('at = "2013-12-20T09:10"', 'at = "soon"'), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="schedules.runner"):
        runner.sync()
    assert runner.job("self_check_two_days").next_run_time == local(2013, 12, 20, 9, 10)
    assert any("refused" in r.message for r in caplog.records)


def test_the_demo_reminders_fire_minutes_after_start(sqlite_url, clock, transport, tmp_path, schedulers):
    path = tmp_path / "demo.toml"
    path.write_text(demo_campaign_text(clock.now()), encoding="utf-8")
    services = build_services(
        load_settings(database_url=sqlite_url, campaign=str(path), _env_file=None), clock=clock, transport=transport
    )
    load_campaign_file(services.db, path)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    runner = schedulers(services)
    runner.sync()
    job = runner.job(f"demo_soon_{clock.now().astimezone(SHANGHAI_TZ):%m%d%H%M}")
    assert 0 < (job.next_run_time - clock.now()).total_seconds() <= 120
    clock.at = job.next_run_time
    job.func(*job.args)
    services.sender.drain()
    assert any("自查总结提醒" in text for text in transport.to("wangfang"))
    services.close()


def test_the_bulk_record_leaves_out_who_is_on_record_and_dates_and_links_each_new_one(any_services):
    """enqueue_batches in one go (on PostgreSQL one INSERT over two arrays): a person already recorded for the
    reminder keeps their first record; each new one points at the outbox row carrying them, at this instant."""
    from datetime import timedelta

    from storage import reminders

    first_at = any_services.clock.now()
    later = first_at + timedelta(minutes=5)
    many = [f"u{i:04d}" for i in range(1500)]  # more than one message/send batch, to carry long arrays
    with any_services.db.write() as session:
        reminders.enqueue_batches(
            session=session, campaign_id="c", key="k", run_id=1, batches=[("a", "早", ["u0000", "x"])], now=first_at
        )
    with any_services.db.write() as session:
        count = reminders.enqueue_batches(
            session=session,
            campaign_id="c",
            key="k",
            run_id=2,
            batches=[("b:0", "晚", many[:1000]), ("b:1", "晚", many[1000:])],
            now=later,
        )
    assert count == 1500
    with any_services.db.read() as session:
        sends = {s.userid: s for s in session.exec(select(ReminderSend))}
        rows = {row.id: row for row in session.exec(select(Outbox))}
    assert len(sends) == 1501  # x, and the 1,500; u0000 once
    assert rows[sends["u0000"].outbox_id].content == "早" and sends["u0000"].created_at == first_at
    fresh = [sends[u] for u in many[1:]] + [sends["x"]]
    assert all(s.userid in rows[s.outbox_id].recipients for s in fresh)
    assert {rows[sends[u].outbox_id].key.rsplit(":", 2)[-2:] == ["b", "1"] for u in many[1000:]} == {True}
    assert {s.created_at for s in fresh[:-1]} == {later} and sends["x"].created_at == first_at
