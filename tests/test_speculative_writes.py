"""PostgreSQL on the event loop: an entry's conditional write sent on a guess, with the turn's closing writes
(storage/core.speculate), checked when it returns; a wrong guess redone on the thread without guessing."""

import asyncio

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlmodel import Session, select

from bot.lane import TurnLane
from handlers.base import Inbound
from storage import campaigns, core, entries
from storage.models import ActivityEntry, AuditEntry, ProcessedMessage, Unit

SAVED = "已记录：党委会 6 次"


def on_loop(dispatcher, work):
    """dispatch_on_loop as the lane runs it: in a greenlet whose waits for the server the loop awaits."""
    return asyncio.run(greenlet_spawn(dispatcher.dispatch_on_loop, work))


UPDATE_BY_MAJUN = (
    "UPDATE activity_entry SET count = 7, version = version + 1, updated_by = 'majun' WHERE key = 'dangweihui'"
)


def fill_table_1(services, *units: str) -> None:
    """Every item of table 1 at 5, version 1, for these units (as the benchmark prepares its clerks)."""
    from handlers.tables import questions

    cid = campaign_id(services)
    with services.db.read() as session:
        campaign = campaigns.active_campaign(session=session)
    with services.db.write() as session:
        for code in units:
            org_type = session.exec(select(Unit.org_type).where(Unit.code == code)).one()
            for q in questions(campaign, "activity", org_type):
                session.add(ActivityEntry(campaign_id=cid, unit_code=code, key=q.key, count=5, updated_by="x"))


def campaign_id(services) -> str:
    with services.db.read() as session:
        return campaigns.active_campaign(session=session).id


@pytest.mark.parametrize("filled", [False, True], ids=["insert", "update"])
def test_on_the_loop_a_batch_of_answers_takes_two_round_trips_whatever_its_size(pg_services, trips, filled):
    dispatcher = pg_services.dispatcher
    people = ("wangfang", "liqiang", "zhangmin", "liujing", "chenjie", "yangyang")
    units = [f"U0{n}" for n in range(1, 7)]
    if filled:  # table 1 filled already (填报 starts at its first item): the answer is an UPDATE
        fill_table_1(pg_services, *units)
    on_loop(dispatcher, [(Inbound("app", u, "填报", f"{u}0"), None) for u in people])
    trips.clear()
    answers = on_loop(dispatcher, [(Inbound("app", u, "6", f"{u}1"), None) for u in people])
    assert all(a[0].text.startswith("已记录：") and " 6 次。" in a[0].text for a in answers), answers
    # BEGIN, the six locks, and each turn's claim (stamp, state), submission and entries; then every turn's
    # closing writes, each entry's guessed write among them, with the COMMIT
    assert trips == ["pipeline"] * 2, trips
    with pg_services.db.read() as session:  # each unit's first item (党委会, 总支会 or 支委会, by its kind)
        counts = sorted((e.unit_code, e.count, e.version) for e in session.exec(select(ActivityEntry)) if e.count == 6)
        audit = sorted((r.unit_code, r.old, r.new) for r in session.exec(select(AuditEntry)) if r.new == "6")
    version, old = (2, "5") if filled else (1, None)
    assert counts == [(u, 6, version) for u in units]
    assert audit == [(u, old, "6") for u in units]


