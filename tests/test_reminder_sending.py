from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.channels.wecom_transport import WeComTransport
from bot.delivery import BACKOFF_CAP_S
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from schedules.firing import fire_reminder
from schedules.report import reminders_report
from storage import campaigns, outbox
from storage.campaign import DEFAULT_CAMPAIGN
from storage.models import Outbox
from tests.bulk_roster import add_roster

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLERKS = 13


@pytest.fixture
def wecom(sqlite_url, clock, fake):
    """Services that send through WeComTransport to the fake WeCom server on loopback. The client's timeout
    is 2 s and the tests' stalls 4 s: with 0.5 s, a call of 1,000 recipients on a loaded machine (or in a
    collector's pause late in the suite) timed out and was sent again, once in the whole suite."""
    settings = load_settings(
        database_url=sqlite_url, corp_id="wwcorp", secret="s3cret", agent_id=1, api_base=fake.base_url, _env_file=None
    )
    services = build_services(settings, clock=clock, transport=WeComTransport(settings, timeout=2.0))
    load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    yield services
    services.close()


def fire(services, key):
    with services.db.read() as session:
        campaign = campaigns.active_campaign(session=session)
    reminder = next(r for r in campaign.reminders if r.key == key)
    return fire_reminder(services.db, campaign, reminder, services.clock.now())


def rows(services) -> list[Outbox]:
    with services.db.read() as session:
        return list(session.exec(select(Outbox).where(Outbox.source == "reminder").order_by(Outbox.id)))


def sizes(fake) -> list[int]:
    return [len(call.body["touser"].split("|")) for call in fake.calls_to("message/send")]


def test_2500_recipients_arrive_in_three_calls(wecom, fake):
    extra = add_roster(wecom.db, units=1, clerks_per_unit=2500 - CLERKS)
    fire(wecom, "opening")
    wecom.sender.drain()
    assert sorted(sizes(fake)) == [500, 1000, 1000]
    assert fake.delivered_to(extra[-1]) == 1 and fake.delivered_to("wangfang") == 1


def test_45009_is_retried_later_and_delivered(wecom, fake, clock):
    fire(wecom, "opening")
    fake.fail_next("message/send", 45009)
    wecom.sender.drain()
    assert rows(wecom)[0].status == "pending" and "45009" in rows(wecom)[0].last_error
    assert fake.delivered_to("wangfang") == 0
    clock.advance(seconds=10)
    wecom.sender.drain()
    row = rows(wecom)[0]
    assert row.status == "sent" and row.attempts == 1 and fake.delivered_to("wangfang") == 1


def test_an_expired_token_is_fetched_again_and_the_message_delivered(wecom, fake):
    fire(wecom, "opening")
    fake.fail_next("message/send", 42001)
    wecom.sender.drain()
    assert rows(wecom)[0].status == "sent" and fake.delivered_to("wangfang") == 1
    assert len(fake.calls_to("gettoken")) == 2


def test_a_lost_reply_is_retried_with_the_duplicate_check_on(wecom, fake, clock):
    fire(wecom, "opening")
    fake.delay_next("message/send", 4)
    wecom.sender.drain()
    assert rows(wecom)[0].status == "pending" and rows(wecom)[0].attempts == 1
    clock.advance(seconds=10)
    wecom.sender.drain()
    first, again = fake.calls_to("message/send")
    assert rows(wecom)[0].status == "sent"
    assert first.body == again.body and again.body["enable_duplicate_check"] == 1


def test_a_rate_limit_storm_is_retried_past_five_attempts_and_delivered_once_it_lifts(wecom, fake, clock):
    fire(wecom, "opening")
    fake.fail_next("message/send", 45009, times=12)
    for _ in range(13):
        wecom.sender.drain()
        clock.advance(seconds=BACKOFF_CAP_S)
    row = rows(wecom)[0]
    assert row.status == "sent" and row.attempts == 12 and fake.delivered_to("wangfang") == 1


def test_a_storm_that_outlasts_the_message_ends_expired_and_the_report_shows_it(wecom, fake, clock):
    fire(wecom, "opening")
    fake.fail_next("message/send", 45009, times=10_000)
    for _ in range(26):  # tried at least hourly (the backoff is capped well below that) until a day is over
        wecom.sender.drain()
        clock.advance(hours=1)
    row = rows(wecom)[0]
    assert row.status == "expired" and fake.delivered_to("wangfang") == 0
    calls = len(fake.calls_to("message/send"))
    wecom.sender.drain()
    assert len(fake.calls_to("message/send")) == calls  # expired rows are not tried again
    report = reminders_report(wecom.db, clock.now())
    assert f"过期未送达 {CLERKS}" in report and "45009" in report


def test_a_31st_message_to_one_person_within_a_minute_waits(wecom, fake, clock):
    with wecom.db.write() as session:
        for i in range(30):
            outbox.enqueue(
                session=session, key=f"chat:{i}", content=f"回复 {i}", recipients=["wangfang"], now=clock.now()
            )
    wecom.sender.drain()
    fire(wecom, "opening")
    wecom.sender.drain()
    assert fake.delivered_to("wangfang") == 30 and rows(wecom)[0].status == "pending"
    clock.advance(seconds=61)
    wecom.sender.drain()
    assert fake.delivered_to("wangfang") == 31 and rows(wecom)[0].status == "sent"
    assert rows(wecom)[0].attempts == 0


def test_the_report_counts_what_was_sent(wecom, clock):
    fire(wecom, "opening")
    wecom.sender.drain()
    report = reminders_report(wecom.db, datetime(2013, 12, 16, 9, 30, tzinfo=SHANGHAI))
    assert f"已送达 {CLERKS}，待发送 0，失败 0" in report
    assert "self_check_week" in report and f"到期待发，将发给 {CLERKS} 人" in report
    assert "committee_opens" in report and "将发给 1 人：何志远" in report


def test_kaohe_reminders_says_what_is_due_at_a_time_and_to_whom(kaohe):
    kaohe("db", "upgrade")
    kaohe("campaign", "load", DEFAULT_CAMPAIGN)
    kaohe("roster", "import", SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    result = kaohe("reminders", "--at", "2013-12-23T10:00")
    assert result.returncode == 0, result.stderr
    assert "group_review_opens  2013-12-23 09:10" in result.stdout
    assert "到期待发，将发给 3 人：郭平、胡林、林峰" in result.stdout
    assert "已过期（自查总结已结束）" in result.stdout
