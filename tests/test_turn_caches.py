import traceback
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError
from sqlalchemy import event

from bot.operations import load_campaign_file
from handlers.errors import InputError
from handlers.parsing import parse_answer
from storage import entries
from storage.campaign import DEFAULT_CAMPAIGN
from storage.render import TEMPLATES, _compiled, environment, render, render_same
from tests.transcript import Chat

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAMPAIGN = "luoyang-2013"


def _reload(first, tmp_path, old: str, new: str) -> None:
    text = DEFAULT_CAMPAIGN.read_text(encoding="utf-8")
    assert text.count(old) == 1
    changed = tmp_path / "campaign.toml"
    changed.write_text(text.replace(old, new), encoding="utf-8")
    load_campaign_file(first.db, changed)


def test_a_reloaded_campaign_locks_entries_at_its_own_end_of_self_check(two, tmp_path, clock):
    first, second = two
    clock.at = datetime(2013, 12, 23, 10, 0, tzinfo=SHANGHAI)
    clerk = Chat(second, "wangfang")
    assert "自查阶段已于 12月22日 结束" in clerk.say("填报")
    _reload(first, tmp_path, 'end = "2013-12-22"', 'end = "2013-12-24"')
    assert "开始填写统计表" in clerk.say("填报")
    _reload(first, tmp_path, 'end = "2013-12-22"', 'end = "2013-12-22"')
    assert "自查阶段已于 12月22日 结束" in clerk.say("6")


def test_a_reloaded_campaign_checks_of_which_against_its_own_parent(two, tmp_path):
    first, second = two
    clerk = Chat(second, "wangfang")
    clerk.script("填报", *["1"] * 5, "3")  # … 领导上党课 = 3
    assert "不能多于领导上党课（领导上党课填的是 3 次）" in clerk.say("4")
    _reload(first, tmp_path, 'name = "领导上党课"', 'name = "领导讲党课"')
    assert "不能多于领导讲党课（领导讲党课填的是 3 次）" in clerk.script("取消", "填报", "4")
    _reload(first, tmp_path, 'at_most = "lingdao_shang_dangke"', "")
    assert "已记录：其中主要领导上党课 4 次" in clerk.script("取消", "填报", "4")


def test_a_value_missing_from_a_chat_text_fails_at_its_line_in_the_template():
    with pytest.raises(UndefinedError) as failed:
        render("form_retry.txt", reason="不是数字", value=None, hint=False)  # no q: line 2 names it
    frames = [f for f in traceback.extract_tb(failed.tb) if f.filename.endswith("form_retry.txt")]
    assert frames and frames[-1].lineno == 2


def test_every_template_is_rendered_with_the_globals_jinja_gives_it():
    names = sorted(p.name for p in TEMPLATES.iterdir() if p.is_file())
    assert "form_question.txt" in names
    for name in names:
        assert _compiled(name)[1] == dict(environment().get_template(name).globals), name


def test_the_same_short_answer_is_judged_by_each_tables_own_rule_for_halves():
    assert parse_answer("2.5", allow_half=True) == (2.5, None)
    with pytest.raises(InputError):
        parse_answer("2.5")
    assert parse_answer("2.5", allow_half=True) == (2.5, None)
    assert parse_answer("6 其中两次线上") == (6, "其中两次线上")


class _Reads:
    """The statements reading activity_entry, with their parameters, from now on."""

    def __init__(self, engine):
        self.seen: list[tuple[str, object]] = []
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, _conn, _cursor, statement, parameters, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM activity_entry" in statement:
            self.seen.append((statement, parameters))


def test_an_answer_reads_only_its_own_entry_the_next_ones_and_what_its_rule_compares(services):
    clerk = Chat(services, "wangfang")
    clerk.script("填报", *["1"] * 5)  # at 领导上党课, whose 其中主要领导上党课 it may not be less than
    reads = _Reads(services.db.engine)
    assert "已记录：领导上党课 3 次" in clerk.say("3")
    [(sql, params)] = reads.seen
    named = {p for p in (params.values() if isinstance(params, dict) else params)}
    assert {"lingdao_shang_dangke", "zhuyao_lingdao_shang_dangke"} <= named and " IN " in sql


def test_the_last_answer_of_a_table_reads_the_whole_table_once(services):
    clerk = Chat(services, "wangfang")
    clerk.script("填报", *["2"] * 13)
    reads = _Reads(services.db.engine)
    assert "这张表都填好了" in clerk.say("2")
    [(sql, _params)] = reads.seen
    assert " IN " not in sql


def test_a_sentence_reads_the_table_once_for_every_items_check(services):
    reads = _Reads(services.db.engine)
    answer = Chat(services, "wangfang").say("党委会6次，领导上党课3次，其中主要领导上党课2次")
    assert "其中主要领导上党课" in answer and "确认" in answer
    assert len(reads.seen) == 1


