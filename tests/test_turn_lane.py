import asyncio
import threading

from sqlmodel import select

from bot.lane import TurnLane
from handlers import router
from handlers.base import Inbound
from storage import entries
from storage.models import ActivityEntry, AuditEntry, Outbox, ProcessedMessage


def _msg(userid: str, text: str, key: str) -> tuple[Inbound, int | None]:
    return Inbound("app", userid, text, key), 2048


def _audit_count(services) -> int:
    with services.db.read() as session:
        return len(session.exec(select(AuditEntry)).all())


def test_messages_handled_together_are_answered_in_order_and_all_committed(any_services):
    answers = any_services.dispatcher.dispatch_many(
        [_msg("wangfang", "填报", "k1"), _msg("wangfang", "6", "k2"), _msg("zhaolei", "填报", "k3")]
    )
    assert "【1/14】" in answers[0][0].text
    assert "已记录：党委会 6 次" in answers[1][0].text  # sees the state the first message left
    assert "【1/14】" in answers[2][0].text
    with any_services.db.read() as session:
        assert [e.count for e in session.exec(select(ActivityEntry))] == [6]
        assert len(session.exec(select(ProcessedMessage)).all()) == 3


def test_a_message_delivered_twice_in_one_batch_is_handled_once(any_services):
    any_services.dispatcher.dispatch(Inbound("app", "wangfang", "填报", "k1"))
    answers = any_services.dispatcher.dispatch_many([_msg("wangfang", "6", "k2"), _msg("wangfang", "6", "k2")])
    assert answers[0][0].text == answers[1][0].text
    with any_services.db.read() as session:
        assert [e.version for e in session.exec(select(ActivityEntry))] == [1]
    assert _audit_count(any_services) == 1


def test_one_failing_message_in_a_batch_fails_alone_and_the_others_are_saved(any_services, failing_for):
    any_services.dispatcher.dispatch(Inbound("app", "wangfang", "填报", "k1"))
    failing_for("zhaolei")
    answers = any_services.dispatcher.dispatch_many(
        [_msg("wangfang", "6", "k2"), _msg("zhaolei", "填报", "k3"), _msg("wangfang", "7", "k4")]
    )
    assert isinstance(answers[1], RuntimeError)
    assert "已记录：党委会 6 次" in answers[0][0].text and "已记录：党小组会 7 次" in answers[2][0].text
    with any_services.db.read() as session:
        keys = {m.key for m in session.exec(select(ProcessedMessage))}
    assert keys == {"k1", "k2", "k4"}  # nothing of the failed message was kept: its retry is handled afresh
    assert _audit_count(any_services) == 2


def test_each_message_of_a_batch_starts_with_a_session_as_fresh_as_its_own(services, monkeypatch):
    seen = []

    def look(turn):
        seen.append((len(turn.session.identity_map), entries._CACHE in turn.session.info))

    monkeypatch.setattr(router, "_BEFORE", [*router._BEFORE, look])
    services.dispatcher.dispatch(Inbound("app", "wangfang", "填报", "k1"))
    seen.clear()
    services.dispatcher.dispatch_many(
        [_msg("hezhiyuan", "重新开放 U01", "k2"), _msg("wangfang", "6", "k3"), _msg("wangfang", "帮助", "k4")]
    )
    assert seen == [(0, False)] * 3


def test_the_lane_answers_each_waiting_callback_with_its_own_reply_after_one_commit(services):
    lane = TurnLane(services.dispatcher, batch=8)
    gate = threading.Lock()
    batches = []
    dispatch_many = services.dispatcher.dispatch_many

    def held(work):  # the first batch waits until every message is queued: they must go together
        with gate:
            batches.append(len(work))
            return dispatch_many(work)

    services.dispatcher.dispatch_many = held

    async def main():
        gate.acquire()
        tasks = [
            asyncio.create_task(lane.dispatch(Inbound("app", u, "填报", f"k-{u}"), 2048))
            for u in ("wangfang", "zhaolei", "liqiang")
        ]
        await asyncio.sleep(0.2)
        gate.release()
        return await asyncio.gather(*tasks)

    answers = asyncio.run(main())
    lane.close()
    assert ["本单位是总支" in a[0].text for a in answers] == [False, True, False]  # zhaolei's unit is U07
    assert all("【1/14】" in a[0].text for a in answers)
    assert sum(batches) == 3 and len(batches) <= 2  # the first may leave alone; the other two go together


def test_the_lane_raises_a_failed_message_to_its_own_caller_only(services, failing_for):
    failing_for("zhaolei")
    lane = TurnLane(services.dispatcher)

    async def main():
        good = lane.dispatch(Inbound("app", "wangfang", "填报", "a"), 2048)
        bad = lane.dispatch(Inbound("app", "zhaolei", "填报", "b"), 2048)
        return await asyncio.gather(good, bad, return_exceptions=True)

    good, bad = asyncio.run(main())
    lane.close()
    assert "【1/14】" in good[0].text and isinstance(bad, RuntimeError)


def test_a_batch_that_queues_messages_wakes_the_sender_only_after_its_commit(services):
    services.sender.wakeup.clear()
    seen_at_wake = []

    class Watch:
        def set(self):
            with services.db.read() as session:
                seen_at_wake.append(len(session.exec(select(Outbox)).all()))

    services.dispatcher.wakeup = Watch()
    # an answer longer than the passive limit: the rest goes through the outbox
    services.dispatcher.dispatch_many([_msg("wangfang", "帮助", "k1"), (Inbound("app", "zhaolei", "帮助", "k2"), 40)])
    assert seen_at_wake and seen_at_wake[0] > 0
