from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Integer, bindparam, event, exc, insert, literal, select, text
from sqlmodel import Session

from storage import core
from storage.db import Database
from storage.models import AuditEntry, DialogState, Person, ProcessedMessage

AT = datetime(2013, 12, 12, 2, 0, 0, 123456, tzinfo=UTC)
_STATE, _PEOPLE = DialogState.__table__, Person.__table__


def _begun(session):
    """A transaction with a statement behind it: on PostgreSQL, prepared statements then go through libpq."""
    session.execute(text("SELECT 1"))
    return session


def _state(_session):
    t = _STATE.c
    return select(t.userid, t.flow, t.data, t.updated_at).where(t.userid == bindparam("u"))


def test_inside_a_transaction_a_prepared_select_gives_what_sqlalchemy_gives(any_db_url):
    db = Database(any_db_url)
    with db.write() as session:
        session.execute(insert(_STATE), {"userid": "u1", "flow": None, "data": {"i": [3]}, "updated_at": AT})
        people = [dict(userid=f"p{i}", name="王芳", unit_code=None, role="clerk", active=i == 0) for i in range(2)]
        session.execute(insert(_PEOPLE), people)
    with db.write() as session:
        _begun(session)
        stmt = core.prepared(session, "test.tx.state", _state)
        fast, slow = core.run(session, stmt, {"u": "u1"}).first(), session.connection().execute(stmt, {"u": "u1"}).one()
        who = core.prepared(session, "test.tx.people", lambda _: select(*_PEOPLE.c).order_by(_PEOPLE.c.userid))
        fast_people, slow_people = core.run(session, who).all(), session.connection().execute(who).all()
        assert core.run(session, stmt, {"u": "nobody"}).first() is None
    assert tuple(fast) == tuple(slow) == ("u1", None, {"i": [3]}, AT)
    assert fast.updated_at.tzinfo is UTC and fast.data == {"i": [3]} and fast.flow is None
    assert [tuple(p) for p in fast_people] == [tuple(p) for p in slow_people] and len(fast_people) == 2
    assert [p.active for p in fast_people] == [True, False]
    db.dispose()


def test_inside_a_transaction_a_write_converts_its_values_and_refuses_a_naive_datetime(any_db_url):
    db = Database(any_db_url)
    t = ProcessedMessage.__table__
    east = AT.astimezone(timezone(timedelta(hours=8)))
    with db.write() as session:
        stmt = core.prepared(session, "test.tx.key", lambda _: insert(t))
        core.run(_begun(session), stmt, {"key": "k1", "userid": "u", "replies": [{"text": "好"}], "created_at": east})
        with pytest.raises(ValueError, match="naive"):
            core.run(session, stmt, {"key": "k2", "userid": "u", "replies": [], "created_at": AT.replace(tzinfo=None)})
    with db.read() as session:
        stored = session.execute(select(t.c.key, t.c.replies, t.c.created_at)).all()
    assert [tuple(r) for r in stored] == [("k1", [{"text": "好"}], AT)]
    db.dispose()


def test_inside_a_transaction_a_write_over_many_rows_writes_each_and_the_event_sees_it(any_db_url):
    db = Database(any_db_url)
    seen = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append((a[2], a[5])))
    rows = [
        dict(actor="a", entity="activity", key=f"k{i}", field="count", old=None, new=str(i), at=AT) for i in range(3)
    ]
    with db.write() as session:
        result = core.run(
            _begun(session), core.prepared(session, "test.tx.audit", lambda _: insert(AuditEntry.__table__)), rows
        )
    with db.read() as session:
        stored = session.execute(select(AuditEntry.key, AuditEntry.new, AuditEntry.at).order_by(AuditEntry.id)).all()
    assert [tuple(r) for r in stored] == [(f"k{i}", str(i), AT) for i in range(3)]
    assert result.rowcount == 3
    assert [many for sql, many in seen if sql.startswith("INSERT INTO audit_entry")] == [True]
    db.dispose()


