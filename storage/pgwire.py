"""PostgreSQL's prepared hot statements straight through libpq: prepared once per connection, one call each."""

# psycopg's cursor costs about 60 µs of CPU a statement here (a cursor object, the query converted and
# looked up in its prepared-statement cache, a generator per step); libpq's PQexecPrepared with psycopg's
# own C dumpers and loaders costs about 30 (benchmarks/turn_cpu.py). Only statements whose every
# placeholder carries a cast (SQLAlchemy renders one for each type psycopg needs) go this way: the server
# then types each parameter from the SQL itself, so every value goes as text and no type is guessed.

from __future__ import annotations

import asyncio
import itertools
import re
import select

from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy.util.concurrency import await_only, in_greenlet

_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%")
_UNCAST = re.compile(r"%\([^)]+\)s(?!::)")
_NAMES = itertools.count()
_KEY = "core.pgwire"  # connection record info: the Wire of that DBAPI connection, dropped with it
_INTRANS, _IDLE = pq.TransactionStatus.INTRANS, pq.TransactionStatus.IDLE
READY, BEGIN = "ready", "begin"
_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_SQLSTATE, _UNKNOWN_STATEMENT = pq.DiagnosticField.SQLSTATE, b"26000"
# The tables that what a batch's turns claim and read ahead comes from (the claim: the key, the stamp and the
# sender's state; the reads ahead: the unit's submission and entries), and those whose writes move the stamp
# (migration 0005's STAMPED). A write to any other table (an outbox row, a ballot, an audit row) cannot
# change any of it, so it is not counted as foreign (tests/test_batch_claims.py checks the list).
WATCHED = frozenset(
    {"processed_message", "data_stamp", "dialog_state", "submission", "activity_entry", "score_entry"}
    | {"person", "unit", "liaison_group", "campaign"}
)


def watched(clause) -> bool:
    """Whether a statement may write what a batch's claims and reads ahead read: a write (not a SELECT) to a
    watched table, or one whose table is not known (text)."""
    if getattr(clause, "is_select", False):
        return False
    name = getattr(getattr(clause, "table", None), "name", None)
    return name is None or name in WATCHED


class Statement:
    """One statement in libpq's form: `$n` placeholders, the bind names in their order, its server name."""

    __slots__ = ("query", "names", "name", "formats")

    def __init__(self, query: bytes, names: tuple[str, ...]):
        self.query, self.names = query, names
        self.name = b"kaohe_%d" % next(_NAMES)  # psycopg names its own _pg3_N
        self.formats = [PyFormat.TEXT] * len(names)

    def guarded(self, columns: list[str]) -> Statement:
        """This write (with RETURNING `columns`) made to fail its transaction when it returns no row: as a
        data-modifying WITH, run exactly once, under a select that always makes one row and divides by the
        count of what it returned. Sent before a COMMIT in one pipeline, a write sent on a guess that found
        nothing then fails the transaction on the server, which skips the COMMIT: nothing is committed."""
        picked = b", ".join(b'(SELECT "%s" FROM guessed)' % c.encode() for c in columns)
        query = b"WITH guessed AS (%s) SELECT %s, 1 / (SELECT count(*) FROM guessed) AS guard" % (self.query, picked)
        return Statement(query, self.names)


def statement(sql: str) -> Statement | None:
    """The statement SQLAlchemy rendered for psycopg (`%(name)s::TYPE`) in `$n` form; None when a
    placeholder has no cast (the server could not type it when preparing)."""
    if _UNCAST.search(sql):
        return None
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) is None:
            return "%"
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return Statement(_PLACEHOLDER.sub(number, sql).encode(), tuple(names))


def wire(dbapi_conn, record_info: dict) -> Wire | None:
    """The Wire of a psycopg connection (kept with the pooled connection), None for any other driver."""
    found = record_info.get(_KEY)
    if found is None and hasattr(dbapi_conn, "pgconn"):
        found = record_info[_KEY] = Wire(dbapi_conn)
    return found


