"""Hot-path SQL as prepared Core statements: built once per dialect, run on the session's connection."""

# Building a select() or update() costs more than running it on SQLite (coercions and cache keys,
# benchmarks/callbacks.py --profile); a statement built once with bindparams keeps its cache key.

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

_BUILT: dict[tuple[str, str], object] = {}


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
    """Execute on the session's connection, after flushing what the session holds (so reads see it)."""
    session.flush()
    return session.connection().execute(stmt, params if params is not None else {})


def _dialect(session: Session):
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