def test_inside_a_transaction_a_database_error_is_sqlalchemys_and_nothing_is_kept(any_db_url):
    db = Database(any_db_url)
    t = ProcessedMessage.__table__
    values = {"key": "k", "userid": "u", "replies": [], "created_at": AT}
    with pytest.raises(exc.IntegrityError), db.write() as session:
        stmt = core.prepared(session, "test.tx.dup", lambda _: insert(t))
        core.run(_begun(session), stmt, values)
        core.run(session, stmt, values)
    with pytest.raises(exc.IntegrityError), db.write() as session:
        core.run(_begun(session), core.prepared(session, "test.tx.dup.many", lambda _: insert(t)), [values, values])
    with db.read() as session:
        assert session.execute(select(t.c.key)).all() == []
    db.dispose()


def test_a_statement_whose_placeholders_the_server_cannot_type_still_runs(any_db_url):
    db = Database(any_db_url)
    with db.write() as session:
        untyped = core.prepared(
            session, "test.tx.sum", lambda _: select((bindparam("a") + bindparam("b")).label("total"))
        )
        untyped = core.run(_begun(session), untyped, {"a": 2, "b": 3}).first()
        stmt = core.prepared(
            session, "test.tx.mod", lambda _: select(literal(7, Integer) % bindparam("m", type_=Integer))
        )
        modulo = core.run(session, stmt, {"m": 4}).scalar()
    assert (untyped.total, modulo) == (5, 3)
    db.dispose()


def test_a_textual_statement_gives_its_rows_as_sqlalchemy_does(any_db_url):
    db = Database(any_db_url)
    with db.write() as session:
        row = core.run(_begun(session), text("SELECT :a AS a, 'x' AS b"), {"a": 2}).first()
    assert (row.a, row.b) == (2, "x")
    db.dispose()


@pytest.mark.postgres
def test_a_prepared_statement_runs_prepared_on_each_new_connection(pg_url):
    for _ in range(2):  # a second engine: new connections, on which nothing is prepared yet
        db = Database(pg_url)
        with db.write() as session:
            stmt = core.prepared(session, "test.tx.state", _state)
            assert core.run(_begun(session), stmt, {"u": "nobody"}).first() is None
            names = session.execute(text("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'kaohe_%'"))
            assert [n.startswith("SELECT dialog_state.userid") for (n,) in names] == [True]
        db.dispose()


def _claim(session):
    t = ProcessedMessage.__table__
    return core.insert_ignoring(session, t, ["key"]).returning(t.c.key)


def test_statements_run_together_give_what_each_gives_alone_in_their_order(any_db_url):
    db = Database(any_db_url)
    seen = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2].split()[0]))
    key = {"key": "k1", "userid": "u", "replies": [], "created_at": AT}
    state = {"userid": "u", "flow": "scores", "data": {}, "updated_at": AT}
    with db.write() as session:
        claim, read = core.prepared(session, "test.claim", _claim), core.prepared(session, "test.tx.state", _state)
        write = core.prepared(session, "test.tx.state.insert", lambda _: insert(_STATE))
        work = [(claim, key), (read, {"u": "u"}), (write, state), (read, {"u": "u"}), (claim, key)]
        first, before, written, after, again = core.run_all(_begun(session), work)
    assert (first.scalar_one_or_none(), again.scalar_one_or_none()) == ("k1", None)
    assert before.first() is None and written.rowcount == 1 and tuple(after.first()) == ("u", "scores", {}, AT)
    assert [s for s in seen if s != "BEGIN"] == ["SELECT", "INSERT", "SELECT", "INSERT", "SELECT", "INSERT"]
    db.dispose()


def test_a_failing_statement_among_several_is_raised_as_sqlalchemys_and_nothing_is_kept(any_db_url):
    db = Database(any_db_url)
    t = ProcessedMessage.__table__
    values = {"key": "k", "userid": "u", "replies": [], "created_at": AT}
    with pytest.raises(exc.IntegrityError, match="processed_message") as raised, db.write() as session:
        insert_key, read = (
            core.prepared(session, "test.tx.dup", lambda _: insert(t)),
            core.prepared(session, "test.tx.state", _state),
        )
        core.run_all(
            _begun(session), [(read, {"u": "u"}), (insert_key, values), (insert_key, [values]), (read, {"u": "u"})]
        )
    assert raised.value.statement.startswith("INSERT INTO processed_message")
    with db.read() as session:
        assert session.execute(select(t.c.key)).all() == []
    db.dispose()


