import threading
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.channels.wecom_transport import WeComTransport
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from schedules.firing import fire_reminder
from schedules.report import reminders_report
from storage import campaigns, outbox
from storage.campaign import DEFAULT_CAMPAIGN
from storage.models import Outbox, ReminderSend
from tests.fakes.wecom_server import FakeWeCom

CLERKS = 13


def wired(url, clock, fake, timeout=2.0, seed=True):
    settings = load_settings(
        database_url=url, corp_id="wwcorp", secret="s3cret", agent_id=1, api_base=fake.base_url, _env_file=None
    )
    services = build_services(settings, clock=clock, transport=WeComTransport(settings, timeout=timeout))
    if seed:
        load_campaign_file(services.db, DEFAULT_CAMPAIGN)
        import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    return services


@pytest.fixture
def wecom(sqlite_url, clock, fake):
    services = wired(sqlite_url, clock, fake)
    yield services
    services.close()


def enqueue(services, key, content, recipients=("wangfang",)):
    with services.db.write() as session:
        return outbox.enqueue(
            session=session, key=key, content=content, recipients=list(recipients), now=services.clock.now()
        ).id


def row(services, outbox_id) -> Outbox:
    with services.db.read() as session:
        return session.get(Outbox, outbox_id)


def fire(services, key):
    with services.db.read() as session:
        campaign = campaigns.active_campaign(session=session)
    reminder = next(r for r in campaign.reminders if r.key == key)
    return fire_reminder(services.db, campaign, reminder, services.clock.now())


