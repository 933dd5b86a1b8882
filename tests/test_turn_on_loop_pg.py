"""PostgreSQL's turns on the event loop: batches in greenlets that await the server (bot/lane.py,
storage/pgwire.py), up to `flights` at once, none with a person another has."""

import asyncio
import threading
import time
from contextlib import contextmanager

from sqlmodel import select

from bot.lane import TurnLane
from handlers.base import Inbound
from storage.models import ActivityEntry, StoredFile

LOOP = "MainThread"  # asyncio.run's loop runs on the test's own thread
SAVED = "已记录：党委会 6 次"


@contextmanager
def person_held(db, userid: str):
    """Another connection holds that person's lock (as another worker's turn would) until the block ends."""
    taken, release = threading.Event(), threading.Event()

    def hold():
        with db.write() as session:
            db.lock_people(session, [userid])
            taken.set()
            release.wait(20)

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(10)
    try:
        yield release
    finally:
        release.set()
        thread.join(20)


def send(lane, userid: str, text: str, key: str) -> asyncio.Future:
    return asyncio.ensure_future(lane.dispatch(Inbound("app", userid, text, key), 2048))


def start_filling(lane, userid: str, key: str) -> None:
    async def main():
        await asyncio.wait_for(send(lane, userid, "填报", key), 20)

    asyncio.run(main())


def test_short_turns_run_on_the_loop_in_one_transaction(pg_services, where):
    lane = TurnLane(pg_services.dispatcher, on_loop=True)

    async def main():
        calls = [send(lane, "wangfang", "填报", "k1"), send(lane, "zhaolei", "填报", "k2")]
        calls.append(send(lane, "wangfang", "6", "k3"))  # after her 填报, in the same batch
        return await asyncio.wait_for(asyncio.gather(*calls), 20)

    answers = asyncio.run(main())
    lane.close()
    assert "【1/14】" in answers[0][0].text and "【1/14】" in answers[1][0].text and SAVED in answers[2][0].text
    assert where == {"k1": LOOP, "k2": LOOP, "k3": LOOP} and lane._thread is None
    assert (lane.batches, lane.messages, lane.handed_off) == (1, 3, 0)
    with pg_services.db.read() as session:
        assert [e.count for e in session.exec(select(ActivityEntry))] == [6]


def test_the_loop_serves_others_while_a_batch_waits_for_the_server(pg_services, where):
    # A person locked by another connection: the batch waits for PostgreSQL, and the loop does not.
    lane = TurnLane(pg_services.dispatcher, on_loop=True, flights=1)

    async def main():
        with person_held(pg_services.db, "wangfang") as release:
            waiting = send(lane, "wangfang", "填报", "k1")
            started = time.monotonic()
            await asyncio.sleep(0.3)
            slept = time.monotonic() - started
            assert not waiting.done()
            release.set()
            answer = await asyncio.wait_for(waiting, 20)
        return slept, answer

    slept, answer = asyncio.run(main())
    lane.close()
    assert slept < 2, f"the event loop stood still for {slept:.1f} s while the batch waited"
    assert "【1/14】" in answer[0].text and where == {"k1": LOOP}


def test_a_second_batch_takes_off_with_other_people_while_the_first_waits(pg_services, where):
    start_filling(TurnLane(pg_services.dispatcher, on_loop=True), "wangfang", "k0")
    lane = TurnLane(pg_services.dispatcher, on_loop=True, flights=2)

    async def main():
        with person_held(pg_services.db, "wangfang") as release:
            first = send(lane, "wangfang", "6", "k1")
            await asyncio.sleep(0.2)  # in the air, waiting for her lock
            again = send(lane, "wangfang", "上一步", "k2")  # hers: must wait for the first
            other = send(lane, "zhaolei", "填报", "k3")
            answered = await asyncio.wait_for(other, 20)
            assert not first.done() and not again.done()
            release.set()
            return answered, await asyncio.wait_for(first, 20), await asyncio.wait_for(again, 20)

    other, first, again = asyncio.run(main())
    lane.close()
    assert "【1/14】" in other[0].text and SAVED in first[0].text
    assert "党委会" in again[0].text and "【1/14】" in again[0].text  # back to the question just answered
    assert where == {"k0": LOOP, "k1": LOOP, "k2": LOOP, "k3": LOOP}


