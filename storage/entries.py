"""Repository for a unit's entries (table 1 counts, table 2 self-scores) and its self-check submission."""

from __future__ import annotations

import functools
from collections import namedtuple
from datetime import datetime
from operator import itemgetter

from sqlalchemy import bindparam, null, union_all, update
from sqlmodel import Session, select

from storage import audit
from storage.core import TURN_CACHES, insert_ignoring, prepared, run, run_all, speculate
from storage.models import ActivityEntry, ScoreEntry, Submission, utcnow
from storage.submissions import (  # noqa: F401  (callers know them as entries.*)
    reading_submission,
    set_submitted,
    submission,
    submission_state,
    submissions,
)

_MODELS = {"activity": (ActivityEntry, "count"), "score": (ScoreEntry, "points")}
_CACHE = "unit_entries"  # session.info: a unit's entries read in this turn, kept current by set_entry
TURN_CACHES.append(_CACHE)
# session.info: (campaign, unit) whose entries this transaction wrote, across the turns of a batch (not a
# turn cache): what another turn read of them ahead, before the write, is not served (handlers/dispatch.py)
_WRITTEN = "entries.written"


# One entry as a turn reads it: a snapshot, not a tracked object (writes go through set_entry). Only the
# columns a conversation looks at, none with a result processor, each row made by tuple.__new__ in C: a
# unit's entries are read every turn, and a dataclass or a parsed datetime per row was a fifth of it.
class ActivityRow(namedtuple("ActivityRow", "id key count note version updated_by")):
    __slots__ = ()
    value = property(itemgetter(2))  # the count (a tuple has a count method: never ask hasattr "count")


class ScoreRow(namedtuple("ScoreRow", "id key points note version updated_by")):
    __slots__ = ()
    value = property(itemgetter(2))  # the points


_ROWS = {"activity": ActivityRow, "score": ScoreRow}


class StaleEntry(Exception):
    """Someone else changed the entry since the person saw it."""

    def __init__(self, current):
        super().__init__(current.key)
        self.current = current


@functools.cache
def _columns(kind: str):
    model, field = _MODELS[kind]
    t = model.__table__.c
    return model.__table__, (t.id, t.key, t[field], t.note, t.version, t.updated_by)


def entries(*, session: Session, kind: str, campaign_id: str, unit_code: str) -> dict:
    """One unit's entries by key (one read)."""
    make, new = _ROWS[kind], tuple.__new__
    stmt = prepared(session, f"{kind}.unit", lambda _: _select(kind, "campaign_id", "unit_code"))
    return {r[1]: new(make, r) for r in run(session, stmt, {"campaign_id": campaign_id, "unit_code": unit_code})}


def _select(kind: str, *keys: str):
    """SELECT the snapshot's columns WHERE each key column equals the bind parameter of its name."""
    table, cols = _columns(kind)
    return select(*cols).where(*(table.c[k] == bindparam(k) for k in keys))


class _Read:
    """What this transaction read of one unit's entries of a kind: the whole table, or the rows of the
    keys asked for (a key asked for and absent is known to be empty). Kept current by set_entry."""

    __slots__ = ("rows", "whole", "asked")

    def __init__(self, rows: dict, whole: bool):
        self.rows, self.whole, self.asked = rows, whole, set()

    def knows(self, key: str) -> bool:
        return self.whole or key in self.asked


MAX_KEYS = 8  # more keys than this at once: the whole table is read instead
# Where reading only some keys pays: SQLite fetches a row for about a microsecond of this thread's CPU;
# on PostgreSQL rows arrive through libpq's C loaders and each extra parameter costs Python (callgrind
# over benchmarks' turns: 1,207,012 instructions a turn keyed, 1,198,779 whole), so it reads the table.
KEYED_READS = {"sqlite"}


def _read(session: Session, kind: str, campaign_id: str, unit_code: str) -> _Read | None:
    return session.info.get(_CACHE, {}).get((kind, campaign_id, unit_code))


def unit_entries(*, session: Session, kind: str, campaign_id: str, unit_code: str) -> dict:
    """One unit's entries by key, read once per session (one transaction: a turn) and updated by its
    own set_entry. Read-only for the caller."""
    read(session=session, kind=kind, campaign_id=campaign_id, unit_code=unit_code)
    return _read(session, kind, campaign_id, unit_code).rows


