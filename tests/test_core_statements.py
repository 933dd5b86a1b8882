from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, event, exc, insert, select

from storage import core
from storage.db import Database
from storage.models import AuditEntry, DialogState, Outbox, ProcessedMessage

AT = datetime(2013, 12, 12, 2, 0, 0, 123456, tzinfo=UTC)
_STATE = DialogState.__table__


def _state_select(_session):
    t = _STATE.c
    return select(t.userid, t.flow, t.data, t.updated_at).where(t.userid == bindparam("u"))


def test_a_prepared_select_gives_what_sqlalchemy_gives_typed_and_named(any_db_url):
    db = Database(any_db_url)
    with db.write() as session:
        session.execute(insert(_STATE), {"userid": "u1", "flow": "activities", "data": {"i": 3}, "updated_at": AT})
    with db.read() as session:
        stmt = core.prepared(session, "test.state", _state_select)
        fast = core.run(session, stmt, {"u": "u1"}).first()
        slow = session.connection().execute(stmt, {"u": "u1"}).first()
    assert tuple(fast) == tuple(slow) == ("u1", "activities", {"i": 3}, AT)
    assert fast.updated_at.tzinfo is not None and fast.data == {"i": 3} and fast.flow == "activities"
    db.dispose()


def test_a_prepared_insert_over_many_rows_writes_each_with_its_processed_values(any_db_url):
    db = Database(any_db_url)
    rows = [
        dict(actor="a", entity="activity", key=f"k{i}", field="count", old=None, new=str(i), at=AT) for i in range(3)
    ]
    with db.write() as session:
        core.run(session, core.prepared(session, "test.audit", lambda _: insert(AuditEntry.__table__)), rows)
    with db.read() as session:
        stored = session.execute(select(AuditEntry.key, AuditEntry.new, AuditEntry.at).order_by(AuditEntry.id)).all()
    assert [tuple(r) for r in stored] == [(f"k{i}", str(i), AT) for i in range(3)]
    db.dispose()


def test_a_claim_returns_its_key_once_and_nothing_the_second_time(any_db_url):
    db = Database(any_db_url)
    t = ProcessedMessage.__table__
    values = {"key": "app:msg:u:1", "userid": "u", "replies": [], "created_at": AT}
    with db.write() as session:
        stmt = core.prepared(session, "test.claim", lambda s: core.insert_ignoring(s, t, ["key"]).returning(t.c.key))
        assert core.run(session, stmt, values).scalar_one_or_none() == "app:msg:u:1"
        assert core.run(session, stmt, values).scalar_one_or_none() is None
    db.dispose()


def test_a_database_error_is_sqlalchemys_and_rolls_the_transaction_back(any_db_url):
    db = Database(any_db_url)
    t = ProcessedMessage.__table__
    values = {"key": "k", "userid": "u", "replies": [], "created_at": AT}
    with pytest.raises(exc.IntegrityError), db.write() as session:
        stmt = core.prepared(session, "test.insert.pm", lambda _: insert(t))
        core.run(session, stmt, values)
        core.run(session, stmt, values)  # the same primary key again
    with db.read() as session:
        assert session.execute(select(t.c.key)).all() == []
    db.dispose()


def test_statements_run_by_core_are_seen_by_sqlalchemys_statement_event(any_db_url):
    db = Database(any_db_url)
    seen = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with db.read() as session:
        core.run(session, core.prepared(session, "test.state", _state_select), {"u": "nobody"})
    assert any(s.lstrip().startswith("SELECT dialog_state.userid") for s in seen)
    db.dispose()


def test_a_statement_that_needs_python_side_defaults_goes_through_sqlalchemy_and_gets_them(sqlite_url):
    db = Database(sqlite_url)
    values = dict(key="k1", kind="user", content="hi", recipients=["u"], next_attempt_at=AT, created_at=AT)
    with db.write() as session:
        core.run(session, core.prepared(session, "test.outbox", lambda _: insert(Outbox.__table__)), values)
    with db.read() as session:
        row = session.execute(select(Outbox)).scalar_one()
    assert (row.content, row.msgtype, row.status, row.attempts, row.source) == ("hi", "text", "pending", 0, "reply")
    db.dispose()


def test_one_or_none_of_two_rows_is_an_error_as_in_sqlalchemy(sqlite_url):
    db = Database(sqlite_url)
    with db.write() as session:
        for u in ("u1", "u2"):
            session.execute(insert(_STATE), {"userid": u, "flow": None, "data": {}, "updated_at": AT})
        stmt = core.prepared(session, "test.state.all", lambda _: select(_STATE.c.userid))
        with pytest.raises(exc.MultipleResultsFound):
            core.run(session, stmt).scalar_one_or_none()
    db.dispose()


@pytest.mark.parametrize(
    "stored, read",
    [
        ("2013-12-12 02:00:00.123456", AT),
        ("2013-12-12 02:00:00", AT.replace(microsecond=0)),
        ("2013-12-12T02:00:00.123456", AT),
        ("2013-12-12 10:00:00.123456+08:00", AT),
    ],
)
def test_sqlite_datetimes_read_back_aware_in_utc_whichever_way_they_were_written(sqlite_url, stored, read):
    from sqlalchemy import text

    db = Database(sqlite_url)
    with db.write() as session:
        session.execute(
            text("INSERT INTO dialog_state (userid, flow, data, updated_at) VALUES ('u', NULL, '{}', :at)"),
            {"at": stored},
        )
    with db.read() as session:
        fast = core.run(session, core.prepared(session, "test.state", _state_select), {"u": "u"}).first()
        orm = session.get(DialogState, "u")
    assert fast.updated_at == orm.updated_at == read and fast.updated_at.tzinfo is UTC
    db.dispose()


def test_a_prepared_read_sees_what_the_session_holds_unflushed(any_db_url):
    db = Database(any_db_url)
    with db.write() as session:
        session.add(DialogState(userid="u9", flow="scores", data={}, updated_at=AT))
        row = core.run(session, core.prepared(session, "test.state", _state_select), {"u": "u9"}).first()
        assert row is not None and row.flow == "scores"
        session.get(DialogState, "u9").flow = "activities"  # a change to a loaded object, not yet flushed
        row = core.run(session, core.prepared(session, "test.state", _state_select), {"u": "u9"}).first()
        assert row.flow == "activities"
    db.dispose()