@pytest.mark.postgres
def test_prepared_statements_survive_a_rollback_and_are_prepared_anew_once_deallocated(pg_url):
    db = Database(pg_url)
    with pytest.raises(RuntimeError), db.write() as session:
        for _ in range(6):  # often enough for psycopg to prepare a statement of its own
            session.execute(text("SELECT 1"))
        core.run(session, core.prepared(session, "test.tx.state", _state), {"u": "nobody"})
        raise RuntimeError("rolled back")
    with db.write() as session:
        assert core.run(_begun(session), core.prepared(session, "test.tx.state", _state), {"u": "x"}).first() is None
    with pytest.raises(exc.ProgrammingError, match="does not exist"), db.write() as session:
        session.execute(text("DEALLOCATE ALL"))
        core.run(session, core.prepared(session, "test.tx.state", _state), {"u": "x"})
    with db.write() as session:
        assert core.run(_begun(session), core.prepared(session, "test.tx.state", _state), {"u": "x"}).first() is None
    db.dispose()


@pytest.mark.postgres
def test_a_transaction_of_its_own_isolation_level_begins_with_that_level(pg_url):
    db = Database(pg_url)
    with db.engine.connect().execution_options(isolation_level="SERIALIZABLE") as conn, Session(conn) as session:
        assert core.run(session, core.prepared(session, "test.tx.state", _state), {"u": "x"}).first() is None
        level = session.execute(text("SHOW transaction_isolation")).scalar()
    assert level == "serializable"
    db.dispose()


def test_the_same_instant_bound_again_converts_as_before_and_another_converts_anew(any_db_url):
    # the UTCDateTime bind processor remembers its last value (a turn binds its one instant four times)
    db = Database(any_db_url)
    t = ProcessedMessage.__table__
    later = AT + timedelta(seconds=1)
    moments = [AT, AT, later, AT.astimezone(timezone(timedelta(hours=8))), later, AT]
    with db.write() as session:
        stmt = core.prepared(session, "test.tx.moments", lambda _: insert(t))
        other = core.prepared(session, "test.tx.state.moments", lambda _: insert(_STATE))
        _begun(session)
        for i, moment in enumerate(moments):
            core.run(session, stmt, {"key": f"k{i}", "userid": "u", "replies": [], "created_at": moment})
            core.run(session, other, {"userid": f"u{i}", "flow": None, "data": {}, "updated_at": moment})
    with db.read() as session:
        keys = dict(session.execute(select(t.c.key, t.c.created_at)).all())
        states = dict(session.execute(select(_STATE.c.userid, _STATE.c.updated_at)).all())
    want = [AT, AT, later, AT, later, AT]
    assert [keys[f"k{i}"] for i in range(6)] == want and [states[f"u{i}"] for i in range(6)] == want
    db.dispose()


def test_a_session_whose_transaction_ended_runs_its_next_statement_in_a_new_one(any_db_url):
    """The holder of a transaction's connection refers to it weakly: once the transaction has ended (and is
    gone), the session's next statement begins a transaction of its own and is committed with it, not run on
    the connection the ended one gave back."""
    db = Database(any_db_url)
    t = ProcessedMessage.__table__
    session = Session(db.engine, expire_on_commit=False)
    stmt = core.prepared(session, "test.tx.again", lambda _: insert(t))
    core.run(session, stmt, {"key": "k1", "userid": "u", "replies": [], "created_at": AT})
    session.commit()
    assert session.get_transaction() is None
    core.run(session, stmt, {"key": "k2", "userid": "u", "replies": [], "created_at": AT})
    assert session.get_transaction() is not None
    session.commit()
    session.close()
    with db.read() as check:
        assert check.execute(select(t.c.key).order_by(t.c.key)).scalars().all() == ["k1", "k2"]
    db.dispose()