@pytest.mark.parametrize("filled", [False, True], ids=["insert", "update"])
def test_another_clerks_write_between_guess_and_check_is_kept_and_her_answer_redone_on_the_thread(
    pg_services, pg_url, monkeypatch, where, filled
):
    """Her answer's write is kept for the turn's end; before it goes, majun (another worker, another
    connection) fills the same item. The guess finds no row: the loop's transaction is rolled back whole
    and the thread does the turn again, which finds his value and tells her, saving nothing of hers."""
    dispatcher, cid = pg_services.dispatcher, campaign_id(pg_services)
    if filled:
        fill_table_1(pg_services, "U01")
    lane = TurnLane(dispatcher, on_loop=True)
    other = create_engine(pg_url)
    real, guessed = entries.speculate, []

    def speculate_then_majun_writes(session, stmt, params):
        made = real(session, stmt, params)
        if made and not guessed:
            guessed.append(stmt)
            with Session(other) as s, s.begin():
                if filled:
                    s.execute(text(UPDATE_BY_MAJUN))
                else:
                    s.add(
                        ActivityEntry(campaign_id=cid, unit_code="U01", key="dangweihui", count=7, updated_by="majun")
                    )
        return made

    monkeypatch.setattr(entries, "speculate", speculate_then_majun_writes)

    async def main():
        await lane.dispatch(Inbound("app", "wangfang", "填报", "k1"), 2048)
        return await asyncio.wait_for(lane.dispatch(Inbound("app", "wangfang", "6", "k2"), 2048), 20)

    try:
        answer = asyncio.run(main())
    finally:
        lane.close()
        other.dispose()
    assert guessed and lane.handed_off == 1 and where["k2"] == "turn-lane"
    assert SAVED not in answer[0].text and "7" in answer[0].text, answer[0].text
    with pg_services.db.read() as session:
        stored = session.exec(select(ActivityEntry).where(ActivityEntry.key == "dangweihui")).all()
        assert [(e.count, e.updated_by) for e in stored] == [(7, "majun")]
        mine = [r for r in session.exec(select(AuditEntry)) if r.actor == "wangfang" and r.new == "6"]
        assert mine == []
        assert session.exec(select(ProcessedMessage).where(ProcessedMessage.key.like("%k2"))).all() != []


def test_a_statement_after_a_guess_goes_after_it_in_one_round_trip_and_sees_it(pg_services, trips):
    cid = campaign_id(pg_services)
    with pg_services.db.write() as session:
        read = _known_entry(session, cid)
        _guess_2(session, cid)
        trips.clear()
        rows = core.run(session, *read)
        assert trips == ["pipeline"] and [(r.count, r.version) for r in rows] == [(2, 2)]
        assert core.closing(session) == []  # the kept writes (the guess, its audit row) went with that read
        assert [a.new for a in session.exec(select(AuditEntry))] == ["2"]
        session.rollback()


def test_a_guess_that_returns_no_row_fails_the_transaction(pg_services):
    cid = campaign_id(pg_services)
    for own in (False, True):
        with pytest.raises(core.Mispredicted), pg_services.db.write() as session:
            _known_entry(session, cid)
            core.run(session, text("SELECT 1"))  # (nothing unsent yet: SQLAlchemy's own statement goes)
            # what this transaction read says version 1; another writer (here: a statement before) made it 3
            core.run(session, *_bump(session))
            _guess_2(session, cid)
            if own:  # SQLAlchemy's own statement sends the kept guess first, and it is found wrong there
                session.execute(text("SELECT 1"))
            else:
                core.run_all(session, core.closing(session))
    with pg_services.db.read() as session:
        assert session.exec(select(ActivityEntry)).all() == []  # both rolled back whole


def test_a_statement_of_sqlalchemys_own_after_a_guess_sends_it_first_and_sees_it(pg_services, trips):
    cid = campaign_id(pg_services)
    with pg_services.db.write() as session:
        _known_entry(session, cid)
        _guess_2(session, cid)
        trips.clear()
        rows = session.execute(text("SELECT count, version FROM activity_entry")).all()
        assert [tuple(r) for r in rows] == [(2, 2)] and trips == ["pipeline"]  # the guess and its audit row
        assert core.closing(session) == []
        session.rollback()


def test_no_guess_without_a_redo_or_off_postgresql(any_services):
    with any_services.db.write() as session:
        core.collect_closing(session)
        stmt = core.prepared(session, "activity.update", lambda _: entries._update("activity"))
        assert core.speculate(session, stmt, {}) is False  # SPECULATE not set: run it yourself
        session.info[core.SPECULATE] = True
        off = any_services.db.is_sqlite
        params = dict(w_campaign_id="c", w_unit_code="U01", w_key="k", seen=1, v_version=2)
        params.update(v_count=1, v_note=None, v_updated_by="x", v_updated_at=any_services.clock.now())
        assert core.speculate(session, stmt, params) is (not off)
        session.rollback()


def _known_entry(session, cid: str) -> tuple:
    """U01's 党委会 at 1 (version 1), read into what the session knows; the statement that reads U01."""
    session.add(ActivityEntry(campaign_id=cid, unit_code="U01", key="dangweihui", count=1, updated_by="x"))
    session.flush()
    read = entries.reading_unit(session, "activity", cid, "U01")
    entries.read(session=session, kind="activity", campaign_id=cid, unit_code="U01")
    return read