def test_a_write_to_an_entry_the_turn_did_not_read_is_checked_against_the_stored_version(services):
    def save(session, value, seen):
        return entries.set_entry(
            session=session,
            kind="activity",
            campaign_id=CAMPAIGN,
            unit_code="U01",
            key="dangxiaozuhui",
            value=value,
            note=None,
            actor="wangfang",
            seen_version=seen,
        )

    with services.db.write() as session:
        save(session, 5, None)
    with services.db.write() as session:
        entries.read_keys(session=session, kind="activity", campaign_id=CAMPAIGN, unit_code="U01", keys=["dangweihui"])
        written = save(session, 7, 1)
    assert (written.count, written.version) == (7, 2)


def test_an_answer_reads_its_parent_and_its_children_wherever_they_stand(services, tmp_path):
    text = DEFAULT_CAMPAIGN.read_text(encoding="utf-8")
    changed = tmp_path / "campaign.toml"  # 其中主要领导上党课 (item 7) now 其中 of 党委会 (item 1)
    changed.write_text(text.replace('at_most = "lingdao_shang_dangke"', 'at_most = "dangweihui"'), encoding="utf-8")
    load_campaign_file(services.db, changed)
    clerk = Chat(services, "wangfang")
    clerk.script("填报", *["3"] * 6)  # 党委会 … 领导上党课, and now at 其中主要领导上党课
    reads = _Reads(services.db.engine)
    assert "已记录：其中主要领导上党课 2 次" in clerk.say("2")
    assert len(reads.seen) == 1
    assert "【1/14】党委会" in clerk.script(*["上一步"] * 7)
    reads.seen.clear()
    assert "不能少于其中主要领导上党课（已填 2 次）" in clerk.say("1")
    assert len(reads.seen) == 1


def test_confirming_an_implausible_count_in_a_form_reads_the_entries_once(services):
    clerk = Chat(services, "wangfang")
    assert "确认无误吗" in clerk.script("填报", "120")
    reads = _Reads(services.db.engine)
    assert "【2/14】" in clerk.say("确认")
    assert len(reads.seen) == 1


def test_a_sentence_naming_only_an_of_which_item_reads_the_table_once(services):
    reads = _Reads(services.db.engine)
    answer = Chat(services, "wangfang").say("其中主要领导上党课2次")
    assert "其中主要领导上党课" in answer and "确认" in answer
    assert len(reads.seen) == 1


@pytest.mark.parametrize("opening", [False, True])
def test_a_form_step_checks_the_lock_and_reads_its_entries_in_one_go(any_services, monkeypatch, opening):
    """One statement (UNION ALL), on PostgreSQL read ahead with the turn's claim when the person was left in
    the form (the dispatcher's _ahead)."""
    together, run_all, run = [], entries.run_all, entries.run

    def spy(session, work):
        together.append([str(stmt) for stmt, _params in work])
        return run_all(session, work)

    def spy_one(session, stmt, params=None):
        together.append([str(stmt)])
        return run(session, stmt, params)

    monkeypatch.setattr(entries, "run_all", spy)
    monkeypatch.setattr(entries, "run", spy_one)
    clerk = Chat(any_services, "wangfang")
    if not opening:
        clerk.say("填报")
    together.clear()
    assert ("开始填写统计表" if opening else "已记录：党委会 6 次") in clerk.say("填报" if opening else "6")
    [group] = [g for g in together if any("FROM submission" in s for s in g)]
    [fused] = group
    assert "FROM activity_entry" in fused and "UNION ALL" in fused


def test_on_postgresql_a_step_reads_the_whole_table_and_on_sqlite_only_its_keys(any_services):
    clerk = Chat(any_services, "wangfang")
    clerk.say("填报")
    reads = _Reads(any_services.db.engine)
    assert "已记录：党委会 6 次" in clerk.say("6")
    [(sql, _params)] = reads.seen
    keyed = any_services.db.engine.dialect.name == "sqlite"
    assert (" IN " in sql) == keyed


def test_a_text_rendered_once_for_its_values_is_what_render_gives_and_only_for_those_values():
    from handlers.tables import Question

    q = Question(kind="activity", key="k", name="党委会", target=6.0)
    values = dict(q=q, value=6.0, entry_note="线上", index=1, total=14, note=None)
    render_same.cache_clear()
    first = render_same("form_question.txt", **values)
    assert first == render("form_question.txt", **values) and "已填：6 次（备注：线上）" in first
    assert render_same("form_question.txt", **values) is first  # the second time from the cache
    assert render_same.cache_info().hits == 1
    renamed = render_same("form_question.txt", **{**values, "q": Question("activity", "k", "党员大会", 6.0)})
    assert "党员大会" in renamed and "党委会" not in renamed  # a campaign reloaded with another name
    assert "备注" not in render_same("form_question.txt", **{**values, "entry_note": None})
    with pytest.raises(TypeError):  # a value that may change is refused, not cached by identity
        render_same("form_done.txt", note=None, kind="activity", missing=[q])