def test_with_one_flight_the_others_wait_behind_it(pg_services):
    lane = TurnLane(pg_services.dispatcher, on_loop=True, flights=1)

    async def main():
        with person_held(pg_services.db, "wangfang") as release:
            first = send(lane, "wangfang", "填报", "k1")
            await asyncio.sleep(0.2)
            other = send(lane, "zhaolei", "填报", "k2")
            await asyncio.sleep(0.5)
            assert not other.done()
            release.set()
            return await asyncio.wait_for(asyncio.gather(first, other), 20)

    answers = asyncio.run(main())
    lane.close()
    assert all("【1/14】" in a[0].text for a in answers)


def test_a_heavy_turn_is_handed_to_the_thread_once_no_batch_is_in_the_air(pg_services, where):
    # 导出 lands while wangfang's batch waits; no batch takes off until that one is down, then the thread
    # takes 导出 and everything behind it in order.
    lane = TurnLane(pg_services.dispatcher, on_loop=True, flights=2)

    async def main():
        with person_held(pg_services.db, "wangfang") as release:
            first = send(lane, "wangfang", "填报", "k1")
            await asyncio.sleep(0.2)
            heavy = send(lane, "hezhiyuan", "导出", "k2")
            await asyncio.sleep(0.5)  # tried on the loop, handed off, held until the first is down
            behind = send(lane, "zhaolei", "填报", "k3")
            await asyncio.sleep(0.5)
            assert not heavy.done() and not behind.done()
            release.set()
            return await asyncio.wait_for(asyncio.gather(first, heavy, behind), 30)

    first, heavy, behind = asyncio.run(main())
    lane.close()
    assert "【1/14】" in first[0].text and "全市考核表" in heavy[0].text and "【1/14】" in behind[0].text
    assert where == {"k1": LOOP, "k2": "turn-lane", "k3": "turn-lane"} and lane.handed_off == 1
    with pg_services.db.read() as session:
        assert len(session.exec(select(StoredFile)).all()) == 1


def test_a_failure_on_the_loop_is_handled_again_on_the_thread_message_by_message(pg_services, where, failing_for):
    failing_for("zhaolei")
    lane = TurnLane(pg_services.dispatcher, on_loop=True)

    async def main():
        calls = [send(lane, "wangfang", "填报", "k1"), send(lane, "zhaolei", "填报", "k2")]
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 20)

    answers = asyncio.run(main())
    lane.close()
    assert "【1/14】" in answers[0][0].text and isinstance(answers[1], Exception)
    assert where["k1"] == "turn-lane" and lane.handed_off == 1


async def longest_stall(work) -> tuple[float, object]:
    """The longest the event loop went without running a 20 ms ticker while `work` was awaited (the tests
    that use it take `collector_off`, so a pause of the garbage collector is not counted as one)."""
    longest, stop = 0.0, asyncio.Event()

    async def tick():
        nonlocal longest
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.02)
            now = time.monotonic()
            longest, last = max(longest, now - last), now

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0.05)
    try:
        result = await asyncio.wait_for(work, 30)
    finally:
        stop.set()
        await ticker
    return longest, result


def test_a_commit_the_server_is_slow_to_finish_is_awaited_not_waited_for(pg_services, where, collector_off):
    # A deferred trigger makes each COMMIT that stored a message take a second on the server.
    ddl = [
        "CREATE FUNCTION kaohe_slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$",
        "CREATE CONSTRAINT TRIGGER kaohe_slow_commit AFTER INSERT ON processed_message "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kaohe_slow_commit()",
    ]
    with pg_services.db.engine.begin() as conn:
        for statement in ddl:
            conn.exec_driver_sql(statement)
    lane = TurnLane(pg_services.dispatcher, on_loop=True)
    try:
        started = time.monotonic()
        stall, answer = asyncio.run(_stalled(lane, "wangfang", "填报", "k1"))
        took = time.monotonic() - started
    finally:
        lane.close()
        with pg_services.db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER kaohe_slow_commit ON processed_message")
            conn.exec_driver_sql("DROP FUNCTION kaohe_slow_commit()")
    assert took >= 1 and "【1/14】" in answer[0].text and where == {"k1": LOOP}
    assert stall < 0.5, f"the event loop stood still for {stall:.2f} s during the COMMIT"


