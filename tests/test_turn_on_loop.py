import asyncio
import gc
import logging
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text
from sqlmodel import select

from bot import lane as lane_module
from bot.lane import TurnLane
from handlers.base import Inbound, Turn
from storage.db import ON_LOOP, Busy, HandOff
from storage.dialogs import State
from storage.models import ActivityEntry, Person, ProcessedMessage, StoredFile
from tests.conftest import IN_SELF_CHECK as AT

LOOP = "MainThread"  # asyncio.run's loop runs on the test's own thread


@contextmanager
def held(db):
    """Another thread of this process holds the write lock until the block ends."""
    taken, release = threading.Event(), threading.Event()

    def hold():
        with db.write():
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait(5)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def _together(lane, *messages):
    async def main():
        calls = [lane.dispatch(Inbound("app", u, t, k), 2048) for u, t, k in messages]
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 20)

    return asyncio.run(main())


def test_short_turns_run_on_the_event_loop_in_one_transaction(services, where):
    lane = TurnLane(services.dispatcher, on_loop=True)
    answers = _together(lane, ("wangfang", "填报", "k1"), ("zhaolei", "填报", "k2"), ("wangfang", "6", "k3"))
    lane.close()
    assert "【1/14】" in answers[0][0].text and "已记录：党委会 6 次" in answers[2][0].text
    assert where == {"k1": LOOP, "k2": LOOP, "k3": LOOP}
    assert (lane.batches, lane.messages, lane.handed_off) == (1, 3, 0)
    with services.db.read() as session:
        assert [e.count for e in session.exec(select(ActivityEntry))] == [6]
        assert len(session.exec(select(ProcessedMessage)).all()) == 3


def test_a_write_lock_held_in_this_process_sends_the_batch_to_the_thread_which_waits(services, where):
    lane = TurnLane(services.dispatcher, on_loop=True)

    async def main():
        with held(services.db):
            first = asyncio.ensure_future(lane.dispatch(Inbound("app", "wangfang", "填报", "k1"), 2048))
            began = time.monotonic()
            await asyncio.sleep(0.2)  # the loop tried, did not wait, and went on
            assert not first.done() and time.monotonic() - began < 2
        answer = await first
        await lane.dispatch(Inbound("app", "wangfang", "6", "k2"), 2048)  # the thread is done: the loop again
        return answer

    answer = asyncio.run(main())
    lane.close()
    assert "【1/14】" in answer[0].text and where == {"k1": "turn-lane", "k2": LOOP} and lane.handed_off == 1


def test_messages_waiting_behind_a_batch_handed_off_go_with_it(services, where):
    lane = TurnLane(services.dispatcher, batch=1, on_loop=True)

    async def main():
        with held(services.db):
            calls = [lane.dispatch(Inbound("app", "wangfang", t, k), 2048) for t, k in (("填报", "k1"), ("6", "k2"))]
            waiting = asyncio.gather(*calls)
            await asyncio.sleep(0.1)
        return await asyncio.wait_for(waiting, 10)

    first, second = asyncio.run(main())
    lane.close()
    assert "【1/14】" in first[0].text and "已记录：党委会 6 次" in second[0].text
    assert where == {"k1": "turn-lane", "k2": "turn-lane"}


def test_a_database_locked_by_another_process_is_not_waited_for_on_the_loop(services, where):
    other = sqlite3.connect(services.db.url.database, isolation_level=None, check_same_thread=False)  # another process
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    lane = TurnLane(services.dispatcher, on_loop=True)
    answers = _together(lane, ("wangfang", "填报", "k1"))
    lane.close()
    other.close()
    assert "【1/14】" in answers[0][0].text and where == {"k1": "turn-lane"} and lane.handed_off == 1


