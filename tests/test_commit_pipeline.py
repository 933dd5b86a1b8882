"""PostgreSQL on the event loop: a batch's COMMIT goes in the pipeline of its last closing writes (a round trip
less a batch); a write sent on a guess among them fails the transaction itself when it finds nothing, so the
COMMIT is skipped by the server and nothing of the batch is committed."""

import asyncio

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, text
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlmodel import Session, select

from handlers.base import Inbound
from storage import core, entries, pgwire
from storage.models import ActivityEntry, AuditEntry, DialogState, ProcessedMessage
from tests.test_speculative_writes import SAVED, UPDATE_BY_MAJUN, campaign_id, fill_table_1


def on_loop(dispatcher, work):
    return asyncio.run(greenlet_spawn(dispatcher.dispatch_on_loop, work))


def test_a_lone_answer_on_the_loop_takes_two_round_trips_and_is_committed(pg_services, pg_url, trips):
    dispatcher = pg_services.dispatcher
    on_loop(dispatcher, [(Inbound("app", "wangfang", "填报", "k0"), None)])
    trips.clear()
    answer = on_loop(dispatcher, [(Inbound("app", "wangfang", "6", "k1"), None)])
    assert SAVED in answer[0][0].text
    # BEGIN, her lock, the claim (stamp, state) and what is read ahead; the entry's guessed INSERT, its audit
    # row, her state, the stored answer and the COMMIT
    assert trips == ["pipeline", "pipeline"], trips
    other = create_engine(pg_url)  # committed: another connection sees all of it
    try:
        with Session(other) as session:
            assert [e.count for e in session.exec(select(ActivityEntry))] == [6]
            assert [a.new for a in session.exec(select(AuditEntry)) if a.actor == "wangfang"] == ["6"]
            assert session.get(ProcessedMessage, "k1").replies != []
            assert session.get(DialogState, "wangfang").data["i"] == 1  # on to item 2
    finally:
        other.dispose()


@pytest.mark.parametrize("filled", [False, True], ids=["insert", "update"])
def test_a_wrong_guess_sent_with_the_commit_commits_nothing_of_the_batch(pg_services, pg_url, monkeypatch, filled):
    """zhaolei's turn comes first and is right; wangfang's answer is last, and its guessed write goes with the
    COMMIT. Majun (another worker) fills her item after her guess was made: her write finds nothing, the
    transaction fails on the server before its COMMIT, and neither turn's rows are committed."""
    dispatcher, cid = pg_services.dispatcher, campaign_id(pg_services)
    if filled:
        fill_table_1(pg_services, "U01")
    on_loop(dispatcher, [(Inbound("app", u, "填报", f"{u}0"), None) for u in ("zhaolei", "wangfang")])
    other = create_engine(pg_url)
    real, guessed = entries.speculate, []

    def speculate_then_majun_writes(session, stmt, params):
        made = real(session, stmt, params)
        if made and params.get("unit_code", params.get("w_unit_code")) == "U01" and not guessed:
            guessed.append(stmt)
            with Session(other) as s, s.begin():
                if filled:
                    s.execute(text(UPDATE_BY_MAJUN + " AND unit_code = 'U01'"))
                else:
                    s.add(
                        ActivityEntry(campaign_id=cid, unit_code="U01", key="dangweihui", count=7, updated_by="majun")
                    )
        return made

    monkeypatch.setattr(entries, "speculate", speculate_then_majun_writes)
    work = [(Inbound("app", "zhaolei", "填报", "z1"), None), (Inbound("app", "wangfang", "6", "w1"), None)]
    try:
        with pytest.raises(core.Mispredicted, match="sent with the COMMIT"):
            asyncio.run(greenlet_spawn(_together_committing, pg_services, work))
        with Session(other) as session:
            assert guessed
            mine = [e for e in session.exec(select(ActivityEntry)) if e.updated_by == "wangfang"]
            assert mine == []
            assert session.exec(select(ProcessedMessage).where(ProcessedMessage.key.in_(["z1", "w1"]))).all() == []
            assert [a for a in session.exec(select(AuditEntry)) if a.actor == "wangfang"] == []
    finally:
        other.dispose()


def _together_committing(services, work):
    """dispatch_on_loop's transaction without its hand-off, so the error itself comes out."""
    db, dispatcher = services.db, services.dispatcher
    with db.write_awaiting() as session:
        session.info[core.SPECULATE] = True
        locks = db.locking_people(session, [inbound.userid for inbound, _ in work])
        return dispatcher._together(session, work, locks)


@pytest.fixture
def deferred(pg_url):
    """A table whose unique check waits for the COMMIT."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE deferred_check (x INTEGER UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
    yield Table("deferred_check", MetaData(), Column("x", Integer))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE deferred_check"))
    engine.dispose()


def test_a_commit_sent_with_the_last_writes_that_fails_raises_and_commits_nothing(pg_services, deferred):
    table, db = deferred, pg_services.db
    stmt = insert(table).values(x=1)
    with pytest.raises(Exception, match="deferred_check"), db.write() as session:
        core.run(session, text("SELECT 1"))  # the transaction begun
        core.run_all(session, [(stmt, {}), (stmt, {})], commit=True)
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM deferred_check")).scalar() == 0


def test_nothing_runs_in_a_transaction_after_its_commit_went_with_its_writes(pg_services, deferred):
    table, db = deferred, pg_services.db
    with pytest.raises(pgwire.Ended), db.write() as session:
        core.run(session, text("SELECT 1"))
        core.run_all(session, [(insert(table).values(x=1), {})], commit=True)
        core.run(session, insert(table).values(x=2))  # it would begin a transaction of its own
    with pytest.raises(pgwire.Ended), db.write() as session:
        core.run(session, text("SELECT 1"))
        core.run_all(session, [(insert(table).values(x=3), {})], commit=True)
        session.execute(text("INSERT INTO deferred_check VALUES (4)"))  # SQLAlchemy's own, likewise
    with db.write() as session:  # the next transaction on the connection runs as any
        core.run(session, insert(table).values(x=5))
    with db.read() as session:
        assert sorted(session.execute(text("SELECT x FROM deferred_check")).scalars()) == [1, 3, 5]


def test_off_the_wire_the_last_writes_run_and_the_callers_commit_commits(any_services):
    """SQLite (and any statement libpq cannot take): commit=True changes nothing, the session commits."""
    db = any_services.db
    t = ProcessedMessage.__table__
    row = dict(key="kx", userid="u", replies=[], created_at=any_services.clock.now())
    with db.write() as session:
        core.run(session, text("SELECT 1"))
        core.run_all(session, [(t.insert(), row), (text("SELECT 1"), {})], commit=True)
        core.run(session, text("SELECT 2"))  # not ended: the COMMIT is still to come
    with db.read() as session:
        assert session.get(ProcessedMessage, "kx") is not None
