"""INSERT … ON CONFLICT in the session's dialect (SQLite and PostgreSQL both say it the same way)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def dialect_insert(session: Session, table):
    """An INSERT that can say ON CONFLICT, for the database the session talks to."""
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(table)


def insert_ignoring(session: Session, table, keys: list[str]):
    """INSERT … ON CONFLICT (keys) DO NOTHING: with RETURNING, no row back means the row was there."""
    return dialect_insert(session, table).on_conflict_do_nothing(index_elements=keys)