def test_a_message_behind_ones_on_the_thread_follows_them_there(services, where):
    lane = TurnLane(services.dispatcher, on_loop=True)
    gate, dispatch_many = threading.Event(), services.dispatcher.dispatch_many
    services.dispatcher.dispatch_many = lambda work: gate.wait(10) and dispatch_many(work)

    async def main():
        with held(services.db):
            first = asyncio.ensure_future(lane.dispatch(Inbound("app", "wangfang", "填报", "k1"), 2048))
            await asyncio.sleep(0.1)
        # the lock is free now, but the thread has not handled the first message yet
        second = asyncio.ensure_future(lane.dispatch(Inbound("app", "wangfang", "6", "k2"), 2048))
        await asyncio.sleep(0.1)
        gate.set()
        return await first, await second

    first, second = asyncio.run(main())
    lane.close()
    assert "【1/14】" in first[0].text and "已记录：党委会 6 次" in second[0].text
    assert where == {"k1": "turn-lane", "k2": "turn-lane"}


def test_a_heavy_turn_is_tried_on_the_loop_then_handled_on_the_thread(services, where):
    lane = TurnLane(services.dispatcher, on_loop=True)
    answers = _together(lane, ("hezhiyuan", "导出", "k1"), ("wangfang", "填报", "k2"))
    lane.close()
    assert "全市考核表" in answers[0][0].text and "【1/14】" in answers[1][0].text
    assert where == {"k1": "turn-lane", "k2": "turn-lane"} and lane.handed_off == 1
    with services.db.read() as session:
        assert len(session.exec(select(StoredFile)).all()) == 1


def test_the_city_progress_is_heavy(services, where):
    lane = TurnLane(services.dispatcher, on_loop=True)
    answers = _together(lane, ("hezhiyuan", "全市进度", "k1"))
    lane.close()
    assert "全市" in answers[0][0].text and where == {"k1": "turn-lane"} and lane.handed_off == 1


def test_sending_a_file_is_heavy_whatever_the_keyword(services):
    with services.db.write() as session:
        session.info[ON_LOOP] = True
        turn = Turn(
            session,
            Inbound("app", "wangfang", "x", "k1"),
            Person(userid="wangfang", name="王芳"),
            None,
            None,
            State("wangfang"),
            AT,
        )
        with pytest.raises(HandOff):
            turn.send_file("a.txt", "text/plain", b"a")
        session.info[ON_LOOP] = False
        turn.send_file("a.txt", "text/plain", b"a")
        assert turn.replies[0].msgtype == "file"


def test_a_heavy_turn_on_the_loop_keeps_nothing(services):
    with pytest.raises(HandOff):
        services.dispatcher.dispatch_on_loop(
            [(Inbound("app", "wangfang", "填报", "k1"), 2048), (Inbound("app", "hezhiyuan", "导出", "k2"), 2048)]
        )
    with services.db.read() as session:
        assert session.exec(select(ProcessedMessage)).all() == []
        assert session.exec(select(StoredFile)).all() == []


def test_a_failure_on_the_loop_is_handled_again_on_the_thread_message_by_message(services, where, failing_for):
    failing_for("zhaolei")
    lane = TurnLane(services.dispatcher, on_loop=True)
    good, bad = _together(lane, ("wangfang", "填报", "k1"), ("zhaolei", "填报", "k2"))
    lane.close()
    assert "【1/14】" in good[0].text and isinstance(bad, RuntimeError)
    assert where["k1"] == "turn-lane" and lane.handed_off == 1
    with services.db.read() as session:
        assert {m.key for m in session.exec(select(ProcessedMessage))} == {"k1"}


def test_a_slow_batch_on_the_loop_is_said_in_the_log(services, caplog, monkeypatch):
    monkeypatch.setattr(lane_module, "SLOW_ON_LOOP_S", 0.0)
    lane = TurnLane(services.dispatcher, on_loop=True)
    with caplog.at_level(logging.WARNING, logger="bot.lane"):
        _together(lane, ("wangfang", "填报", "k1"))
    lane.close()
    assert any("on the event loop took" in r.getMessage() and "k1" in r.getMessage() for r in caplog.records)


