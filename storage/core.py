"""Hot-path SQL as prepared Core statements: built and compiled once per dialect, run on the turn's connection."""

# Building a select() or update() costs more than running it on SQLite (coercions and cache keys), and
# so does Connection.execute's machinery around an already compiled statement (contexts, events, result
# proxies: about 50 µs a statement, benchmarks/callbacks.py --profile). A prepared statement is compiled
# by SQLAlchemy once, with SQLAlchemy's own bind and result processors, and then handed to the DBAPI
# cursor of the session's connection, inside the transaction SQLAlchemy began. A statement this cannot
# run exactly as SQLAlchemy would (Python-side defaults, expanding IN, text) goes through Connection.execute.
# On PostgreSQL, once psycopg has begun the transaction, it goes through libpq itself (storage/pgwire.py).

from __future__ import annotations

import copy
import re
import weakref
from collections import namedtuple
from collections.abc import Callable
from functools import partial

from sqlalchemy import exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import TextClause
from sqlmodel import Session

from storage import pgwire
from storage.models import UTCDateTime

_BUILT: dict[tuple[str, str], object] = {}
# ids of the built statements whose writes the dispatcher accounts for (prepared(..., accounted=True)): a
# turn's claim, state, stored answer and entry writes. Any other write to a table pgwire.WATCHED lists counts
# as foreign (Wire.foreign): what a batch's turns claimed and read ahead before it may no longer hold after one.
_ACCOUNTED: set[int] = set()
# by (dialect, id of the statement, insert columns in the order given); the statement is kept beside, so its id
# is never reused
_COMPILED: dict[tuple, tuple[object, _Compiled | None]] = {}
# session.info keys of what one turn read and keeps current by its own writes; dropped between turns
# that share a transaction (storage.entries registers its own)
TURN_CACHES: list[str] = []
_CONNECTION = "core.connection"  # session.info: the _Held of the current transaction
_CLOSING = "core.closing"  # session.info: writes a turn's own reads never need, run with its closing writes
_AHEAD = "core.ahead"  # session.info: results read ahead for statements still to come (read_ahead)
TURN_CACHES.append(_AHEAD)
# session.info: set by whoever can redo the transaction's work without guessing should a guess fail (the
# dispatcher on the event loop, which hands a failed batch to the thread): writes may then be speculative
SPECULATE = "core.speculate"
Mispredicted = pgwire.Mispredicted


def dialect_insert(session: Session, table):
    """An INSERT that can say ON CONFLICT, for the database the session talks to."""
    return _dialect(session).insert(table)


def insert_ignoring(session: Session, table, keys: list[str]):
    """INSERT … ON CONFLICT (keys) DO NOTHING: with RETURNING, no row back means the row was there."""
    return dialect_insert(session, table).on_conflict_do_nothing(index_elements=keys)


def prepared(session: Session, name: str, build: Callable[[Session], object], accounted: bool = False):
    """The statement `build(session)` makes, built once per dialect and kept under `name`. `accounted`: a
    write whose effect on what other turns of a batch read the dispatcher knows (see _ACCOUNTED)."""
    key = ((session.bind or session.get_bind()).dialect.name, name)
    stmt = _BUILT.get(key)
    if stmt is None:
        stmt = _BUILT[key] = build(session)
        if accounted:
            _ACCOUNTED.add(id(stmt))
    return stmt


def run(session: Session, stmt, params=None):
    """Execute on the session's connection, after flushing what the session holds (so reads see it).
    `params` is a dict, or a list of dicts for one statement run over many rows."""
    if not _is_clean(session):
        session.flush()
    held, transaction = session.info.get(_CONNECTION), session.get_transaction()
    if held is None or transaction is None or held.transaction() is not transaction:
        held = _connection(session)  # (a transaction that ended is None to the weak reference, as to the session)
    if params is None:
        params = {}
    if held.wire is not None and (held.wire.unsent or session.info.get(_CLOSING)):
        return run_all(session, [(stmt, params)])[0]  # after the kept writes, in their round trip
    compiled = _compiled(held.conn.dialect, stmt, params[0] if params.__class__ is list else params)
    if compiled is None:
        return held.conn.execute(stmt, params)
    return compiled.execute(held, params)


