import pytest
from sqlmodel import select

from storage.models import ActivityEntry, AuditEntry


def counts(services, unit="U01"):
    with services.db.read() as session:
        return {e.key: e.count for e in session.exec(select(ActivityEntry).where(ActivityEntry.unit_code == unit))}


def test_fill_starts_at_the_first_item_with_its_target(chat):
    answer = chat("wangfang").say("填报")
    assert "共 14 项" in answer
    assert "【1/14】党委会" in answer and "年度目标：6 次" in answer


def test_only_the_columns_of_the_units_org_type_are_asked(chat):
    answer = chat("liujing").say("填报")  # U04 is a 支部
    assert "共 14 项" in answer and "【1/14】支委会" in answer and "年度目标：8 次" in answer
    assert "党委会" not in answer


def test_answer_is_saved_and_the_next_item_asked(chat, services):
    answer = chat("wangfang").script("填报", "6次")
    assert "已记录：党委会 6 次" in answer and "【2/14】党小组会" in answer
    assert counts(services) == {"dangweihui": 6}


def test_back_returns_to_the_previous_item_showing_what_was_entered(chat):
    answer = chat("wangfang").script("填报", "6", "上一步")
    assert "【1/14】党委会" in answer and "已填：6 次" in answer


def test_skip_leaves_the_item_empty(chat, services):
    answer = chat("wangfang").script("填报", "跳过")
    assert "【2/14】党小组会" in answer
    assert counts(services) == {}


def test_note_after_the_number_is_kept(chat, services):
    chat("wangfang").script("填报", "6 其中2次为联合开展")
    with services.db.read() as session:
        entry = session.exec(select(ActivityEntry)).one()
    assert (entry.count, entry.note) == (6, "其中2次为联合开展")


@pytest.mark.parametrize(
    "junk, reason",
    [
        ("abc", "数字"),
        ("-3", "负数"),
        ("400", "366"),
        ("6.5", "整数"),
        ("", "数字"),
    ],
)
def test_junk_answer_gets_a_reason_and_the_same_question(chat, services, junk, reason):
    c = chat("wangfang")
    c.script("填报", "6")
    answer = c.say(junk or " ")
    assert reason in answer and "党小组会" in answer
    assert counts(services) == {"dangweihui": 6}


def test_three_misses_in_a_row_offer_help_and_cancel(chat):
    c = chat("wangfang")
    c.say("填报")
    assert "帮助" not in c.say("x") + c.say("y")
    assert "回复「帮助」" in c.say("z") and "取消" in c.log[-1][1]


def test_of_which_may_not_exceed_its_parent(chat, services):
    c = chat("wangfang")
    c.script("填报", *["1"] * 5, "3")  # … 领导上党课 = 3
    answer = c.say("4")  # 其中主要领导上党课 = 4
    assert "不能多于领导上党课" in answer and "其中主要领导上党课" in answer
    assert counts(services)["lingdao_shang_dangke"] == 3
    assert "zhuyao_lingdao_shang_dangke" not in counts(services)


def test_parent_may_not_drop_below_what_of_which_says(chat):
    c = chat("wangfang")
    c.script("填报", *["1"] * 5, "3", "2", "上一步", "上一步")
    assert "不能少于其中主要领导上党课" in c.say("1")


def test_cancel_keeps_what_was_entered_and_fill_picks_up_at_the_first_empty_item(chat, services):
    c = chat("wangfang")
    c.script("填报", "6", "12")
    assert "已填的内容都已保存" in c.say("取消")
    assert "【3/14】党员大会" in c.say("填报")
    assert counts(services) == {"dangweihui": 6, "dangxiaozuhui": 12}


def test_last_answer_ends_the_table_and_names_what_is_missing(chat):
    c = chat("wangfang")
    answer = c.script("填报", *["2"] * 12, "跳过", "2")
    assert "统计表（表一）已问完" in answer and "还有 1 项没填：听取群团工作汇报" in answer


def test_every_change_is_in_the_audit_trail(chat, services):
    c = chat("wangfang")
    c.script("填报", "6", "上一步", "7 补记一次")
    with services.db.read() as session:
        trail = [
            (a.actor, a.key, a.field, a.old, a.new) for a in session.exec(select(AuditEntry).order_by(AuditEntry.id))
        ]
    assert trail == [
        ("wangfang", "dangweihui", "count", None, "6"),
        ("wangfang", "dangweihui", "count", "6", "7"),
        ("wangfang", "dangweihui", "note", None, "补记一次"),
    ]


def test_a_sentence_typed_mid_form_is_read_back(chat):
    c = chat("wangfang")
    answer = c.script("填报", "政治学习24次，党小组会12")
    assert "请核对" in answer and "政治学习：24 次" in answer


def test_coming_back_to_an_item_shows_its_value_and_its_note(chat):
    answer = chat("wangfang").script("填报", "6 其中两次线上", "上一步")
    assert "【1/14】党委会" in answer and "已填：6 次（备注：其中两次线上）" in answer
    # the question's text is rendered once for each set of values: another unit's note is its own
    assert "已填：6 次（备注：补开一次）" in chat("liqiang").script("填报", "6 补开一次", "上一步")
    assert "已填：6 次（备注：其中两次线上）" in chat("wangfang").script("跳过", "上一步")