class Mispredicted(Exception):
    """A write sent on a guess (storage/core.speculate) did not do what the turn assumed, or SQLAlchemy was
    about to send a statement of its own before that write had gone: the transaction must be rolled back
    and its work done again without guessing."""


def sent(conn, clause=None) -> None:
    """Count a statement SQLAlchemy sends on this connection by its own means (an ORM flush, a text query),
    and count it as foreign if it may write a watched table (watched). While a speculative write is unsent
    (it might change what this statement reads), the writes kept with it go first (before_own), or, when
    they are in a caller's hands, the statement is refused. It is refused too after the transaction was
    committed with its closing writes (it would begin a transaction of its own)."""
    found = conn.connection.info.get(_KEY) if not conn.closed else None
    if found is not None:
        if found.ended:
            raise Ended("a statement of SQLAlchemy's own after the transaction was committed with its writes")
        if found.unsent:
            if found.before_own is None:
                raise Mispredicted("a statement of SQLAlchemy's own while a speculative write was unsent")
            found.before_own()
        if watched(clause):
            found.foreign += 1
        found.exchanges += 1


def begun(conn) -> None:
    """A transaction begins on this connection: no speculative write of an earlier one is still unsent,
    and statements may go again after one that was committed in its closing pipeline."""
    found = conn.connection.info.get(_KEY)
    if found is not None:
        found.unsent, found.ended, found.before_own = 0, False, None


class Ended(RuntimeError):
    """A statement for a transaction that was already committed with its closing writes (Wire.pipeline's
    commit): sent, it would have begun a transaction of its own and been committed apart from the rest."""


def commit(conn) -> None:
    """COMMIT a SQLAlchemy connection's open transaction through its Wire (awaited on the event loop);
    psycopg's own commit() then finds the connection idle and sends nothing. Other drivers: nothing."""
    fairy = conn.connection
    found = wire(fairy.dbapi_connection, fairy.info)
    if found is not None and found.pgconn.transaction_status == _INTRANS:
        found.command(b"COMMIT")