def run_all(session: Session, work: list[tuple], commit: bool = False) -> list[Rows]:
    """Several (statement, params) in their order, each as run() gives it: on PostgreSQL in one round trip
    (libpq's pipeline) when all can go through libpq. A failing one raises as it would alone; the
    statements after it are then not run (the transaction is failed anyway).

    `commit`: the transaction's last statements; on PostgreSQL through libpq, its COMMIT goes in the same
    pipeline (a round trip less), and a write sent on a guess among them fails the transaction itself if
    it finds nothing (Mispredicted, nothing committed). Nothing may run in the transaction after them (the
    wire refuses it: pgwire.Ended). Elsewhere they run as without, and the caller's commit commits."""
    if not _is_clean(session):
        session.flush()
    held = _connection(session)
    if _AHEAD in session.info and not commit:
        served = _served_ahead(session, held, work)
        if served is not None:
            return served
    # on PostgreSQL what is kept for the turn's end (and, in a batch, the turns' before it) goes first, in the
    # same round trip: a turn's reads never wait for it, and nothing is ever sent ahead of a kept guess
    if held.wire is not None and (held.wire.unsent or session.info.get(_CLOSING)):
        return _run_checked(session, held, work, commit)
    return _run_all(held, work, commit)


def _run_all(held: _Held, work: list[tuple], commit: bool = False, guesses: tuple[int, ...] = ()) -> list[Rows]:
    dialect = held.conn.dialect
    found = [
        (_compiled(dialect, stmt, params[0] if params.__class__ is list else params), params) for stmt, params in work
    ]
    ready = held.wire.ready() if held.wire is not None else None
    if not found:  # nothing to send (the caller's commit commits)
        return []
    if ready is None or any(c is None or c.wire is None for c, _ in found):
        return [
            held.conn.execute(stmt, params) if c is None else c.execute(held, params)
            for (stmt, _), (c, params) in zip(work, found, strict=True)
        ]
    if commit:
        for i in guesses:  # each fails the transaction if its guess was wrong, so the COMMIT is skipped
            found[i] = (found[i][0].guarded(), found[i][1])
    return _Compiled.pipeline(held, found, begin=ready is pgwire.BEGIN, commit=commit)


class Speculative(tuple):
    """(statement, params) of a write sent on a guess: that it returns exactly one row (RETURNING)."""

    __slots__ = ()


def speculate(session: Session, stmt, params: dict) -> bool:
    """Keep a conditional write for the turn's closing writes as if it had returned its one row, so it costs
    no round trip of its own; run_all checks it when it goes (with the turn's closing writes, or first
    before any later statement of the transaction) and raises Mispredicted if it returned none (another
    writer got there first): the transaction is then rolled back and redone without guessing. Only where
    that redo exists (SPECULATE), on PostgreSQL through libpq, inside a turn; False: run it yourself."""
    kept = session.info.get(_CLOSING)
    if kept is None or not session.info.get(SPECULATE):
        return False
    held = _connection(session)
    compiled = _compiled(held.conn.dialect, stmt, params) if held.wire is not None else None
    if compiled is None or compiled.wire is None or not compiled.returns:
        return False
    kept.append(Speculative((stmt, params)))
    held.wire.unsent += 1
    return True


def _run_checked(session: Session, held: _Held, work: list[tuple], commit: bool = False) -> list[Rows]:
    """run_all while writes are kept or speculative ones unsent: those still kept go first, in the same
    round trip, and every unsent one must be in it (one that a caller holds, from closing(), would
    otherwise go after this work: Mispredicted); each must have returned its one row. (run_all served
    what was read ahead before coming here, if all of the work was: then nothing is sent.)"""
    kept = session.info.get(_CLOSING)
    if kept:
        session.info[_CLOSING] = []
        work = [*kept, *work]
    guesses = [i for i, item in enumerate(work) if item.__class__ is Speculative]
    if len(guesses) != held.wire.unsent:  # some are in a caller's hands (closing()): this would go first
        raise Mispredicted(f"a statement before {held.wire.unsent - len(guesses)} speculative writes kept elsewhere")
    held.wire.unsent = 0  # all sent now, before anything after them in the work
    results = _run_all(held, work, commit, tuple(guesses))
    for i in guesses:
        if len(results[i].rows) != 1:
            raise Mispredicted(f"a speculative write returned {len(results[i].rows)} rows, not one")
    return results[len(kept) :] if kept else results


