"""Round trips to PostgreSQL per answer turn: what the pipelines and the kept closing writes save."""

import pytest
from sqlmodel import select

from handlers.base import Inbound
from storage import audit, core, pgwire
from storage.models import AuditEntry


@pytest.fixture
def trips(monkeypatch):
    """Every exchange with the server through storage/pgwire.py, by kind."""
    seen = []
    for name in ("execute", "pipeline", "command"):
        original = getattr(pgwire.Wire, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            seen.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(pgwire.Wire, name, counted)
    return seen


def test_an_answer_turn_alone_takes_five_round_trips(pg_services, trips):
    dispatcher = pg_services.dispatcher
    dispatcher.dispatch(Inbound("app", "wangfang", "填报", "k0"))
    trips.clear()
    answer = dispatcher.dispatch(Inbound("app", "wangfang", "6", "k1"))
    assert "已记录：党委会 6 次" in answer[0].text
    # BEGIN and her lock; the claim, the stamp and her state; the submission and the entries; the entry's INSERT;
    # the audit row, her state and the stored answer (then psycopg's COMMIT, not through the wire)
    assert trips == ["pipeline", "pipeline", "pipeline", "execute", "pipeline"], trips


def test_in_a_batch_an_answer_turn_takes_three_round_trips_more(pg_services, trips):
    dispatcher = pg_services.dispatcher
    dispatcher.dispatch_many([(Inbound("app", u, "填报", f"{u}0"), None) for u in ("wangfang", "liqiang")])
    trips.clear()
    answers = dispatcher.dispatch_many([(Inbound("app", u, "6", f"{u}1"), None) for u in ("wangfang", "liqiang")])
    assert all("已记录：党委会 6 次" in a[0].text for a in answers)
    # both locks; then each turn: [the turn before's closing writes +] claim, stamp, state; submission and
    # entries; the entry's INSERT; and the last turn's closing writes
    assert len(trips) == 1 + 2 * 3 + 1, trips
    with pg_services.db.read() as session:
        rows = session.exec(select(AuditEntry)).all()
    assert sorted((r.unit_code, r.new) for r in rows if r.key == "dangweihui") == [("U01", "6"), ("U02", "6")]


def test_audit_rows_kept_for_the_turns_end_are_in_the_trail_read_before_it(any_services):
    with any_services.db.write() as session:
        core.collect_closing(session)
        audit.record_many(
            session=session,
            rows=[dict(actor="x", entity="activity", key="k", field="count", old=None, new=1, unit_code="U01")],
        )
        assert [e.key for e in audit.trail(session=session, unit_code="U01")] == ["k"]
        assert core.closing(session) == []  # run for the read, not again at the end


def test_outside_a_turn_an_audit_row_is_written_at_once(any_services):
    with any_services.db.write() as session:
        audit.record_many(
            session=session,
            rows=[dict(actor="x", entity="activity", key="k", field="count", old=None, new=1, unit_code="U01")],
        )
        assert core.closing(session) == []
    with any_services.db.read() as session:
        assert [e.key for e in audit.trail(session=session)] == ["k"]