def _guess_2(session, cid: str) -> None:
    """Inside a turn that may guess: set 党委会 to 2 over version 1, kept as a guess."""
    session.info[core.SPECULATE] = True
    core.collect_closing(session)
    entries.set_entry(
        session=session, kind="activity", campaign_id=cid, unit_code="U01", key="dangweihui", value=2,
        note=None, actor="y", seen_version=1,
    )  # fmt: skip


def _bump(session):
    from sqlalchemy import update

    t = ActivityEntry.__table__
    return core.prepared(session, "test.bump", lambda _: update(t).values(version=3)), {}


def test_two_clerks_of_one_unit_answering_one_item_in_one_batch_each_see_the_write_before(pg_services, trips):
    """wangfang's guessed INSERT is kept for the batch's next turn, whose first reads go after it: majun's
    turn (his form opened before her answer) reads her value and asks him before overwriting it, as on
    the thread; no guess fails (dispatch_on_loop would raise HandOff)."""
    dispatcher = pg_services.dispatcher
    on_loop(dispatcher, [(Inbound("app", u, "填报", f"{u}0"), None) for u in ("wangfang", "majun")])
    trips.clear()
    answers = on_loop(
        dispatcher, [(Inbound("app", "wangfang", "6", "w1"), None), (Inbound("app", "majun", "7", "m1"), None)]
    )
    assert SAVED in answers[0][0].text and "刚刚被王芳改为 6" in answers[1][0].text, answers
    assert trips == ["pipeline"] * 3, trips  # the COMMIT in the last
    with pg_services.db.read() as session:
        stored = session.exec(select(ActivityEntry).where(ActivityEntry.key == "dangweihui")).all()
        assert [(e.count, e.version, e.updated_by) for e in stored] == [(6, 1, "wangfang")]
        audit = [(r.actor, r.old, r.new) for r in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert [a for a in audit if a[2] in ("6", "7")] == [("wangfang", None, "6")]


def test_a_statement_while_a_guess_is_in_the_dispatchers_hands_is_refused(pg_services):
    """closing() hands the turn's kept writes, a guess among them, to the dispatcher for the next turn's
    first round trip: a statement sent before that would go ahead of the guess, so it fails the
    transaction instead (the thread then redoes the batch)."""
    cid = campaign_id(pg_services)
    with pytest.raises(core.Mispredicted, match="kept elsewhere"), pg_services.db.write() as session:
        read = _known_entry(session, cid)
        _guess_2(session, cid)
        held = core.closing(session)
        assert any(isinstance(w, core.Speculative) for w in held)
        core.run(session, *read)
    with pg_services.db.read() as session:
        assert session.exec(select(ActivityEntry)).all() == []


def test_a_mixed_batch_on_the_loop_keeps_every_write_and_hands_nothing_off(pg_services):
    """A clerk's whole morning in one batch (answers, going back, a sentence and its 确认, 进度, 自评, 取消,
    跳过), with another clerk of her unit in between: every turn runs on the loop (a failed guess or a
    statement ahead of one would raise HandOff here) and every saved answer is stored."""
    from storage.models import ScoreEntry

    on_loop(pg_services.dispatcher, [(Inbound("app", "wangfang", "填报", "a0"), None)])
    texts = ["6", "进度", "7", "上一步", "8", "党委会6次，政治学习二十四次", "确认", "还差什么", "自评", "9"]
    texts += ["取消", "填报", "跳过", "5", "帮助", "提交"]
    work = [(Inbound("app", "wangfang", t, f"a{i + 1}"), None) for i, t in enumerate(texts)]
    work[3:3] = [(Inbound("app", "majun", "填报", "m0"), None)]
    work[5:5] = [(Inbound("app", "majun", "3", "m1"), None)]
    answers = on_loop(pg_services.dispatcher, work)
    said = {i.text: a[0].text for (i, _), a in zip(work, answers, strict=True) if i.userid == "wangfang"}
    assert said["确认"].startswith("已保存：政治学习 24") and said["提交"].startswith("还不能提交"), said
    with pg_services.db.read() as session:
        counts = sorted((e.count, e.updated_by) for e in session.exec(select(ActivityEntry)))
        points = [s.points for s in session.exec(select(ScoreEntry))]
    assert counts == [(3, "majun"), (5, "wangfang"), (6, "wangfang"), (8, "wangfang")], counts
    assert points == [9]