def read_ahead(session: Session, work: list[tuple], rows: list[Rows]) -> None:
    """Keep what `work` returned (run in the same round trip as other statements) for a later run_all of the
    same statements with the same parameters, which then sends nothing. They are served only while nothing
    else has gone to the server since on this connection: a lock taken, a row written or anything read in
    between drops them all (they might no longer be what the statement would return by then). PostgreSQL
    only (on SQLite a statement costs no round trip); dropped between turns (TURN_CACHES)."""
    held = session.info.get(_CONNECTION)
    if held is None or held.wire is None or not work:
        return
    kept = {_ahead_key(stmt, params): found for (stmt, params), found in zip(work, rows, strict=True)}
    session.info[_AHEAD] = (held.wire.exchanges, held.wire.unsent, kept)


def pipelines(session: Session, work: list[tuple]) -> bool:
    """Whether run_all would send these statements in one libpq pipeline (each compiled for the wire)."""
    held = _connection(session)
    if held.wire is None:
        return False
    dialect = held.conn.dialect
    for stmt, params in work:
        found = _compiled(dialect, stmt, params[0] if params.__class__ is list else params)
        if found is None or found.wire is None:
            return False
    return True


def _served_ahead(session: Session, held: _Held, work: list[tuple]) -> list[Rows] | None:
    """What read_ahead kept for exactly this work, if nothing went to the server since and no write was
    kept on a guess since (the reads might be of what it changes); None, and all of it dropped, otherwise."""
    exchanges, unsent, kept = session.info.pop(_AHEAD)
    if held.wire is None or held.wire.exchanges != exchanges or held.wire.unsent != unsent:
        return None
    try:
        served = [kept.pop(_ahead_key(stmt, params)) for stmt, params in work]
    except (KeyError, AttributeError, TypeError):  # one not read ahead (or many rows' parameters): all go
        return None
    if kept:
        session.info[_AHEAD] = (exchanges, unsent, kept)
    return served


def _ahead_key(stmt, params: dict) -> tuple:
    return id(stmt), tuple(sorted(params.items()))


def collect_closing(session: Session, kept: list[tuple] = ()) -> None:
    """From now on in this turn, run_closing() keeps its statements for the turn's closing writes (the
    dispatcher runs them with its state and stored answer, on PostgreSQL in the next round trip), after
    `kept` (the writes of a batch's turns before, still to go). On PostgreSQL they go first in the round
    trip of whatever is sent next: a statement of the wire's, or SQLAlchemy's own (an ORM flush)."""
    session.info[_CLOSING] = list(kept)
    held = session.info.get(_CONNECTION)  # a turn's statements have looked it up already
    if held is not None and held.wire is not None:
        held.wire.before_own = partial(_send_kept, session)


def _send_kept(session: Session) -> None:
    """The kept writes, a guess among them, sent (and checked) before a statement SQLAlchemy sends itself."""
    _run_checked(session, _connection(session), [])


def run_closing(session: Session, stmt, params) -> None:
    """A write whose result nothing needs and which nothing in this turn reads back (an audit row): kept
    for the turn's closing writes inside a turn (collect_closing), run at once otherwise."""
    kept = session.info.get(_CLOSING)
    if kept is None:
        run(session, stmt, params)
    else:
        kept.append((stmt, params))


def closing(session: Session) -> list[tuple]:
    """The statements kept by run_closing since collect_closing, which stops keeping them."""
    held = session.info.get(_CONNECTION)
    if held is not None and held.wire is not None:
        held.wire.before_own = None  # a guess among them is in the caller's hands now
    return session.info.pop(_CLOSING, None) or []


def foreign(session: Session) -> int:
    """How many writes not accounted for (see _ACCOUNTED) went on this transaction's connection: PostgreSQL
    through the wire; 0 elsewhere (where nothing is claimed or read ahead for later turns)."""
    held = _connection(session)
    return held.wire.foreign if held.wire is not None else 0


def run_kept(session: Session) -> None:
    """Run what run_closing kept, for a read that must see it (and keep collecting)."""
    kept = session.info.get(_CLOSING)
    if kept:
        session.info[_CLOSING] = []
        run_all(session, kept)


def end_turn(session: Session) -> None:
    """Between two turns in one transaction: write out what the session holds, then forget its objects
    and per-turn reads, so the next turn starts as it would in a session of its own."""
    session.flush()
    session.expunge_all()
    for key in TURN_CACHES:
        session.info.pop(key, None)


def _public_is_clean(session: Session) -> bool:
    return not (session.new or session.dirty or session.deleted)