def read_keys(*, session: Session, kind: str, campaign_id: str, unit_code: str, keys) -> None:
    """Read the entries of these keys (those not read yet in this session) in one statement: a form's
    answer needs three or four of a unit's entries, and a row costs as much to read as the statement."""
    read(session=session, kind=kind, campaign_id=campaign_id, unit_code=unit_code, keys=keys)


def read(*, session: Session, kind: str, campaign_id: str, unit_code: str, keys=None) -> None:
    """Read into what this session knows of the unit: the whole table (keys None) or the keys not known
    yet (core.run_all: on PostgreSQL served from what was read ahead, if it was)."""
    known, whole, missing, reading = _plan(session, kind, campaign_id, unit_code, keys)
    if reading is not None:
        [rows] = run_all(session, [reading])
        _learn(known, whole, missing, kind, rows)


def read_with_submission(*, session: Session, kind: str, campaign_id: str, unit_code: str, keys=None):
    """read()'s, and the unit's submission state (submission_state's row, or None), as one statement
    (UNION ALL) when entries are still to be read: a statement fewer in every answer of a form. On SQLite
    this thread's CPU for a statement is about SQLite's own work for it (in-process, batches of 20 on the
    loop, alternating ABBA: 5-10 µs a turn less); on PostgreSQL, where both went in one round trip anyway,
    each statement cost the wire's dumps and loads here and the server's bind and execute there (wrk,
    alternating: 26-30 -> 35-37 % of the floor)."""
    known, whole, missing, reading = _plan(session, kind, campaign_id, unit_code, keys)
    if reading is None:  # every key known already: the state alone
        return run(session, *reading_submission(session, campaign_id, unit_code)).first()
    stmt, params = reading
    name = f"{kind}.unit" if whole else f"{kind}.keys{len(missing)}"
    fused = prepared(session, f"{name}+submission", lambda _: _with_submission(stmt))
    rows, state = [], None
    for row in run_all(session, [(fused, params)])[0]:  # served from what was read ahead, if it was (PostgreSQL)
        if row[1] is None:  # the submission's row: no entry has a NULL key
            state = row
        else:
            rows.append(row[:6])
    _learn(known, whole, missing, kind, rows)
    return None if state is None else _submission_row(session, state[6:])


def reading_unit_with_submission(session: Session, kind: str, campaign_id: str, unit_code: str) -> tuple:
    """The statement and parameters read_with_submission sends for a unit's whole table and its state, for
    core.read_ahead (what the dispatcher reads ahead on PostgreSQL)."""
    stmt, params = reading_unit(session, kind, campaign_id, unit_code)
    return prepared(session, f"{kind}.unit+submission", lambda _: _with_submission(stmt)), params


def _plan(session: Session, kind: str, campaign_id: str, unit_code: str, keys):
    """What this session knows of the unit, and the statement (with its parameters) that reads what it
    does not yet: the whole table, or the keys missing; None when nothing is."""
    known = _read(session, kind, campaign_id, unit_code)
    if known is None:
        known = session.info.setdefault(_CACHE, {})[(kind, campaign_id, unit_code)] = _Read({}, False)
    if keys is not None and session.get_bind().dialect.name not in KEYED_READS:
        keys = None
    missing = None if keys is None or known.whole else sorted({key for key in keys if not known.knows(key)})
    whole = not known.whole and (missing is None or len(missing) > MAX_KEYS)
    if not whole and not missing:
        return known, whole, missing, None
    if whole:
        return known, whole, missing, reading_unit(session, kind, campaign_id, unit_code)
    params = {"campaign_id": campaign_id, "unit_code": unit_code}
    params.update((f"k{i}", key) for i, key in enumerate(missing))
    stmt = prepared(session, f"{kind}.keys{len(missing)}", lambda _: _select_keys(kind, len(missing)))
    return known, whole, missing, (stmt, params)


def _learn(known, whole: bool, missing, kind: str, rows) -> None:
    make, new = _ROWS[kind], tuple.__new__
    made = {r[1]: new(make, r) for r in rows}
    if whole:
        known.rows, known.whole = made, True
    else:
        known.rows.update(made)
        known.asked.update(missing)


