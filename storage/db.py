"""The engine and sessions: SQLite in WAL with BEGIN IMMEDIATE for writes, or PostgreSQL, behind one API."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import ARRAY, BigInteger, bindparam, event, func, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.util.concurrency import await_only
from sqlmodel import Session, create_engine

from storage import core, jsontext, pgwire
from storage.checkpoint import Checkpointer

BUSY_TIMEOUT_MS = 30000
# A connection whose transaction committed this recently is taken again on the event loop as it is, without
# the pool's pre-ping and the thread that waits for it (HikariCP's aliveBypassWindowMs, 500 ms by default):
# a ping and a thread hop cost about 300 µs of CPU a batch (benchmarks/turn_cpu.py, batches of 4 to 32)
WARM_S = 0.5
ON_LOOP = "on_event_loop"  # a session's info key: its work runs on the event loop's thread (see HandOff)


class HandOff(Exception):
    """Work that must not run where it was tried (the event loop's thread): nothing of it was kept; run it
    again where waiting is harmless (the turn lane's thread)."""


class Busy(HandOff):
    """The write lock is held (by another thread of this process, or by another process): not waited for."""


class Database:
    """One engine per process; `read()` and `write()` open sessions, `write()` takes the write lock up front."""

    def __init__(self, url: str, *, echo: bool = False):
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._pragmas = {"wal_autocheckpoint": 1000}  # SQLite's default; 0 with checkpoints in the background
        self.checkpointer: Checkpointer | None = None
        self.engine = (
            _sqlite_engine(self.url, echo, self._pragmas) if self.is_sqlite else _server_engine(self.url, echo)
        )
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self.engine
        self._nowait = self.engine.execution_options(sqlite_begin="IMMEDIATE", sqlite_nowait=True)
        # SQLite's busy handler retries with growing sleeps, so under load some writers wait seconds while
        # others go first; queueing this process's writers on a lock keeps the tail within WeCom's 5 s
        # (benchmarks/callbacks.py: p99 3.5 s -> under 1 s at 32 concurrent callbacks).
        self._write_lock = threading.RLock() if self.is_sqlite else None
        # write_awaiting's connections that committed last, with when: on the event loop's thread only
        self._warm: list[tuple[float, Connection]] = []
        self.warm_s = WARM_S

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

    @contextmanager
    def write_awaiting(self) -> Iterator[Session]:
        """PostgreSQL, in a greenlet on the event loop (bot/lane.py): write()'s transaction, whose connection
        is the one that committed last here within warm_s, or else is taken from the pool (pinged, or
        opened) on a thread; its COMMIT is awaited. Its statements through storage/pgwire.py await the
        server too, so a slow or stalled server never stops the loop. A transaction that fails gives its
        connection back to the pool (a broken one is invalidated there), so only a committed one is kept."""
        if self.is_sqlite:
            raise Busy("not PostgreSQL")
        conn = self._warm_connection()
        if conn is None:  # the pool's: pinged (or opened) on a thread
            conn = await_only(asyncio.to_thread(self._writer.connect))
        committed = False
        try:
            with Session(conn, expire_on_commit=False) as session, session.begin():
                yield session
                session.flush()
                pgwire.commit(session.connection())  # SQLAlchemy's commit then finds nothing left to commit
            committed = True
        finally:
            if committed:
                self._warm.append((time.monotonic(), conn))
            else:  # back to the pool (invalidated if it broke), which pings it before it is used again
                conn.close()

    def _warm_connection(self) -> Connection | None:
        """The connection that committed last on the loop, if within warm_s; older ones go back to the pool."""
        now = time.monotonic()
        while self._warm:
            at, conn = self._warm.pop()
            if now - at <= self.warm_s:
                return conn
            conn.close()
        return None

    @contextmanager
    def write_nowait(self) -> Iterator[Session]:
        """write(), but on SQLite only and never waiting: Busy at once if this process's write lock or the
        database's is held. For the event loop's thread, where a wait would stop every other request."""
        if self._write_lock is None or not self._write_lock.acquire(blocking=False):
            raise Busy("the write lock is held" if self._write_lock is not None else "not SQLite")
        committed, conn = False, None
        try:
            # the connection that committed last here within warm_s, as write_awaiting keeps PostgreSQL's:
            # the pool's checkout and its reset on return were a third of an empty batch's CPU
            conn = self._warm_connection() or self._nowait.connect()
            with Session(conn, expire_on_commit=False) as session, session.begin():
                session.connection()  # BEGIN IMMEDIATE now, so Busy comes from here and not from a handler
                yield session
            committed = True
        finally:
            if committed:
                self._warm.append((time.monotonic(), conn))
            elif conn is not None:  # back to the pool, rolled back there
                conn.close()
            self._write_lock.release()

    def lock_people(self, session: Session, userids) -> None:
        """Serialise these people's messages: their locks at once, in one order everywhere (keys ascending), so
        two transactions that each lock several cannot deadlock: one statement (locks taken after the sort).
        SQLite's BEGIN IMMEDIATE already serialises every writer."""
        core.run_all(session, self.locking_people(session, userids))

    def locking_people(self, session: Session, userids) -> list[tuple]:
        """lock_people's statement, to run first in the round trip of the transaction's first reads:
        (statement, params) in a list, or none on SQLite."""
        if self.is_sqlite:
            return []
        keys = sorted({_lock_key("person", u) for u in userids})
        return [(core.prepared(session, "lock.people", _people_lock), {"keys": keys})]

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

    def checkpoint_in_background(self) -> None:
        """A serving process's SQLite file: no commit checkpoints the WAL; a thread does (storage/checkpoint.py)."""
        if not self.is_sqlite or not self.url.database or self.url.database == ":memory:" or self.checkpointer:
            return
        self._pragmas["wal_autocheckpoint"] = 0
        while self._warm:  # so that every connection gets the setting
            self._warm.pop()[1].close()
        self.engine.dispose()  # connections opened before get the setting too
        self.checkpointer = Checkpointer(self.url.database)
        self.checkpointer.start()

    def dispose(self) -> None:
        while self._warm:
            self._warm.pop()[1].close()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


def _people_lock(_session):
    """SELECT pg_advisory_xact_lock(k) FROM unnest(:keys) AS k ORDER BY k (a volatile call runs after the sort)."""
    keys = func.unnest(bindparam("keys", type_=ARRAY(BigInteger))).table_valued("k").render_derived()
    return select(func.pg_advisory_xact_lock(keys.c.k)).order_by(keys.c.k)


def _lock_key(space: str, value: str) -> int:
    return zlib.crc32(f"{space}:{value}".encode()) - 2**31


_JSON_TEXT = {"json_serializer": jsontext.dumps, "json_deserializer": jsontext.loads}  # storage/jsontext.py


def _server_engine(url, echo: bool) -> Engine:
    # prepare_threshold=None: psycopg prepares nothing itself, so its rollback never DEALLOCATEs ALL the
    # hot statements storage/pgwire.py prepared on the connection
    args = {"prepare_threshold": None}
    engine = create_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=args, **_JSON_TEXT
    )
    # what SQLAlchemy sends by its own means is counted with what goes through the Wire (core.read_ahead)
    event.listen(engine, "before_execute", lambda conn, clause, *_args: pgwire.sent(conn, clause))
    # a transaction begins with no write sent on a guess (one that failed left its count with the connection)
    event.listen(engine, "begin", pgwire.begun)
    return engine


_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")}


def _begin(raw, begin: str) -> None:
    """BEGIN on pysqlite's connection; its error as SQLAlchemy's (OperationalError for a lock, as before)."""
    try:
        raw.execute(begin)
    except sqlite3.Error as error:
        raise DBAPIError.instance(begin, (), error, sqlite3.Error) from error


def _sqlite_engine(url, echo: bool, pragmas: dict) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}, **_JSON_TEXT)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is always DEFERRED).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute(f"PRAGMA wal_autocheckpoint={pragmas['wal_autocheckpoint']}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A deferred BEGIN that reads then writes gets "database is locked" under WAL whatever the
        # busy timeout; writers take the lock first (see architecture.md, Habits).
        # BEGIN goes straight to pysqlite, as the commit does (DefaultDialect.do_commit): through
        # exec_driver_sql it was a fifth of an empty batch transaction's 365 Python calls, 90 µs
        # (SQLAlchemy's execution context, its events and result for a statement that returns nothing).
        # So it is not one of the statements a before_cursor_execute listener counts.
        options = conn.get_execution_options()
        begin = _BEGIN[options.get("sqlite_begin", "DEFERRED")]
        raw = conn.connection.driver_connection
        if not options.get("sqlite_nowait"):
            _begin(raw, begin)
            return
        # Another process (the scheduler firing a reminder) may hold the lock for a second or two: no waiting.
        raw.execute("PRAGMA busy_timeout=0")
        try:
            _begin(raw, begin)
        except OperationalError as exc:
            raise Busy(f"SQLite is locked by another connection: {exc.orig}") from exc
        finally:
            raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    return engine