def test_taking_a_connection_from_the_pool_never_stops_the_loop(pg_services, where, collector_off):
    # The pool pings a connection before handing it out (and opens one when none is left): on a thread.
    from sqlalchemy import event

    checked_out_on = []

    def slow_checkout(*_args):
        checked_out_on.append(threading.current_thread().name)
        time.sleep(0.8)

    event.listen(pg_services.db.engine, "checkout", slow_checkout)
    lane = TurnLane(pg_services.dispatcher, on_loop=True)
    try:
        stall, answer = asyncio.run(_stalled(lane, "wangfang", "填报", "k1"))
    finally:
        lane.close()
        event.remove(pg_services.db.engine, "checkout", slow_checkout)
    assert "【1/14】" in answer[0].text and where == {"k1": LOOP}
    assert checked_out_on and LOOP not in checked_out_on, checked_out_on
    assert stall < 0.5, f"the event loop stood still for {stall:.2f} s while a connection was checked out"


@contextmanager
def checkouts(db):
    """The threads the pool hands out connections on (a pre-ping or a connect happens there), in order."""
    from sqlalchemy import event

    seen = []

    def taken(*_args):
        seen.append(threading.current_thread().name)

    event.listen(db.engine, "checkout", taken)
    try:
        yield seen
    finally:
        event.remove(db.engine, "checkout", taken)


def one_after_another(lane, *messages):
    """Each (userid, text, key) sent once the one before is answered: a batch each."""

    async def main():
        return [await asyncio.wait_for(send(lane, *message), 20) for message in messages]

    return asyncio.run(main())


def test_a_batch_soon_after_another_takes_its_connection_again_without_the_pool(pg_services, where):
    # The pool pings a connection before handing it out, on a thread: a batch within warm_s of the last
    # commit on the loop takes that connection as it is, on the loop.
    lane = TurnLane(pg_services.dispatcher, on_loop=True)
    with checkouts(pg_services.db) as taken:
        answers = one_after_another(
            lane, ("wangfang", "填报", "k1"), ("wangfang", "6", "k2"), ("zhaolei", "填报", "k3")
        )
    lane.close()
    assert "【1/14】" in answers[0][0].text and SAVED in answers[1][0].text and "【1/14】" in answers[2][0].text
    assert where == {"k1": LOOP, "k2": LOOP, "k3": LOOP} and lane.handed_off == 0
    assert len(taken) == 1 and LOOP not in taken, taken


def test_a_connection_left_longer_than_warm_s_goes_back_to_the_pool_and_is_pinged(pg_services, where):
    pg_services.db.warm_s = 0.0
    lane = TurnLane(pg_services.dispatcher, on_loop=True)
    with checkouts(pg_services.db) as taken:
        answers = one_after_another(lane, ("wangfang", "填报", "k1"), ("wangfang", "6", "k2"))
    lane.close()
    assert SAVED in answers[1][0].text and where == {"k1": LOOP, "k2": LOOP}
    assert len(taken) == 2 and LOOP not in taken, taken
    assert pg_services.db.engine.pool.checkedout() == 1  # the one kept after the last commit, no other