# Nothing added, changed or deleted in the session that a read would miss: SQLAlchemy's own check (flush()
# makes it too) when it has one; its public properties, three collections each time, otherwise.
_is_clean = getattr(Session, "_is_clean", _public_is_clean)


class _Held:
    """What a transaction's statements run on, looked up once per transaction."""

    __slots__ = ("transaction", "conn", "dbapi", "listening", "cursor", "wire")

    def __init__(self, transaction, conn):
        # by weak reference: the transaction refers to the session, whose info holds this, and a cycle
        # would keep each batch's session, connection and cursor (about 50 objects) for the collector
        self.transaction, self.conn = weakref.ref(transaction), conn
        fairy = conn.connection
        self.dbapi = fairy.dbapi_connection
        # whether anyone listens for statements, asked once a transaction (listeners are set up beforehand)
        self.listening = bool(conn.dispatch.before_cursor_execute)
        self.cursor = None  # one DBAPI cursor for the transaction's statements, made on first use
        self.wire = pgwire.wire(self.dbapi, fairy.info) if conn.dialect.driver == "psycopg" else None

    def dbapi_cursor(self):
        if self.cursor is None:
            self.cursor = self.dbapi.cursor()
        return self.cursor


def _connection(session: Session) -> _Held:
    """The session's connection for its current transaction, looked up once per transaction."""
    transaction = session.get_transaction()
    held = session.info.get(_CONNECTION)
    if held is None or held.transaction() is not transaction or transaction is None:
        conn = session.connection()
        held = session.info[_CONNECTION] = _Held(session.get_transaction(), conn)
    return held