_STATE_COLUMNS = ("submitted", "submitted_at", "reopened_at")
SubmissionState = namedtuple("SubmissionState", _STATE_COLUMNS)


def _with_submission(entries_select):
    """The entries' SELECT (its rows with the state's columns NULL) UNION ALL the unit's submission state
    (the entries' columns NULL), on the same parameters. Untyped NULLs in the first SELECT, whose columns
    are the result's: no result processor runs on the entries' rows (they stay plain tuples, made in C);
    the one state row is converted by _submission_row, as submission_state's columns would be."""
    t = Submission.__table__.c
    first = entries_select.add_columns(*(null().label(name) for name in _STATE_COLUMNS))
    nulls = [null().label(c.name) for c in entries_select.selected_columns]
    state = select(*nulls, *(t[name] for name in _STATE_COLUMNS)).where(
        t.campaign_id == bindparam("campaign_id"), t.unit_code == bindparam("unit_code")
    )
    return union_all(first, state)


def _submission_row(session: Session, values) -> SubmissionState:
    dialect = session.get_bind().dialect
    processors = _STATE_PROCESSORS.get(dialect.name)
    if processors is None:
        t = Submission.__table__.c
        processors = _STATE_PROCESSORS[dialect.name] = [
            t[name].type._cached_result_processor(dialect, None) or (lambda v: v) for name in _STATE_COLUMNS
        ]
    return SubmissionState(*(process(v) for process, v in zip(processors, values, strict=True)))


_STATE_PROCESSORS: dict[str, list] = {}


def reading_unit(session: Session, kind: str, campaign_id: str, unit_code: str) -> tuple:
    """The statement and parameters that read a unit's whole table of a kind (what read() sends for it),
    for core.run_all with others or core.read_ahead."""
    stmt = prepared(session, f"{kind}.unit", lambda _: _select(kind, "campaign_id", "unit_code"))
    return stmt, {"campaign_id": campaign_id, "unit_code": unit_code}


def _select_keys(kind: str, n: int):
    table, _ = _columns(kind)
    return _select(kind, "campaign_id", "unit_code").where(table.c.key.in_([bindparam(f"k{i}") for i in range(n)]))


def unit_entry(*, session: Session, kind: str, campaign_id: str, unit_code: str, key: str):
    """One entry of a unit, or None: from what this session read, else read now (with read_keys)."""
    read = _read(session, kind, campaign_id, unit_code)
    if read is None or not read.knows(key):
        read_keys(session=session, kind=kind, campaign_id=campaign_id, unit_code=unit_code, keys=(key,))
        read = _read(session, kind, campaign_id, unit_code)
    return read.rows.get(key)


def versions(*, session: Session, kind: str, campaign_id: str, unit_code: str) -> dict[str, int]:
    return {
        k: e.version
        for k, e in entries(session=session, kind=kind, campaign_id=campaign_id, unit_code=unit_code).items()
    }


def _one(session: Session, kind: str, campaign_id: str, unit_code: str, key: str):
    stmt = prepared(session, f"{kind}.one", lambda _: _select(kind, "campaign_id", "unit_code", "key"))
    row = run(session, stmt, {"campaign_id": campaign_id, "unit_code": unit_code, "key": key}).first()
    return tuple.__new__(_ROWS[kind], row) if row else None


def written(session: Session) -> set[tuple[str, str]]:
    """The (campaign id, unit code) pairs whose entries this transaction has written."""
    return session.info.get(_WRITTEN, set())


def set_entry(
    *,
    session: Session,
    kind: str,
    campaign_id: str,
    unit_code: str,
    key: str,
    value,
    note: str | None,
    actor: str,
    seen_version: int | None = None,
    check: bool = True,
    now: datetime | None = None,
):
    """Write one entry. With `check`, refuse (StaleEntry) when its version is not the one the person saw
    (`seen_version` None means they saw it empty). A note of None keeps the note already there.

    The write itself is conditional on the version just read (UPDATE … WHERE version = read, or INSERT …
    ON CONFLICT DO NOTHING), so two writers that read the same version cannot both win on any database."""
    now = now or utcnow()
    read = _read(session, kind, campaign_id, unit_code)
    # What this transaction read already serves as the version to write against: if another writer
    # moved it meanwhile, the conditional write matches nothing and the row is read again.
    if read is not None and read.knows(key):
        current = read.rows.get(key)
    else:
        current = _one(session, kind, campaign_id, unit_code, key)
    for _ in range(3):
        if check and (current.version if current else None) != seen_version:
            raise StaleEntry(current)
        written = _write(session, kind, campaign_id, unit_code, key, value, note, actor, current, now)
        if written is not None:
            _remember(read, key, written)
            return written
        current = _one(session, kind, campaign_id, unit_code, key)
        _remember(read, key, current)
    raise RuntimeError(f"entry {unit_code}/{key} keeps changing under the write")