def test_write_nowait_refuses_at_once_when_another_connection_holds_the_lock(services):
    other = sqlite3.connect(services.db.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    began = time.monotonic()
    with pytest.raises(Busy), services.db.write_nowait() as session:
        session.execute(text("DELETE FROM processedmessage"))
    assert time.monotonic() - began < 5  # the usual busy timeout is 30 s
    other.execute("COMMIT")
    other.close()
    with services.db.write() as session:  # the connection's busy timeout is back for everyone else
        assert session.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_write_nowait_refuses_while_another_thread_holds_the_write_lock(services):
    began = time.monotonic()
    with held(services.db), pytest.raises(Busy), services.db.write_nowait():
        pytest.fail("write_nowait gave a session while the lock was held")
    assert time.monotonic() - began < 2
    with services.db.write_nowait() as session:  # and takes it once it is free
        assert session.execute(text("SELECT 1")).scalar() == 1


def _checkouts(db) -> list:
    taken = []
    event.listen(db.engine, "checkout", lambda dbapi, _record, _proxy: taken.append(dbapi))
    return taken


def test_write_nowait_takes_the_connection_that_committed_last_again_without_the_pool(services):
    taken = _checkouts(services.db)
    for i in range(3):
        with services.db.write_nowait() as session:
            session.execute(text(f"INSERT INTO data_stamp (name, version) VALUES ('warm{i}', 1)"))
    assert len(taken) <= 1  # the first may come from the pool; the next two are the one kept
    (_at, kept), = services.db._warm  # fmt: skip
    assert not kept.connection.driver_connection.in_transaction  # committed, and nothing begun on it
    with services.db.read() as session:  # every batch committed on it
        assert session.execute(text("SELECT count(*) FROM data_stamp WHERE name LIKE 'warm%'")).scalar() == 3


def test_write_nowait_gives_a_connection_left_longer_than_warm_s_back_to_the_pool(services):
    with services.db.write_nowait() as session:  # a batch that commits
        assert session.execute(text("SELECT 1")).scalar() == 1
    (_at, first), = services.db._warm  # fmt: skip
    services.db.warm_s = 0.0
    time.sleep(0.01)
    taken = _checkouts(services.db)
    with services.db.write_nowait() as session:  # a batch that commits
        assert session.execute(text("SELECT 1")).scalar() == 1
    assert len(taken) == 1 and first.closed  # back to the pool, and the batch's from the pool


def test_a_failed_batch_on_the_loop_keeps_neither_its_writes_nor_its_connection(services):
    with services.db.write_nowait() as session:  # a batch that commits
        assert session.execute(text("SELECT 1")).scalar() == 1
    assert len(services.db._warm) == 1
    with pytest.raises(RuntimeError), services.db.write_nowait() as session:
        session.execute(text("INSERT INTO data_stamp (name, version) VALUES ('lost', 1)"))
        raise RuntimeError("a turn failed")
    assert services.db._warm == []  # rolled back and returned to the pool, not kept for the next batch
    assert services.db.engine.pool.checkedout() == 0
    with services.db.write_nowait() as session:  # the next batch begins cleanly, and the failed one left nothing
        assert session.execute(text("SELECT count(*) FROM data_stamp WHERE name = 'lost'")).scalar() == 0
    other = sqlite3.connect(services.db.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Busy), services.db.write_nowait():
            pytest.fail("write_nowait gave a session while another connection held the lock")
        assert services.db._warm == [] and services.db.engine.pool.checkedout() == 0  # refused: it went back too
    finally:
        other.close()


def test_write_nowait_is_for_sqlite_only(pg_services):
    with pytest.raises(Busy), pg_services.db.write_nowait():
        pytest.fail("write_nowait gave a session on PostgreSQL")


def test_messages_not_answered_in_time_get_none_and_their_answers_go_the_late_way(services):
    lane, late = TurnLane(services.dispatcher, on_loop=True), []

    async def main():
        loop = asyncio.get_running_loop()
        with held(services.db):
            began = loop.time()
            first = lane.submit(Inbound("app", "wangfang", "填报", "k1"), 2048, within=0.3, late=late.append)
            await asyncio.sleep(0.2)
            second = lane.submit(Inbound("app", "zhaolei", "填报", "k2"), 2048, within=0.3, late=late.append)
            answers = await asyncio.wait_for(asyncio.gather(first, second), 5)
            waited = loop.time() - began
        for _ in range(100):  # the work goes on once the lock is free
            if len(late) == 2:
                break
            await asyncio.sleep(0.05)
        return answers, waited

    answers, waited = asyncio.run(main())
    lane.close()
    assert answers == [None, None] and waited < 2  # the lock was held until after both had their None
    assert lane._deadlines == {}  # nothing kept of a loop that has closed
    assert ["【1/14】" in replies[0].text for replies in late] == [True, True]


def test_an_answered_message_is_let_go_before_its_deadline_and_a_late_one_still_gets_its_none(services):
    """The deadlines' queue keeps a message only while it may still need its None: what was answered goes
    at the next message, not at its deadline (4 s of answers, futures and messages kept alive, walked by
    every young pass of the garbage collector); one not answered in time still gets None. The loop's clock
    is moved on by hand, so no wait is real."""
    lane, late, shift = TurnLane(services.dispatcher, on_loop=True), [], [0.0]
    loop = asyncio.new_event_loop()
    real_time = loop.time
    loop.time = lambda: real_time() + shift[0]

    async def main():
        answered = []
        for i in range(5):  # each answered long before its 30 s are up
            future = lane.submit(Inbound("app", "wangfang", "帮助", f"h{i}"), 2048, within=30, late=late.append)
            assert await future
            answered.append(weakref.ref(future))
            del future
        gc.collect()
        kept = [ref() is not None for ref in answered]
        with held(services.db):  # one not answered in time, behind the last answered, still gets its None
            slow = lane.submit(Inbound("app", "zhaolei", "填报", "h5"), 2048, within=30, late=late.append)
            await asyncio.sleep(0.1)
            shift[0] += 31
            none = await asyncio.wait_for(slow, 5)
        for _ in range(100):
            if late:
                break
            await asyncio.sleep(0.05)
        return kept, none

    try:
        kept, none = loop.run_until_complete(main())
    finally:
        loop.close()
    lane.close()
    # the queue keeps one before the newest (only its timer empties it): the last two wait for the next message
    assert kept == [False, False, False, True, True]
    assert none is None and len(late) == 1 and "【1/14】" in late[0][0].text


def test_a_serving_process_checkpoints_the_wal_on_a_thread_and_no_commit_does(services):
    with services.db.write() as session:
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
    for i in range(50):
        services.dispatcher.dispatch(Inbound("app", "wangfang", "帮助", f"c{i}"))
    checkpointer = services.db.checkpointer
    for _ in range(100):
        if checkpointer.frames:
            break
        time.sleep(0.05)
    assert checkpointer.is_alive() and checkpointer.frames > 0
    services.db.dispose()
    assert not checkpointer.is_alive()


def test_a_database_of_the_command_line_keeps_sqlites_own_checkpoints(sqlite_url):
    from storage.db import Database

    db = Database(sqlite_url)
    with db.write() as session:
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
    assert db.checkpointer is None
    with db.write_nowait() as session:  # its connection is kept for the loop's next batch, out of the pool
        assert session.execute(text("SELECT 1")).scalar() == 1
    db.checkpoint_in_background()  # turned on later: the connections already open are changed too
    with db.write() as session:
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
    with db.write_nowait() as session:
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
    db.dispose()


def _first_and_one_callback_later(lane):
    """One message, and another submitted a callback later (as a request read in the same round of I/O is,
    when its handler runs after the first's): how many batches carried them."""

    async def main():
        later = []
        first = lane.submit(Inbound("app", "wangfang", "填报", "k1"), 2048)
        asyncio.get_running_loop().call_soon(
            lambda: later.append(lane.submit(Inbound("app", "zhaolei", "填报", "k2"), 2048))
        )
        answer = await asyncio.wait_for(first, 20)
        return [answer, await asyncio.wait_for(later[0], 20)]

    answers = asyncio.run(main())
    lane.close()
    assert all("【1/14】" in a[0].text for a in answers), answers
    return lane.batches


def test_on_sqlite_a_message_a_callback_behind_the_first_joins_its_batch(services):
    assert _first_and_one_callback_later(TurnLane(services.dispatcher, on_loop=True)) == 1


def test_on_postgresql_a_batch_takes_off_at_the_loops_next_turn(pg_services):
    # its batches overlap in flights: the one a callback behind takes off beside it
    assert _first_and_one_callback_later(TurnLane(pg_services.dispatcher, on_loop=True)) == 2