class Rows:
    """What a prepared statement returned, fetched at once: the few Result methods the hot path uses."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list, rowcount: int):
        self.rows, self.rowcount = rows, rowcount

    def __iter__(self):
        return iter(self.rows)

    def first(self):
        return self.rows[0] if self.rows else None

    def all(self) -> list:
        return self.rows

    def scalar(self):
        return self.rows[0][0] if self.rows else None

    def scalar_one_or_none(self):
        if len(self.rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when one or none was required")
        return self.rows[0][0] if self.rows else None


class _Compiled:
    """One statement's SQL for one dialect, its parameter order and processors, and its row shape."""

    def __init__(self, compiled, dialect):
        self.sql = compiled.string
        self.positional = dialect.positional
        # values fixed in the statement (a literal compared against), under their bind names
        self.defaults = {k: v for k, v in compiled.construct_params(_check=False).items() if v is not None}
        self.binds = [(n, _shared(compiled.binds.get(n), p, dialect)) for n, p in compiled._bind_processors.items()]
        self.wire = pgwire.statement(_cast_floats(compiled)) if dialect.driver == "psycopg" else None
        names = self.wire.names if self.wire else tuple(compiled.positiontup or ()) if self.positional else ()
        self.names = names  # positional (and libpq): each slot's name, and the slots that need converting
        processors = dict(self.binds)
        self.slots = [(i, processors[n]) for i, n in enumerate(names) if n in processors]
        columns = compiled._result_columns
        self.returns = bool(columns)
        self.columns = tuple(c[1] for c in columns)  # as the SQL names them (RETURNING's, for guarded)
        row = namedtuple("Row", [c[0] for c in columns], rename=True) if columns else tuple
        self.make = partial(tuple.__new__, row)  # what namedtuple._make does, in C, without its length check
        self.results = [(i, proc) for i, c in enumerate(columns) if (proc := _result_processor(c[3], dialect))]
        self.dbapi_error = dialect.loaded_dbapi.Error
        self.guard = False  # a guarded copy's (guarded): its failure is a guess found wrong
        self.foreign = False  # a write not accounted for (_compiled sets it): counted on the wire when sent
        self._guarded = None

    def guarded(self) -> _Compiled:
        """This write (it returns its rows) as one that fails the transaction when it returns none
        (pgwire.Statement.guarded): a copy, made once, whose failure in a pipeline is Mispredicted."""
        if self._guarded is None:
            guarded = copy.copy(self)
            guarded.wire = self.wire.guarded(list(self.columns))
            guarded.guard, self._guarded = True, guarded
        return self._guarded

    def ordered(self, params: dict) -> list:
        """The values in their slots' order, converted where a type says so."""
        values = {**self.defaults, **params} if self.defaults else params
        ordered = list(map(values.__getitem__, self.names))
        for i, process in self.slots:
            ordered[i] = process(ordered[i])
        return ordered

    def parameters(self, params: dict):
        if self.positional:
            return self.ordered(params)
        values = {**self.defaults, **params} if self.defaults else params
        if not self.binds:
            return values
        values = dict(values)
        for name, process in self.binds:
            if name in values:
                values[name] = process(values[name])
        return values

    def execute(self, held: _Held, params) -> Rows:
        if self.wire is not None and held.wire is not None:
            ready = held.wire.ready()
            if ready is pgwire.READY:
                return self._execute_wire(held, params)
            if ready is pgwire.BEGIN:  # BEGIN and the statement in one round trip
                return self.pipeline(held, [(self, params)], begin=True)[0]
        many = params.__class__ is list
        args = [self.parameters(p) for p in params] if many else self.parameters(params)
        if self.foreign and held.wire is not None:
            held.wire.foreign += 1
        cursor = held.dbapi_cursor()
        if held.listening:  # SQLAlchemy's own event, so whoever counts or logs statements still sees these
            held.conn.dispatch.before_cursor_execute(held.conn, cursor, self.sql, args, None, many)
        try:
            if many:
                cursor.executemany(self.sql, args)
            else:
                cursor.execute(self.sql, args)
            fetched = cursor.fetchall() if self.returns else ()
            rowcount = cursor.rowcount
        except self.dbapi_error as error:
            raise exc.DBAPIError.instance(self.sql, args, error, self.dbapi_error) from error
        return Rows(self._shape(fetched), rowcount)

    def _execute_wire(self, held: _Held, params) -> Rows:
        if params.__class__ is list and len(params) > 1:
            return self.pipeline(held, [(self, params)])[0]
        wire, args = held.wire, self.ordered(params[0] if params.__class__ is list else params)
        if self.foreign:
            wire.foreign += 1
        if held.listening:
            held.conn.dispatch.before_cursor_execute(
                held.conn, held.dbapi_cursor(), self.sql, args, None, params.__class__ is list
            )
        try:
            result = wire.execute(self.wire, wire.dump(self.wire, args))
        except self.dbapi_error as error:
            raise exc.DBAPIError.instance(self.sql, args, error, self.dbapi_error) from error
        return self._result(wire, result)

    @staticmethod
    def pipeline(
        held: _Held, work: list[tuple[_Compiled, dict | list]], begin: bool = False, commit: bool = False
    ) -> list[Rows]:
        """Each (compiled, params or list of params) in one libpq pipeline, after a BEGIN if `begin` and
        before a COMMIT if `commit`; a Rows for each, a list of params counting its rows' changes as
        executemany does. A guarded write that failed (a wrong guess) raises Mispredicted."""
        wire, sent, args = held.wire, [], []
        for compiled, params in work:
            many = params.__class__ is list
            ordered = [compiled.ordered(p) for p in params] if many else compiled.ordered(params)
            if held.listening:
                held.conn.dispatch.before_cursor_execute(
                    held.conn, held.dbapi_cursor(), compiled.sql, ordered, None, many
                )
            sent.extend((compiled.wire, wire.dump(compiled.wire, o)) for o in (ordered if many else [ordered]))
            args.append(ordered)
            if compiled.foreign:
                wire.foreign += 1
        try:
            results = iter(wire.pipeline(sent, begin, commit))
        except work[0][0].dbapi_error as error:  # the connection itself failed
            raise exc.DBAPIError.instance(work[0][0].sql, args, error, work[0][0].dbapi_error) from error
        out = []
        for (compiled, params), ordered in zip(work, args, strict=True):
            mine = [next(results) for _ in params] if params.__class__ is list else [next(results)]
            try:
                for result in mine:
                    wire.checked(result)
            except compiled.dbapi_error as error:
                if compiled.guard:
                    raise Mispredicted(f"a speculative write sent with the COMMIT failed: {error}") from error
                raise exc.DBAPIError.instance(compiled.sql, ordered, error, compiled.dbapi_error) from error
            if params.__class__ is list:
                out.append(Rows([], sum(r.command_tuples or 0 for r in mine)))
            else:
                out.append(compiled._result(wire, mine[0]))
        return out

    def _result(self, wire, result) -> Rows:
        rowcount = result.command_tuples
        if not self.returns:
            return Rows([], -1 if rowcount is None else rowcount)
        if self.results:
            return Rows(self._shape(wire.rows(result, tuple)), rowcount)
        return Rows(wire.rows(result, self.make), rowcount)

    def _shape(self, fetched) -> list:
        """Rows of the statement's named tuple, a column at a time where a result processor converts it."""
        if not self.results or not fetched:
            return list(map(self.make, fetched))
        columns = list(zip(*fetched, strict=True))
        for i, process in self.results:
            columns[i] = map(process, columns[i])
        return list(map(self.make, zip(*columns, strict=True)))


