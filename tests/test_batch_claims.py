"""PostgreSQL on the event loop: a batch's claims and reads ahead go in its first round trip, for every turn
whose sender and key no turn before it has (handlers/dispatch.py's _claims_ahead). What they read must still
hold when the turn comes: a write of an earlier turn that the dispatcher does not account for makes the claim's
row be read again and drops what was read ahead; an entry written to the unit drops that unit's."""

import asyncio

import pytest
from sqlalchemy import insert, literal_column, text, update
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlmodel import select

from handlers import router
from handlers.base import Inbound, Reply
from storage import core
from storage.models import ActivityEntry, AuditEntry, Outbox, Person
from tests.test_speculative_writes import fill_table_1


def on_loop(dispatcher, work):
    return asyncio.run(greenlet_spawn(dispatcher.dispatch_on_loop, work))


@pytest.fixture
def hook(monkeypatch):
    """Run `do(turn)` in the turn of the message with that key, before it is routed (as a handler would)."""
    hooks = {}

    def look(turn):
        do = hooks.get(turn.inbound.msg_key)
        if do is not None:
            do(turn)

    monkeypatch.setattr(router, "_BEFORE", [*router._BEFORE, look])
    return hooks


def start(services, *people):
    on_loop(services.dispatcher, [(Inbound("app", u, "填报", f"{u}-open"), None) for u in people])


@pytest.mark.parametrize("way", ["sqlalchemy", "wire", "pipelined", "cursor"])
def test_a_roster_change_by_a_turn_before_is_seen_by_a_turn_claimed_ahead_of_it(pg_services, hook, way):
    """hezhiyuan's turn deactivates liqiang (a write to the roster, not accounted for: the stamp moves): by
    SQLAlchemy's own execute; through the wire alone, or in a pipeline after a guess kept before it (wangfang's
    answer, first); or (a value the server could not type) on psycopg's cursor. liqiang's claim went ahead of
    it with the old stamp; it is read again, and she is told she is off."""
    start(pg_services, "liqiang", "wangfang")
    on_loop(pg_services.dispatcher, [(Inbound("app", "hezhiyuan", "帮助", "h0"), None)])  # he is in the view

    def deactivate(turn):
        off = literal_column("false") if way in ("wire", "pipelined") else False  # no cast: not the wire's
        stmt = update(Person).where(Person.userid == "liqiang").values(active=off)
        if way == "sqlalchemy":
            turn.session.execute(stmt)
        else:
            core.run(turn.session, stmt)

    hook["h1"] = deactivate
    work = [(Inbound("app", "hezhiyuan", "帮助", "h1"), None), (Inbound("app", "liqiang", "6", "l1"), None)]
    if way == "pipelined":
        work.insert(0, (Inbound("app", "wangfang", "6", "w1"), None))
    answers = on_loop(pg_services.dispatcher, work)
    assert "暂停为您服务" in answers[-1][0].text, answers[-1][0].text
    with pg_services.db.read() as session:
        assert [e.unit_code for e in session.exec(select(ActivityEntry))] == (["U01"] if way == "pipelined" else [])


def test_an_entry_changed_by_a_turn_before_is_read_again_not_served_from_ahead(pg_services, hook):
    """liqiang's table was read ahead at version 1; a turn before hers changes her item by a statement the
    dispatcher does not account for. Her turn reads it again and tells her, instead of guessing on the old
    version (which would fail the batch and hand it off)."""
    fill_table_1(pg_services, "U02")
    start(pg_services, "liqiang")

    def change(turn):
        turn.session.execute(
            text(
                "UPDATE activity_entry SET count = 9, version = version + 1, updated_by = 'zhaolei'"
                " WHERE unit_code = 'U02' AND key = 'dangweihui'"
            )
        )

    hook["z1"] = change
    answers = on_loop(
        pg_services.dispatcher,
        [(Inbound("app", "zhaolei", "帮助", "z1"), None), (Inbound("app", "liqiang", "6", "l1"), None)],
    )
    assert "9" in answers[1][0].text and "已记录" not in answers[1][0].text, answers[1][0].text
    with pg_services.db.read() as session:
        stored = session.exec(select(ActivityEntry).where(ActivityEntry.key == "dangweihui")).all()
    assert [(e.count, e.version) for e in stored] == [(9, 2)]


def test_a_statement_of_sqlalchemys_own_in_a_later_turn_goes_after_the_guesses_before_it(pg_services, hook):
    """wangfang's answer is a guessed write kept for the batch's end; zhaolei's turn after it (claimed ahead,
    so nothing of hers was sent yet) reads the entries with an ORM query: the kept writes go first, it sees
    her value, and nothing is handed off."""
    start(pg_services, "wangfang", "zhaolei")
    seen = []
    hook["z1"] = lambda turn: seen.extend(e.count for e in turn.session.exec(select(ActivityEntry)))
    answers = on_loop(
        pg_services.dispatcher,
        [(Inbound("app", "wangfang", "6", "w1"), None), (Inbound("app", "zhaolei", "7", "z1"), None)],
    )
    assert seen == [6] and all("已记录" in a[0].text for a in answers), answers