class Wire:
    """A psycopg connection's libpq handle, a dumper/loader context of its adapters, what is prepared on it."""

    __slots__ = (
        "pgconn", "tx", "prepared", "encoding", "dbapi", "exchanges", "unsent", "ended", "foreign", "before_own"
    )  # fmt: skip

    def __init__(self, dbapi_conn):
        self.pgconn, self.tx, self.prepared = dbapi_conn.pgconn, Transformer(dbapi_conn), set()
        self.encoding, self.dbapi = dbapi_conn.info.encoding, dbapi_conn
        # statements sent on the connection, through this Wire or (storage/db.py's listener) SQLAlchemy's
        # own execute: what core.read_ahead compares to know that nothing went to the server in between
        self.exchanges = 0
        self.unsent = 0  # speculative writes kept for the transaction's closing writes, not sent yet
        self.ended = False  # the transaction was committed with its closing writes: nothing more may go
        self.foreign = 0  # writes sent to WATCHED tables that the dispatcher does not account for (core._ACCOUNTED)
        self.before_own = None  # sends the writes a turn keeps (a guess among them) before SQLAlchemy's own

    def ready(self) -> str | None:
        """READY inside a transaction; BEGIN where psycopg would begin one with a plain BEGIN before the
        next statement (it does so for the first statement of each), which the pipeline then sends itself;
        None otherwise (autocommit, an isolation level of its own, a failed transaction). Ended after the
        transaction was committed in a pipeline, until SQLAlchemy begins the next one."""
        if self.ended:
            raise Ended("a statement after the transaction was committed with its closing writes")
        status = self.pgconn.transaction_status
        if status == _INTRANS:
            return READY
        conn = self.dbapi
        plain = conn.isolation_level is None and conn.read_only is None and conn.deferrable is None
        return BEGIN if status == _IDLE and not conn.autocommit and plain else None

    def dump(self, stmt: Statement, values: list) -> list:
        return self.tx.dump_sequence(values, stmt.formats)

    def execute(self, stmt: Statement, params: list):
        """Run with dumped parameters; the result (rows loaded by `rows`), or psycopg's error raised.
        On the event loop (a turn run by greenlet_spawn, bot/lane.py) the wait is the loop's: it serves
        other requests meanwhile; elsewhere libpq waits, without the GIL."""
        self._prepare(stmt)
        self.exchanges += 1
        if not in_greenlet():
            return self.checked(self.pgconn.exec_prepared(stmt.name, params, None, 0))
        pg = self.pgconn
        pg.send_query_prepared(stmt.name, params, None, 0)
        found = None
        for result in self._results(until_sync=False):
            found = found or result  # one statement: one result (then None, the end of it)
        return self.checked(found)

    def command(self, sql: bytes) -> None:
        """A statement without parameters (COMMIT), waiting as execute does."""
        if not in_greenlet():
            self.checked(self.pgconn.exec_(sql))
            return
        self.pgconn.send_query(sql)
        found = None
        for result in self._results(until_sync=False):
            found = found or result
        self.checked(found)

    def pipeline(self, work: list[tuple[Statement, list]], begin: bool = False, commit: bool = False) -> list:
        """Statements with their dumped parameters sent at once and their results read at once (libpq's
        pipeline mode: one round trip), unchecked (`checked` raises a failed one's error). After a
        failed statement the server skips the rest, and the transaction is failed as after any error.
        With `commit`, a COMMIT goes last: skipped by the server after a failed statement; when all went
        well, its own failure (a deferred check) is raised here, and otherwise the transaction is over."""
        for stmt, _ in work:
            self._prepare(stmt)
        self.exchanges += 1
        pg = self.pgconn
        pg.enter_pipeline_mode()
        try:
            if begin:
                pg.send_query_params(b"BEGIN", None)
            for stmt, params in work:
                pg.send_query_prepared(stmt.name, params, None, 0)
            if commit:
                pg.send_query_params(b"COMMIT", None)
            pg.pipeline_sync()
            results = list(self._results(until_sync=True))
        finally:
            pg.exit_pipeline_mode()
        if begin:
            self.checked(results.pop(0))
        if commit:
            done = results.pop()
            if all(r.status in _OK for r in results):
                self.checked(done)
                self.ended = True
        return results

    def rows(self, result, make) -> list:
        self.tx.set_pgresult(result)
        return self.tx.load_rows(0, result.ntuples, make)

    def _prepare(self, stmt: Statement) -> None:
        if stmt.name not in self.prepared:
            self.checked(self.pgconn.prepare(stmt.name, stmt.query, None))
            self.prepared.add(stmt.name)

    def checked(self, result):
        if result.status not in _OK:
            if result.error_field(_SQLSTATE) == _UNKNOWN_STATEMENT:  # deallocated by someone: prepare anew
                self.prepared.clear()  # (this transaction is failed; the next one prepares again)
            raise errors.error_from_result(result, encoding=self.encoding)
        return result

    def _results(self, until_sync: bool):
        """The results up to the pipeline's sync (or the end of one statement's), reading as they come;
        the waits for the socket are without the GIL, or the event loop's."""
        pg = self.pgconn
        socket = pg.socket
        while pg.flush():
            _wait(socket, write=True)
        while True:
            while pg.is_busy():  # nothing complete in what was read: wait for more, then read it
                _wait(socket)
                pg.consume_input()
            result = pg.get_result()
            if result is None:  # the end of one statement's results
                if until_sync:
                    continue
                return
            if result.status == _SYNC:
                return
            yield result


def _wait(socket: int, write: bool = False) -> None:
    if in_greenlet():
        await_only(_ready(socket, write))
    elif write:
        select.select([], [socket], [])
    else:
        select.select([socket], [], [])


async def _ready(socket: int, write: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    watch, unwatch = (loop.add_writer, loop.remove_writer) if write else (loop.add_reader, loop.remove_reader)
    watch(socket, _set, ready)
    try:
        await ready
    finally:
        unwatch(socket)


def _set(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
