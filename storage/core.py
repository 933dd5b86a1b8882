"""Hot-path SQL as prepared Core statements: built and compiled once per dialect, run on the turn's connection."""

# Building a select() or update() costs more than running it on SQLite (coercions and cache keys), and
# so does Connection.execute's machinery around an already compiled statement (contexts, events, result
# proxies: about 50 µs a statement, benchmarks/callbacks.py --profile). A prepared statement is compiled
# by SQLAlchemy once, with SQLAlchemy's own bind and result processors, and then handed to the DBAPI
# cursor of the session's connection, inside the transaction SQLAlchemy began. A statement this cannot
# run exactly as SQLAlchemy would (Python-side defaults, expanding IN) goes through Connection.execute.

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable

from sqlalchemy import exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session

_BUILT: dict[tuple[str, str], object] = {}
# by (dialect, id of the statement, insert columns); the statement is kept beside, so its id is never reused
_COMPILED: dict[tuple, tuple[object, _Compiled | None]] = {}
# session.info keys of what one turn read and keeps current by its own writes; dropped between turns
# that share a transaction (storage.entries registers its own)
TURN_CACHES: list[str] = []
_CONNECTION = "core.connection"  # session.info: (transaction, SQLAlchemy and DBAPI connections, listening)


def dialect_insert(session: Session, table):
    """An INSERT that can say ON CONFLICT, for the database the session talks to."""
    return _dialect(session).insert(table)


def insert_ignoring(session: Session, table, keys: list[str]):
    """INSERT … ON CONFLICT (keys) DO NOTHING: with RETURNING, no row back means the row was there."""
    return dialect_insert(session, table).on_conflict_do_nothing(index_elements=keys)


def prepared(session: Session, name: str, build: Callable[[Session], object]):
    """The statement `build(session)` makes, built once per dialect and kept under `name`."""
    key = (session.get_bind().dialect.name, name)
    stmt = _BUILT.get(key)
    if stmt is None:
        stmt = _BUILT[key] = build(session)
    return stmt


def run(session: Session, stmt, params=None):
    """Execute on the session's connection, after flushing what the session holds (so reads see it).
    `params` is a dict, or a list of dicts for one statement run over many rows."""
    if not _is_clean(session):
        session.flush()
    conn, dbapi_conn, listening = _connection(session)
    params = params if params is not None else {}
    first = params[0] if isinstance(params, list) else params
    compiled = _compiled(conn.dialect, stmt, first)
    if compiled is None:
        return conn.execute(stmt, params)
    return compiled.execute(conn, dbapi_conn, params, listening)


def end_turn(session: Session) -> None:
    """Between two turns in one transaction: write out what the session holds, then forget its objects
    and per-turn reads, so the next turn starts as it would in a session of its own."""
    session.flush()
    session.expunge_all()
    for key in TURN_CACHES:
        session.info.pop(key, None)


def _is_clean(session: Session) -> bool:
    """Nothing added, changed or deleted in the session that a read would miss. SQLAlchemy's own check
    (flush() makes it too) when it has one; its public properties, three collections each time, otherwise."""
    check = getattr(session, "_is_clean", None)
    return check() if check is not None else not (session.new or session.dirty or session.deleted)


def _connection(session: Session):
    """The session's connection for its current transaction, looked up once per transaction."""
    transaction = session.get_transaction()
    held = session.info.get(_CONNECTION)
    if held is None or held[0] is not transaction or transaction is None:
        conn = session.connection()
        # whether anyone listens for statements, asked once a transaction (listeners are set up beforehand)
        listening = bool(conn.dispatch.before_cursor_execute)
        held = (session.get_transaction(), conn, conn.connection.dbapi_connection, listening)
        session.info[_CONNECTION] = held
    return held[1], held[2], held[3]


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
        self.names = tuple(compiled.positiontup or ()) if self.positional else ()
        # values fixed in the statement (a literal compared against), under their bind names
        self.defaults = {k: v for k, v in compiled.construct_params(_check=False).items() if v is not None}
        self.binds = list(compiled._bind_processors.items())
        processors = dict(self.binds)
        self.order = [(n, processors.get(n)) for n in self.names]  # positional: each slot's name and processor
        columns = compiled._result_columns
        self.row = namedtuple("Row", [c[0] for c in columns], rename=True) if columns else None
        self.results = [
            (i, proc) for i, c in enumerate(columns) if (proc := c[3]._cached_result_processor(dialect, None))
        ]
        self.dbapi_error = dialect.loaded_dbapi.Error

    def parameters(self, params: dict):
        values = {**self.defaults, **params} if self.defaults else params
        if self.positional:
            if not self.binds:  # nothing to convert: the values in their order, in C
                return tuple(map(values.__getitem__, self.names))
            return tuple([values[n] if p is None else p(values[n]) for n, p in self.order])
        values = dict(values)
        for name, process in self.binds:
            if name in values:
                values[name] = process(values[name])
        return values

    def execute(self, conn, dbapi_conn, params, listening: bool = True) -> Rows:
        many = isinstance(params, list)
        args = [self.parameters(p) for p in params] if many else self.parameters(params)
        cursor = dbapi_conn.cursor()
        if listening:  # SQLAlchemy's own event, so whoever counts or logs statements still sees these
            conn.dispatch.before_cursor_execute(conn, cursor, self.sql, args, None, many)
        try:
            if many:
                cursor.executemany(self.sql, args)
            else:
                cursor.execute(self.sql, args)
            fetched = cursor.fetchall() if self.row is not None else []
            rowcount = cursor.rowcount
        except self.dbapi_error as error:
            raise exc.DBAPIError.instance(self.sql, args, error, self.dbapi_error) from error
        finally:
            cursor.close()
        return Rows([self._shape(r) for r in fetched], rowcount)

    def _shape(self, raw):
        if self.results:
            raw = list(raw)
            for i, process in self.results:
                raw[i] = process(raw[i])
        return self._new(self.row, raw)

    _new = staticmethod(tuple.__new__)  # what namedtuple._make does, without its length check


def _compiled(dialect, stmt, params: dict) -> _Compiled | None:
    keys = tuple(sorted(params)) if isinstance(stmt, Insert) else ()
    key = (dialect.name, id(stmt), keys)
    found = _COMPILED.get(key)
    if found is not None:
        return found[1]
    # An INSERT without RETURNING of its own: no implicit RETURNING of the key (nobody here reads it back)
    plain_insert = isinstance(stmt, Insert) and not stmt._returning
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys else None, for_executemany=plain_insert)
    runnable = not (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or compiled.post_compile_params
    )
    fast = _Compiled(compiled, dialect) if runnable else None
    _COMPILED[key] = (stmt, fast)
    return fast


def _dialect(session: Session):
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