def test_a_turn_that_guesses_and_queues_messages_for_others_is_kept_whole_on_the_loop(pg_services, hook):
    """The outbox rows wangfang's turn queues are flushed by the ORM between turns, after her guessed write:
    the kept writes go first, so the batch is not handed off and both are stored."""
    start(pg_services, "wangfang", "liqiang")
    hook["w1"] = lambda turn: turn.replies.append(Reply("你好", to=["liqiang"]))
    answers = on_loop(
        pg_services.dispatcher,
        [(Inbound("app", "wangfang", "6", "w1"), None), (Inbound("app", "liqiang", "7", "l1"), None)],
    )
    assert all("已记录" in a[0].text for a in answers), answers
    with pg_services.db.read() as session:
        assert sorted(e.count for e in session.exec(select(ActivityEntry))) == [6, 7]
        assert [o.recipients for o in session.exec(select(Outbox)) if "你好" in o.content] == [["liqiang"]]


def test_a_message_delivered_twice_in_one_batch_on_the_loop_is_handled_once(pg_services):
    """The second delivery's sender is in the batch already, so it claims in its own turn, after the first's
    writes: it finds the key taken and gets the first's stored answer."""
    start(pg_services, "wangfang", "liqiang")
    twice = (Inbound("app", "wangfang", "6", "w1"), None)
    answers = on_loop(pg_services.dispatcher, [twice, (Inbound("app", "liqiang", "7", "l1"), None), twice])
    assert answers[0][0].text == answers[2][0].text and "已记录" in answers[0][0].text
    with pg_services.db.read() as session:
        assert sorted((e.unit_code, e.count, e.version) for e in session.exec(select(ActivityEntry))) == [
            ("U01", 6, 1),
            ("U02", 7, 1),
        ]
        assert len([a for a in session.exec(select(AuditEntry)) if a.new in ("6", "7")]) == 2


def test_a_redelivery_claimed_ahead_gets_its_stored_answer_after_the_writes_before_it(pg_services, trips):
    """wangfang's message came in an earlier batch; its redelivery's claim, made ahead, finds the key taken,
    and its stored answer is read (the turn before's kept writes going first); nothing is written twice."""
    start(pg_services, "wangfang", "liqiang")
    first = on_loop(pg_services.dispatcher, [(Inbound("app", "wangfang", "6", "w1"), None)])
    answers = on_loop(
        pg_services.dispatcher,
        [(Inbound("app", "liqiang", "7", "l1"), None), (Inbound("app", "wangfang", "6", "w1"), None)],
    )
    assert answers[1][0].text == first[0][0].text and "已记录" in answers[0][0].text
    with pg_services.db.read() as session:
        assert sorted((e.count, e.version) for e in session.exec(select(ActivityEntry))) == [(6, 1), (7, 1)]


def test_the_watched_tables_are_those_the_claims_and_reads_ahead_read_and_those_that_move_the_stamp(pg_services):
    import importlib

    from sqlalchemy import Table
    from sqlalchemy.sql.util import find_tables
    from sqlmodel import Session

    from storage import dialogs, entries, pgwire

    stamped = importlib.import_module("storage.migrations.versions.0005_speed").STAMPED
    with Session(pg_services.db.engine) as session:
        read = [
            dialogs.claiming(session, "k", "u")[0],
            entries.reading_submission(session, "c", "U01")[0],
            entries.reading_unit(session, "activity", "c", "U01")[0],
            entries.reading_unit(session, "score", "c", "U01")[0],
        ]
    found = [t for stmt in read for t in find_tables(stmt, include_crud=True, include_selects=True)]
    tables = {t.name for t in found if isinstance(t, Table)}
    assert tables | set(stamped) == pgwire.WATCHED, tables


def test_a_write_to_a_table_no_claim_reads_is_not_foreign_and_claims_ahead_stand(pg_services, hook, trips):
    """hezhiyuan's turn writes an outbox row by SQLAlchemy's own execute and an audit row through the wire:
    neither can change liqiang's claim or what she read ahead, so nothing of hers is sent again."""
    start(pg_services, "liqiang")
    on_loop(pg_services.dispatcher, [(Inbound("app", "hezhiyuan", "帮助", "h0"), None)])  # he is in the view

    def unwatched(turn):
        now = turn.now
        turn.session.execute(
            insert(Outbox).values(
                key="x", kind="user", recipients=["a"], content="x", next_attempt_at=now, created_at=now
            )
        )
        core.run(turn.session, insert(AuditEntry).values(actor="t", entity="t", key="t", field="t", at=now))

    hook["h1"] = unwatched
    trips.clear()
    answers = on_loop(
        pg_services.dispatcher,
        [(Inbound("app", "hezhiyuan", "帮助", "h1"), None), (Inbound("app", "liqiang", "6", "l1"), None)],
    )
    assert "已记录" in answers[1][0].text
    # the claims and reads ahead; his audit row (the outbox row is SQLAlchemy's own); every closing write
    # with the COMMIT: no claim of hers read again
    assert trips == ["pipeline", "execute", "pipeline"], trips


def test_what_counts_as_foreign(pg_services):
    with pg_services.db.write() as session:
        now = pg_services.clock.now()
        counts = []
        for stmt in (
            insert(Outbox).values(
                key="y", kind="user", recipients=["a"], content="y", next_attempt_at=now, created_at=now
            ),
            select(Person).where(Person.userid == "x"),
            update(Person).where(Person.userid == "nobody").values(name="x"),
            text("UPDATE outbox SET attempts = 1 WHERE key = 'nothing'"),  # text: its table is not known
            update(ActivityEntry).where(ActivityEntry.key == "nothing").values(count=1),
        ):
            before = core.foreign(session)
            session.execute(stmt)
            counts.append(core.foreign(session) - before)
        before = core.foreign(session)
        core.run(session, update(Person.__table__).where(Person.__table__.c.userid == "nobody").values(name="y"))
        counts.append(core.foreign(session) - before)
        session.rollback()
    assert counts == [0, 0, 1, 1, 1, 1]