def test_two_senders_at_once_send_each_row_once(any_db_url, clock, fake):
    first, second = wired(any_db_url, clock, fake), wired(any_db_url, clock, fake, seed=False)
    for i in range(40):
        enqueue(first, f"two:{i}", f"消息 {i}")
    fake.delay_next("message/send", 0.05, times=1000)  # each call takes a while, so the senders overlap
    for services in (first, second):
        services.sender.claim_per_worker = 1  # small claims: both senders take rows while the other sends
    threads = [threading.Thread(target=s.sender.drain, kwargs={"max_rounds": 200}) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    contents = [call.body["text"]["content"] for call in fake.calls_to("message/send")]
    assert sorted(contents) == sorted(f"消息 {i}" for i in range(40))  # 40 calls, none twice
    with first.db.read() as session:
        assert {r.status for r in session.exec(select(Outbox))} == {"sent"}
    first.close()
    second.close()


def test_a_fake_on_a_reused_port_starts_without_the_tokens_of_the_one_before(sqlite_url, clock):
    """The flake behind the test above (48 calls for 40 rows, once in a full run): the token cache is keyed
    by address, and a port an earlier test's fake used held that fake's token, so each worker's first call
    was refused (40014) and made again. Deliveries were once; the calls counted were not."""
    with FakeWeCom() as before:
        services = wired(sqlite_url, clock, before)
        enqueue(services, "before", "之前的消息")
        services.sender.drain()
        services.close()
        port = int(before.base_url.split(":")[2].split("/")[0])
    with FakeWeCom(port=port) as after:
        assert after.base_url == before.base_url
        services = wired(sqlite_url, clock, after, seed=False)
        for i in range(4):
            enqueue(services, f"after:{i}", f"之后 {i}")
        services.sender.drain()
        assert len(after.calls_to("message/send")) == 4 and after.delivered_to("wangfang") == 4
        assert len(after.calls_to("gettoken")) == 1
        services.close()


def test_a_stalled_call_does_not_hold_up_the_others(sqlite_url, clock, fake, collector_off):
    services = wired(sqlite_url, clock, fake, timeout=1.0)
    stalled = enqueue(services, "stall", "慢的那条")
    others = [enqueue(services, f"other:{i}", f"其他 {i}", recipients=[f"user{i}"]) for i in range(8)]
    fake.delay_next("message/send", 3, times=1)  # the first call stalls past the client's timeout
    services.sender.drain()
    sends = fake.calls_to("message/send")
    started = sends[0].at
    assert all(call.at - started < 0.9 for call in sends[1:]), [round(c.at - started, 2) for c in sends]
    rows = sorted((row(services, i).attempts, row(services, i).status) for i in [stalled, *others])
    assert rows[:8] == [(0, "sent")] * 8 and rows[8][0] == 1  # whichever call stalled, the rest went on
    services.close()


def test_a_stalled_call_that_was_accepted_is_resent_and_dropped_by_the_duplicate_check(sqlite_url, clock, fake):
    services = wired(sqlite_url, clock, fake, timeout=1.5)  # the resend must not time out as well
    stalled = enqueue(services, "stall", "只该收到一次")
    fake.delay_next("message/send", 3, times=1)
    services.sender.drain()
    clock.advance(seconds=30)
    services.sender.drain()
    first, again = fake.calls_to("message/send")
    assert first.body == again.body and again.body["enable_duplicate_check"] == 1
    assert row(services, stalled).status == "sent"
    assert fake.delivered_to("wangfang") == 1 and fake.duplicates == 1
    services.close()


@pytest.mark.parametrize("applied", [True, False])
def test_a_dropped_connection_ends_in_one_delivery(wecom, fake, clock, applied):
    message = enqueue(wecom, "drop", "断线也只到一次")
    fake.drop_next("message/send", applied=applied)
    wecom.sender.drain()
    assert row(wecom, message).status == "pending"
    clock.advance(seconds=30)
    wecom.sender.drain()
    assert row(wecom, message).status == "sent" and fake.delivered_to("wangfang") == 1


def test_an_http_500_is_retried_and_delivered_once(wecom, fake, clock):
    message = enqueue(wecom, "500", "服务器出错后重发")
    fake.status_next("message/send", 500, times=2)
    for _ in range(3):
        wecom.sender.drain()
        clock.advance(seconds=60)
    assert row(wecom, message).status == "sent" and row(wecom, message).attempts == 2
    assert fake.delivered_to("wangfang") == 1


def test_two_messages_with_the_same_text_to_one_person_both_arrive(wecom, fake):
    enqueue(wecom, "reply:1#0", "全市进度：……")
    enqueue(wecom, "reply:2#0", "全市进度：……")
    wecom.sender.drain()
    assert fake.delivered_to("wangfang") == 2 and fake.duplicates == 0


def test_the_fake_delivers_the_same_request_again_once_the_interval_has_passed(wecom, fake, clock):
    transport = wecom.sender.transport
    transport.send_users(["wangfang"], "text", "同一条", key="k")
    transport.send_users(["wangfang"], "text", "同一条", key="k")
    assert fake.delivered_to("wangfang") == 1
    fake.advance(4 * 3600)
    transport.send_users(["wangfang"], "text", "同一条", key="k")
    assert fake.delivered_to("wangfang") == 2


def test_userids_wecom_does_not_know_are_failed_per_person_in_kaohe_reminders(sqlite_url, clock):
    with FakeWeCom(known_users={"liqiang", "zhangmin", "liujing", "chenjie", "yangyang", "zhaolei"}) as fake:
        services = wired(sqlite_url, clock, fake)
        fire(services, "opening")
        services.sender.drain()
        report = reminders_report(services.db, clock.now())
        with services.db.read() as session:
            refused = set(session.exec(select(ReminderSend.userid).where(ReminderSend.error == "invaliduser")))
        services.close()
    assert len(refused) == CLERKS - 6 and "wangfang" in refused and "liqiang" not in refused
    assert f"已送达 6，待发送 0，失败 {CLERKS - 6}" in report
    assert "王芳（wangfang）" in report and "李强（liqiang）" not in report


def test_a_refused_userid_is_matched_whatever_its_case(sqlite_url, clock):
    with FakeWeCom(known_users={"wangfang"}) as fake:
        services = wired(sqlite_url, clock, fake)
        message = enqueue(services, "case", "大小写", recipients=["Ghost", "wangfang"])
        services.sender.drain()
        got = row(services, message)
        services.close()
    assert got.status == "sent" and got.rejected == ["Ghost"] and "Ghost" in got.last_error
    assert fake.delivered_to("wangfang") == 1


def test_a_message_nobody_can_get_fails_for_good_without_retries(sqlite_url, clock):
    with FakeWeCom(known_users=set()) as fake:
        services = wired(sqlite_url, clock, fake)
        message = enqueue(services, "nobody", "没人认识", recipients=["ghost1", "ghost2"])
        for _ in range(3):
            services.sender.drain()
            clock.advance(minutes=10)
        got = row(services, message)
        calls = len(fake.calls_to("message/send"))
        services.close()
    assert got.status == "failed" and got.rejected == ["ghost1", "ghost2"] and calls == 1


def test_a_reply_stops_being_retried_after_a_day(wecom, fake, clock):
    message = enqueue(wecom, "day", "一天后就过期")
    fake.fail_next("message/send", 45009, times=10_000)
    wecom.sender.drain()
    clock.advance(hours=23, minutes=59)
    wecom.sender.drain()
    assert row(wecom, message).status == "pending"
    clock.advance(minutes=2)
    wecom.sender.drain()
    assert row(wecom, message).status == "expired" and "45009" in row(wecom, message).last_error


def test_a_reminder_is_useful_until_its_phase_ends_when_that_comes_before_a_day(wecom, clock):
    with wecom.db.read() as session:
        campaign = campaigns.active_campaign(session=session)
    end = campaign.phase_bounds("self_check")[1]
    clock.at = end - timedelta(hours=2)
    reminder = next(r for r in campaign.reminders if r.about == "self_check")
    fire_reminder(wecom.db, campaign, reminder, clock.now())
    with wecom.db.read() as session:
        expiries = {r.expires_at for r in session.exec(select(Outbox))}
    assert expiries == {end}


def test_a_sender_whose_lease_was_taken_over_does_not_overwrite_the_new_holder(wecom, clock):
    message = enqueue(wecom, "lease", "租约")
    with wecom.db.write() as session:
        outbox.claim(session=session, now=clock.now(), holder="old")
    clock.advance(seconds=outbox.LEASE_S + 1)
    with wecom.db.write() as session:
        outbox.claim(session=session, now=clock.now(), holder="new")
    with wecom.db.write() as session:
        assert not outbox.mark_failed(
            session=session, outbox_id=message, error="late", retry_at=clock.now(), holder="old"
        )
        assert outbox.mark_sent(session=session, outbox_id=message, now=clock.now(), holder="new")
    assert row(wecom, message).status == "sent"


def test_the_first_success_after_an_outage_sends_the_backed_off_rows_at_once(wecom, fake, clock):
    wecom.sender.workers = 1  # one row at a time, so which call fails is known
    first, second = enqueue(wecom, "o:1", "一"), enqueue(wecom, "o:2", "二")
    fake.fail_next("message/send", 45009, times=3)
    wecom.sender.drain()  # both fail once: due again in 5 s
    clock.advance(seconds=5)
    wecom.sender.drain()  # the first fails again (due in 10 s); the second gets through
    assert row(wecom, second).status == "sent"
    assert row(wecom, first).status == "sent" and row(wecom, first).attempts == 2  # not 10 s later


def test_closing_the_services_ends_the_senders_threads(sqlite_url, clock, fake):
    # each Services used to leave its sending threads behind (idle, not daemons), and a test run gathered
    # hundreds; so would a process that builds services again (the CLI's commands, a reload)
    services = wired(sqlite_url, clock, fake)
    sender = services.sender
    enqueue(services, "t:1", "一", recipients=("wangfang",))
    sender.pump()
    sender.settle()
    first = list(sender._pool._threads)
    sender.workers = 3  # a pool replaced: its threads end (nothing refers to it)
    for thread in first:
        thread.join(timeout=5)
    assert first and not any(t.is_alive() for t in first)
    enqueue(services, "t:2", "二", recipients=("liqiang",))
    sender.pump()
    sender.settle()
    assert {r.status for r in (row(services, 1), row(services, 2))} == {"sent"}
    second = list(sender._pool._threads)
    services.close()
    for thread in second:
        thread.join(timeout=5)
    assert second and not any(t.is_alive() for t in second)


def test_drain_looks_again_when_a_send_ends_while_it_looked(wecom, fake, clock, monkeypatch):
    """The flake of 7 December (the test above, once in a full run): drain asked whether anything was due,
    and only then whether anything was still out. A send that ended in between (the first success after an
    outage, which makes the backed-off rows due at once) left a due row behind, and drain returned."""
    from bot import delivery

    wecom.sender.workers = 1
    first, second = enqueue(wecom, "o:1", "一"), enqueue(wecom, "o:2", "二")
    fake.fail_next("message/send", 45009, times=3)
    wecom.sender.drain()
    clock.advance(seconds=5)
    real = delivery.outbox.any_due

    def late(**kwargs):  # the answer read, then the sends out finish before drain looks at them
        due = real(**kwargs)
        for _ in range(200):
            if not wecom.sender._inflight:
                break
            time.sleep(0.01)
        return due

    monkeypatch.setattr(delivery.outbox, "any_due", late)
    wecom.sender.drain()
    assert row(wecom, second).status == "sent" and row(wecom, first).status == "sent"
