"""Round trips to PostgreSQL per answer turn: what the pipelines and the kept closing writes save."""

from sqlalchemy import bindparam, event, text, update
from sqlmodel import select

from bot.services import build_services
from bot.settings import load_settings
from handlers.base import Inbound
from storage import audit, core, entries, pgwire
from storage.models import ActivityEntry, AuditEntry


def test_an_answer_turn_alone_takes_three_round_trips(pg_services, trips):
    dispatcher = pg_services.dispatcher
    dispatcher.dispatch(Inbound("app", "wangfang", "填报", "k0"))
    trips.clear()
    answer = dispatcher.dispatch(Inbound("app", "wangfang", "6", "k1"))
    assert "已记录：党委会 6 次" in answer[0].text
    # BEGIN, her lock, the claim with the stamp and her state and (read ahead: she was left in table 1) the
    # unit's entries with its submission (one statement); the entry's INSERT; the audit row, her state and the stored answer
    # (then psycopg's COMMIT, not through the wire)
    assert trips == ["pipeline", "execute", "pipeline"], trips


def test_in_a_batch_an_answer_turn_takes_two_round_trips_more(pg_services, trips):
    dispatcher = pg_services.dispatcher
    dispatcher.dispatch_many([(Inbound("app", u, "填报", f"{u}0"), None) for u in ("wangfang", "liqiang")])
    trips.clear()
    answers = dispatcher.dispatch_many([(Inbound("app", u, "6", f"{u}1"), None) for u in ("wangfang", "liqiang")])
    assert all("已记录：党委会 6 次" in a[0].text for a in answers)
    # each turn: [BEGIN and both locks, or the turn before's closing writes +] claim with stamp and state, submission
    # and entries; the entry's INSERT; and the last turn's closing writes
    assert len(trips) == 2 * 2 + 1, trips
    with pg_services.db.read() as session:
        rows = session.exec(select(AuditEntry)).all()
    assert sorted((r.unit_code, r.new) for r in rows if r.key == "dangweihui") == [("U01", "6"), ("U02", "6")]


def test_an_answer_in_table_2_takes_three_round_trips_as_one_in_table_1(pg_services, trips):
    # table 2's points are a float column: its statements go on the wire too (their result processor chosen
    # from the declared type), so the table is read ahead and nothing splits the turn's first pipeline
    dispatcher = pg_services.dispatcher
    dispatcher.dispatch(Inbound("app", "wangfang", "自评", "k0"))
    dispatcher.dispatch(Inbound("app", "wangfang", "112.5", "k1"))
    assert dispatcher._in_form == {"wangfang": "score"}
    trips.clear()
    engine = pg_services.db.engine
    others = []  # what SQLAlchemy sends itself, around the wire

    def sent(conn, clause, *args):
        others.append(str(clause))

    event.listen(engine, "before_execute", sent)
    try:
        answer = dispatcher.dispatch(Inbound("app", "wangfang", "98.5", "k2"))
    finally:
        event.remove(engine, "before_execute", sent)
    assert "【3/7】" in answer[0].text
    assert trips == ["pipeline", "execute", "pipeline"], trips
    assert others == [], others
    with pg_services.db.read() as session:
        points = sorted(p for (p,) in session.execute(text("SELECT points FROM score_entry")))
    assert points == [98.5, 112.5] and all(type(p) is float for p in points)


def first_pipelines(monkeypatch) -> list[int]:
    """How many statements each libpq pipeline sent (BEGIN not counted)."""
    sizes, original = [], pgwire.Wire.pipeline

    def counted(self, work, begin=False, commit=False):
        sizes.append(len(work))
        return original(self, work, begin, commit)

    monkeypatch.setattr(pgwire.Wire, "pipeline", counted)
    return sizes