def test_a_kept_connection_the_server_dropped_hands_its_batch_to_the_thread_and_is_not_kept(pg_services, where):
    # Within warm_s nothing pings the kept connection: if the server dropped it meanwhile, the batch fails
    # on the loop and is redone on the thread (nothing of it kept), and that connection is not used again.
    lane = TurnLane(pg_services.dispatcher, on_loop=True)
    pg_services.db.warm_s = 60.0
    one_after_another(lane, ("wangfang", "填报", "k1"))
    (_at, kept), = pg_services.db._warm  # fmt: skip
    with pg_services.db.engine.connect() as other:
        other.exec_driver_sql(f"SELECT pg_terminate_backend({kept.connection.dbapi_connection.info.backend_pid})")
    answers = one_after_another(lane, ("wangfang", "6", "k2"), ("wangfang", "7", "k3"))
    lane.close()
    assert SAVED in answers[0][0].text and "【3/14】" in answers[1][0].text, answers
    assert where == {"k1": LOOP, "k2": "turn-lane", "k3": LOOP} and lane.handed_off == 1
    assert all(conn is not kept for _at, conn in pg_services.db._warm)
    with pg_services.db.read() as session:
        assert sorted(e.count for e in session.exec(select(ActivityEntry))) == [6, 7]


async def _stalled(lane, userid: str, text: str, key: str):
    return await longest_stall(send(lane, userid, text, key))


@contextmanager
def entry_held_uncommitted(services, campaign_id: str):
    """U01's 党委会 inserted by another connection and not committed while the block runs (an INSERT of
    the same entry waits for that transaction); `release` (yielded) ends it, rolled back, so hers goes in."""
    taken, release = threading.Event(), threading.Event()

    class RolledBack(Exception):
        pass

    def insert_and_wait():
        try:
            with services.db.write() as session:
                session.add(ActivityEntry(campaign_id=campaign_id, unit_code="U01", key="dangweihui", updated_by="x"))
                session.flush()
                taken.set()
                release.wait(20)
                raise RolledBack
        except RolledBack:
            return

    holder = threading.Thread(target=insert_and_wait)
    holder.start()
    assert taken.wait(10)
    try:
        yield release
    finally:
        release.set()
        holder.join(20)


def _campaign_id(services) -> str:
    from storage import campaigns

    with services.db.read() as session:
        return campaigns.active_campaign(session=session).id


def test_a_turns_write_that_waits_for_another_transaction_is_awaited(pg_services, where, collector_off):
    # The entry's INSERT (sent on a guess with the batch's closing writes, in their pipeline) meets the same
    # entry inserted, not yet committed, by another connection: it waits for that transaction, on the loop.
    start_filling(TurnLane(pg_services.dispatcher, on_loop=True), "wangfang", "k0")
    lane = TurnLane(pg_services.dispatcher, on_loop=True)
    with entry_held_uncommitted(pg_services, _campaign_id(pg_services)) as release:

        async def main():
            answer = send(lane, "wangfang", "6", "k1")
            asyncio.get_running_loop().call_later(0.8, release.set)
            return await longest_stall(answer)

        try:
            stall, answer = asyncio.run(main())
        finally:
            lane.close()
    assert SAVED in answer[0].text and where["k1"] == LOOP
    assert stall < 0.5, f"the event loop stood still for {stall:.2f} s while the INSERT waited"


def test_a_lone_statement_that_waits_for_another_transaction_is_awaited(pg_services, trips, collector_off):
    # One statement on its own (libpq's send, then the loop's wait for its result, pgwire.Wire.execute)
    # after the transaction's first: the same INSERT, outside a turn that may guess.
    from sqlalchemy.util.concurrency import greenlet_spawn

    from storage import entries

    campaign_id = _campaign_id(pg_services)

    def write():
        with pg_services.db.write_awaiting() as session:
            entries.read(session=session, kind="activity", campaign_id=campaign_id, unit_code="U01")
            trips.clear()
            saved = entries.set_entry(
                session=session, kind="activity", campaign_id=campaign_id, unit_code="U01", key="dangweihui",
                value=6, note=None, actor="wangfang", seen_version=None,
            )  # fmt: skip
            return saved, list(trips)

    with entry_held_uncommitted(pg_services, campaign_id) as release:

        async def main():
            asyncio.get_running_loop().call_later(0.8, release.set)
            return await longest_stall(greenlet_spawn(write))

        stall, (saved, sent) = asyncio.run(main())
    assert saved is not None and saved.value == 6 and sent[0] == "execute", sent
    assert stall < 0.5, f"the event loop stood still for {stall:.2f} s while the INSERT waited"
