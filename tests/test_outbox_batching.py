import itertools
import threading
import time

import pytest
from sqlalchemy import event
from sqlmodel import select

import bot.delivery
from bot.channels.wecom_transport import WeComTransport
from bot.delivery import START_BY_S
from bot.services import build_services
from bot.settings import load_settings
from storage import outbox
from storage.models import Outbox


@pytest.fixture
def wecom(sqlite_url, clock, fake):
    settings = load_settings(
        database_url=sqlite_url, corp_id="wwcorp", secret="s3cret", agent_id=1, api_base=fake.base_url, _env_file=None
    )
    services = build_services(settings, clock=clock, transport=WeComTransport(settings, timeout=5.0))
    yield services
    services.close()


def enqueue(services, count, prefix="m"):
    with services.db.write() as session:
        rows = [
            outbox.enqueue(
                session=session,
                key=f"{prefix}:{i}",
                content=f"提醒 {i}",
                recipients=[f"{prefix}{i}"],
                now=services.clock.now(),
            )
            for i in range(count)
        ]
    return [row.id for row in rows]


def statuses(services) -> dict[int, str]:
    with services.db.read() as session:
        return {row.id: row.status for row in session.exec(select(Outbox))}


def write_transactions(services) -> list[int]:
    """A list that grows by one at every write transaction (BEGIN IMMEDIATE) on the services' database."""
    seen: list[int] = []

    @event.listens_for(services.db.engine, "begin")
    def count(conn):
        if conn.get_execution_options().get("sqlite_begin") == "IMMEDIATE":
            seen.append(1)

    return seen


def test_one_claim_takes_rows_for_the_whole_pool_and_more(wecom):
    enqueue(wecom, 40)
    assert wecom.sender.pump() == 40  # not one row per idle worker
    wecom.sender.settle()
    assert set(statuses(wecom).values()) == {"sent"}


def test_a_fan_out_of_many_texts_commits_in_a_few_transactions(wecom, fake):
    enqueue(wecom, 120)
    writes = write_transactions(wecom)
    wecom.sender.drain()
    assert len(fake.calls_to("message/send")) == 120 and set(statuses(wecom).values()) == {"sent"}
    assert len(writes) <= 12, len(writes)  # two claims and the outcomes in groups, not two per row


def test_a_row_claimed_too_long_ago_is_handed_back_unsent_and_sent_once_later(wecom, fake, clock):
    (row_id,) = enqueue(wecom, 1)
    with wecom.db.write() as session:
        (row,) = outbox.claim(session=session, now=clock.now(), holder=wecom.sender.holder)
    clock.advance(seconds=outbox.LEASE_S - START_BY_S + 1)  # it waited in the queue: too little lease left
    wecom.sender._send(row)
    wecom.sender.commit()
    assert fake.calls_to("message/send") == [] and statuses(wecom)[row_id] == "pending"
    wecom.sender.drain()
    assert fake.delivered_to("m0") == 1 and statuses(wecom)[row_id] == "sent"


def test_a_finished_send_commits_while_a_stalled_one_is_still_out(wecom, fake):
    wecom.sender.workers = 2
    enqueue(wecom, 2)
    fake.delay_next("message/send", 3.0, times=1)  # whichever call comes first stalls; the other is answered
    drain = threading.Thread(target=wecom.sender.drain)
    drain.start()
    deadline = time.monotonic() + 0.8  # committed within COMMIT_WITHIN_S (0.2 s), not at the next idle second
    while "sent" not in statuses(wecom).values() and time.monotonic() < deadline:
        time.sleep(0.02)
    seen = sorted(statuses(wecom).values())
    drain.join(timeout=10)
    assert seen == ["sending", "sent"] and set(statuses(wecom).values()) == {"sent"}


def test_outcomes_whose_commit_failed_are_committed_next_round(wecom, fake, monkeypatch):
    (row_id,) = enqueue(wecom, 1)
    real = bot.delivery.commit_outcomes
    failures = iter([True])

    def flaky(*args):
        if next(failures, False):
            raise RuntimeError("database went away")
        return real(*args)

    monkeypatch.setattr(bot.delivery, "commit_outcomes", flaky)
    wecom.sender.pump()
    with pytest.raises(RuntimeError):
        wecom.sender.settle()
    assert statuses(wecom)[row_id] == "sending"  # still leased: no other sender takes it
    wecom.sender.commit()
    assert statuses(wecom)[row_id] == "sent" and len(fake.calls_to("message/send")) == 1


def test_kaohe_send_workers_sizes_the_senders_pool(sqlite_url, fake, clock, monkeypatch):
    monkeypatch.setenv("KAOHE_SEND_WORKERS", "7")
    settings = load_settings(
        database_url=sqlite_url, corp_id="c", secret="s", agent_id=1, api_base=fake.base_url, _env_file=None
    )
    services = build_services(settings, clock=clock)
    assert services.sender.workers == 7 and services.sender._pool._max_workers == 7
    services.close()


def test_a_sender_whose_lease_was_taken_over_does_not_mark_the_row_sent(wecom, clock):
    (row_id,) = enqueue(wecom, 1)
    with wecom.db.write() as session:
        outbox.claim(session=session, now=clock.now(), holder="old")
    clock.advance(seconds=outbox.LEASE_S + 1)
    with wecom.db.write() as session:
        outbox.claim(session=session, now=clock.now(), holder="new")
    with wecom.db.write() as session:
        assert outbox.mark_sent_many(session=session, outbox_ids=[row_id], now=clock.now(), holder="old") == set()
    assert statuses(wecom)[row_id] == "sending"
    with wecom.db.write() as session:
        assert outbox.mark_sent_many(session=session, outbox_ids=[row_id], now=clock.now(), holder="new") == {row_id}


def test_a_pool_narrowed_to_one_sends_one_call_at_a_time(wecom, fake):
    wecom.sender.workers = 1
    enqueue(wecom, 3)
    fake.delay_next("message/send", 0.2, times=3)
    wecom.sender.drain()
    arrivals = [call.at for call in fake.calls_to("message/send")]
    assert len(arrivals) == 3 and all(b - a >= 0.19 for a, b in itertools.pairwise(arrivals)), arrivals