def test_a_turn_outside_a_form_reads_nothing_ahead(pg_services, monkeypatch):
    dispatcher = pg_services.dispatcher
    sizes = first_pipelines(monkeypatch)
    dispatcher.dispatch(Inbound("app", "wangfang", "填报", "k0"))
    sizes.clear()
    dispatcher.dispatch(Inbound("app", "wangfang", "6", "k1"))
    in_form = sizes[0]
    dispatcher.dispatch(Inbound("app", "wangfang", "取消", "k2"))
    sizes.clear()
    dispatcher.dispatch(Inbound("app", "wangfang", "帮助", "k3"))
    # her lock, the claim with the stamp and her state (one statement); in the form, the unit's entries with
    # its submission too (one statement, UNION ALL)
    assert dispatcher._in_form == {} and sizes[0] == 2 and in_form == 3, (sizes, in_form)


def test_a_guess_another_worker_made_wrong_is_answered_as_if_nothing_was_read_ahead(pg_services, pg_url, clock):
    # She was left in table 1 here; another worker took her out of it and filled the entry meanwhile: this
    # worker reads table 1 ahead, and her turn neither uses what it read nor answers as if she were in it.
    here = pg_services.dispatcher
    there = build_services(load_settings(database_url=pg_url, _env_file=None), clock=clock, transport=None)
    try:
        here.dispatch(Inbound("app", "wangfang", "填报", "k0"))
        assert here._in_form == {"wangfang": "activity"}
        there.dispatcher.dispatch(Inbound("app", "wangfang", "6", "k1"))
        there.dispatcher.dispatch(Inbound("app", "wangfang", "取消", "k2"))
        answer = here.dispatch(Inbound("app", "wangfang", "7", "k3"))
        fresh = there.dispatcher.dispatch(Inbound("app", "wangfang", "7", "k4"))
        assert answer[0].text == fresh[0].text and "已记录" not in answer[0].text
        assert here._in_form == {}
        with pg_services.db.read() as session:
            assert [e.count for e in session.exec(select(ActivityEntry))] == [6]
    finally:
        there.close()


def test_what_was_read_ahead_is_sent_again_once_anything_went_to_the_server(pg_services, trips):
    # Read ahead, then a statement between (a prepared UPDATE, the ORM's flush, a text UPDATE, a lock): the
    # same read afterwards goes to the server (and sees the write), never served the rows read before it.
    campaign_id = _campaign_id(pg_services)
    between = {
        "core": lambda s, e: core.run(s, _count_update(s), {"c": 9, "id": e.id, "at": e.updated_at}),
        "many": lambda s, e: core.run(s, _count_update(s), [{"c": c, "id": e.id, "at": e.updated_at} for c in (8, 9)]),
        "run_all": lambda s, e: core.run_all(s, [(_count_update(s), {"c": 9, "id": e.id, "at": e.updated_at})]),
        "orm": lambda s, e: (setattr(e, "count", 9), s.flush()),
        "text": lambda s, e: s.execute(text("UPDATE activity_entry SET count = 9")),
        "lock": lambda s, e: pg_services.db.lock_people(s, ["wangfang"]),
        "nothing": lambda s, e: None,
    }
    for name, between_them in between.items():
        with pg_services.db.write() as session:
            entry = ActivityEntry(campaign_id=campaign_id, unit_code="U01", key="dangweihui", count=1, updated_by="x")
            session.add(entry)
            session.flush()
            read = [entries.reading_unit(session, "activity", campaign_id, "U01")]
            core.read_ahead(session, read, core.run_all(session, read))
            between_them(session, entry)
            trips.clear()
            [rows] = core.run_all(session, read)
            sent = trips == ["pipeline"]
            assert sent == (name != "nothing"), (name, trips)
            assert [r.count for r in rows] == [1 if name in ("lock", "nothing") else 9], name
            assert core._AHEAD not in session.info
            session.rollback()


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


def _campaign_id(services) -> str:
    from storage import campaigns

    with services.db.read() as session:
        return campaigns.active_campaign(session=session).id


def _count_update(session):
    # updated_at given, so nothing is computed in Python and the UPDATE goes through storage/pgwire.py
    t = ActivityEntry.__table__
    values = {"count": bindparam("c"), "updated_at": bindparam("at")}
    return core.prepared(session, "test.count", lambda _: update(t).where(t.c.id == bindparam("id")).values(values))
