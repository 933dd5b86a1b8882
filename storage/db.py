"""The engine and sessions: SQLite in WAL with BEGIN IMMEDIATE for writes, or PostgreSQL, behind one API."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine


class Database:
    """One engine per process; `read()` and `write()` open sessions, `write()` takes the write lock up front."""

    def __init__(self, url: str, *, echo: bool = False):
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = _sqlite_engine(self.url, echo) if self.is_sqlite else _server_engine(self.url, echo)
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self.engine
        # SQLite's busy handler retries with growing sleeps, so under load some writers wait seconds while
        # others go first; queueing this process's writers on a lock keeps the tail within WeCom's 5 s
        # (benchmarks/callbacks.py: p99 3.5 s -> under 1 s at 32 concurrent callbacks).
        self._write_lock = threading.RLock() if self.is_sqlite else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed on success and rolled back on any exception."""
        if self._write_lock is None:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
            return
        with self._write_lock, Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def lock_person(self, session: Session, userid: str) -> None:
        """Serialise one person's messages. SQLite's BEGIN IMMEDIATE already serialises every writer."""
        if not self.is_sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("person", userid)})

    def lock_people(self, session: Session, userids) -> None:
        """Lock several people at once, in one order everywhere (their keys ascending), so two transactions
        that each lock several cannot deadlock: one statement (locks are taken after the sort)."""
        if self.is_sqlite:
            return
        keys = sorted({_lock_key("person", u) for u in userids})
        session.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS t(k) ORDER BY k"),
            {"keys": keys},
        )

    def try_lock(self, session: Session, name: str) -> bool:
        """A transaction-scoped named lock that does not wait (PostgreSQL); SQLite holds the write lock already."""
        if self.is_sqlite:
            return True
        return bool(
            session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _lock_key("name", name)}).scalar()
        )

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()


def _lock_key(space: str, value: str) -> int:
    return zlib.crc32(f"{space}:{value}".encode()) - 2**31


def _server_engine(url, echo: bool) -> Engine:
    # prepare_threshold=None: psycopg prepares nothing itself, so its rollback never DEALLOCATEs ALL the
    # hot statements storage/pgwire.py prepared on the connection
    args = {"prepare_threshold": None}
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=args)


def _sqlite_engine(url, echo: bool) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is always DEFERRED).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A deferred BEGIN that reads then writes gets "database is locked" under WAL whatever the
        # busy timeout; writers take the lock first (see architecture.md, Habits).
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
