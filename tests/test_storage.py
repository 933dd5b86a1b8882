import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from storage import db as db_module
from storage import (
    dialogs,
    models,  # noqa: F401  (registers the tables on SQLModel.metadata)
)
from storage.campaign import DEFAULT_CAMPAIGN
from storage.db import Database
from storage.migrate import alembic_config
from storage.models import DialogState

THREADS, ROUNDS = 8, 25


@pytest.fixture
def db(any_db_url):
    database = Database(any_db_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url):
    database = Database(sqlite_url)
    yield database
    database.dispose()


def test_sqlite_runs_in_wal_mode(sqlite_db):
    with sqlite_db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_sqlite_waits_for_a_busy_database_instead_of_failing(sqlite_db):
    with sqlite_db.read() as session:
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_sqlite_write_transactions_begin_immediate_and_take_the_lock_up_front(sqlite_db):
    with sqlite_db.write() as session:
        session.execute(text("SELECT 1"))
        assert session.connection().connection.driver_connection.in_transaction
        other = sqlite3.connect(sqlite_db.url.database, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):  # IMMEDIATE: the write lock is ours
            other.execute("BEGIN IMMEDIATE")
        other.close()


def test_a_write_that_waited_out_the_busy_timeout_fails_as_sqlalchemys_error(sqlite_url, monkeypatch):
    """BEGIN goes straight to pysqlite (storage/db.py), its failure still as SQLAlchemy's OperationalError,
    which callers catch, with the statement named."""
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    database = Database(sqlite_url)
    with database.write() as session:
        session.execute(text("CREATE TABLE t (x)"))
    other = sqlite3.connect(database.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked") as caught, database.write() as session:
            session.connection()  # the transaction begins here
        assert "BEGIN IMMEDIATE" in str(caught.value)
    finally:
        other.close()
        database.dispose()


def test_a_write_transactions_begin_is_not_one_of_its_statements(sqlite_db):
    """Nothing runs BEGIN through SQLAlchemy's statement machinery (a fifth of an empty transaction's cost):
    a listener counting statements sees the work's only."""
    seen = []
    event.listen(sqlite_db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_: seen.append(sql))
    with sqlite_db.write() as session:
        session.execute(text("SELECT 1"))
    assert seen == ["SELECT 1"]


def bump(db: Database, userid: str) -> None:
    with db.write() as session:
        db.lock_people(session, [userid])
        state = dialogs.load_state(session=session, userid=userid)
        state.data = {"n": state.data.get("n", 0) + 1}
        dialogs.save_state(session=session, state=state)


def test_concurrent_read_then_write_transactions_lose_nothing(db):
    with db.write() as session:
        session.add(DialogState(userid="wangfang", data={"n": 0}))
    start = threading.Barrier(THREADS)

    def worker() -> None:
        start.wait()
        for _ in range(ROUNDS):
            bump(db, "wangfang")

    with ThreadPoolExecutor(THREADS) as pool:
        errors = [f.exception() for f in [pool.submit(worker) for _ in range(THREADS)]]
    assert errors == [None] * THREADS
    with db.read() as session:
        assert session.get(DialogState, "wangfang").data == {"n": THREADS * ROUNDS}


def test_migrations_create_exactly_the_models(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_fresh_database_is_at_the_head_revision(db):
    head = ScriptDirectory.from_config(alembic_config(str(db.url))).get_current_head()
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_db_upgrade_twice_is_harmless(kaohe):
    first = kaohe("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert kaohe("campaign", "load", DEFAULT_CAMPAIGN).returncode == 0
    second = kaohe("db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert "luoyang-2013" in kaohe("campaign", "show").stdout


@pytest.mark.postgres
def test_db_upgrade_on_postgresql_twice_is_harmless(kaohe, pg_url):
    for _ in range(2):
        result = kaohe("db", "upgrade", env={"KAOHE_DATABASE_URL": pg_url})
        assert result.returncode == 0, result.stderr