# psycopg's Float asks for the type the server reports before it names a result processor. A column
# declared Float is created as FLOAT8 (REAL with a small precision) and reads back as such, and psycopg
# loads both as a Python float, so its declared type answers for the server's (OID 701). Numeric is left to
# SQLAlchemy's own execute: an expression over it may come back as another type.
_FLOAT8 = 701


def _cast_floats(compiled) -> str:
    """The SQL with each Float placeholder cast as its column is created (psycopg's dialect casts the
    others itself): the wire prepares a statement without parameter types, and the server might not be
    able to tell an uncast one's type."""
    binds = {name: bind for bind, name in compiled.bind_names.items()}

    def cast(match: re.Match) -> str:
        bind = binds.get(match.group(1))
        return (
            f"{match.group(0)}::FLOAT" if bind is not None and isinstance(bind.type, sqltypes.Float) else match.group(0)
        )

    return _UNCAST.sub(cast, compiled.string)


_UNCAST = re.compile(r"%\(([^)]+)\)s(?!::)")


def _result_processor(type_, dialect):
    try:
        return type_._cached_result_processor(dialect, None)
    except (exc.InvalidRequestError, TypeError):
        if dialect.name == "postgresql" and isinstance(type_, sqltypes.Float):
            return type_._cached_result_processor(dialect, _FLOAT8)
        raise


# One bind processor for every UTCDateTime on a dialect (they are the same conversion), which remembers the
# last value it converted: a turn binds its one instant four or five times (its claim, the entry, the audit
# row, the state), and a datetime is immutable, so the same object always converts the same.
_SHARED_TIMES: dict[str, Callable] = {}


def _shared(bind, process: Callable, dialect) -> Callable:
    if bind is None or not isinstance(bind.type, UTCDateTime):
        return process
    found = _SHARED_TIMES.get(dialect.name)
    if found is None:
        found = _SHARED_TIMES[dialect.name] = _remembering(process)
    return found


def _remembering(process: Callable) -> Callable:
    last = (None, None)  # (value, converted), replaced as one: threads share the processor

    def convert(value):
        nonlocal last
        seen, converted = last
        if value is seen and value is not None:
            return converted
        converted = process(value)
        last = (value, converted)
        return converted

    return convert


def _compiled(dialect, stmt, params: dict) -> _Compiled | None:
    if isinstance(stmt, TextClause):  # its rows' shape is known only from the cursor: SQLAlchemy's own way
        return None
    keys = tuple(params) if isinstance(stmt, Insert) else ()  # in their order: callers build them alike
    key = (dialect.name, id(stmt), keys)
    found = _COMPILED.get(key)
    if found is not None:
        return found[1]
    # An INSERT without RETURNING of its own: no implicit RETURNING of the key (nobody here reads it back)
    plain_insert = isinstance(stmt, Insert) and not stmt._returning
    # an INSERT's parameters are its columns' values, and may bind something else too (a subquery in its
    # RETURNING: storage/dialogs.py's claim reads the sender's state), which SQLAlchemy must not take for one
    columns = [k for k in keys if k in stmt.table.c] if keys else None
    compiled = stmt.compile(dialect=dialect, column_keys=columns, for_executemany=plain_insert)
    runnable = not (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or compiled.post_compile_params
    )
    try:
        fast = _Compiled(compiled, dialect) if runnable else None
        if fast is not None:
            writes = compiled.isinsert or compiled.isupdate or compiled.isdelete
            fast.foreign = bool(writes) and id(stmt) not in _ACCOUNTED and pgwire.watched(stmt)
    except (exc.InvalidRequestError, TypeError):
        # a column whose result processor depends on the type the server reports and is not known from
        # its declaration (psycopg's Numeric): SQLAlchemy's own execute, which knows it from the cursor
        fast = None
    _COMPILED[key] = (stmt, fast)
    return fast


def _dialect(session: Session):
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