def _remember(read: _Read | None, key: str, row) -> None:
    if read is None:
        return
    read.asked.add(key)
    if row is None:
        read.rows.pop(key, None)
    else:
        read.rows[key] = row


def _insert(session: Session, kind: str):
    table, _ = _columns(kind)
    return insert_ignoring(session, table, ["campaign_id", "unit_code", "key"]).returning(table.c.id)


def _update(kind: str):
    """UPDATE … WHERE the entry's version is what was read: no row back means another writer moved it.
    By its unique key, not its id: a write sent on a guess after an INSERT sent on one has no id yet
    (entries are never deleted, and a version only grows, so the key and version name one state)."""
    table, _ = _columns(kind)
    _, field = _MODELS[kind]
    names = (field, "note", "updated_by", "updated_at", "version")
    keys = ("campaign_id", "unit_code", "key")
    return (
        update(table)
        .where(*(table.c[k] == bindparam(f"w_{k}") for k in keys), table.c.version == bindparam("seen"))
        .values({name: bindparam(f"v_{name}") for name in names})
        .returning(table.c.id)
    )


def _write(session, kind, campaign_id, unit_code, key, value, note, actor, current, now):
    """The conditional write and its audit rows; None when another writer got there first."""
    table, _ = _columns(kind)
    _, field = _MODELS[kind]
    new_note = (current.note if current else None) if note is None else (note or None)
    values = {field: value, "note": new_note, "updated_by": actor, "updated_at": now}
    if current is None:
        stmt = prepared(session, f"{kind}.insert", lambda s: _insert(s, kind), accounted=True)
        values.update(campaign_id=campaign_id, unit_code=unit_code, key=key, version=1)
    else:
        stmt = prepared(session, f"{kind}.update", lambda _: _update(kind), accounted=True)
        values = {f"v_{k}": v for k, v in values.items()}
        values.update(w_campaign_id=campaign_id, w_unit_code=unit_code, w_key=key)
        values.update(seen=current.version, v_version=current.version + 1)
    written = session.info.get(_WRITTEN)
    if written is None:
        written = session.info[_WRITTEN] = set()
    written.add((campaign_id, unit_code))
    if speculate(session, stmt, values):  # sent with the turn's closing writes, checked there
        row_id = current.id if current else None
    else:
        row_id = run(session, stmt, values).scalar_one_or_none()
        if row_id is None:
            return None
    old_value, old_note = (getattr(current, field), current.note) if current else (None, None)
    changes = [(name, old, new) for name, old, new in ((field, old_value, value), ("note", old_note, new_note))]
    audit.record_many(
        session=session,
        rows=[
            dict(
                actor=actor,
                entity=kind,
                key=key,
                field=name,
                old=old,
                new=new,
                campaign_id=campaign_id,
                unit_code=unit_code,
                at=now,
            )
            for name, old, new in changes
            if old != new
        ],
    )
    version = current.version + 1 if current else 1
    return _ROWS[kind](row_id, key, value, new_note, version, actor)


def values(*, session: Session, kind: str, campaign_id: str, unit_codes: list[str] | None = None) -> dict:
    """(unit, key) -> (value, note) as plain columns, for all units or those given: ORM objects cost ten
    times as much for a city's entries."""
    model, field = _MODELS[kind]
    t = model.__table__.c
    query = select(t.unit_code, t.key, t[field], t.note).where(t.campaign_id == campaign_id)
    if unit_codes is not None:
        query = query.where(t.unit_code.in_(unit_codes))
    return {(code, key): (value, note) for code, key, value, note in session.execute(query)}
