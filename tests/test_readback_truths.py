import re

import pytest
from sqlmodel import select

from storage.models import ActivityEntry
from tests.test_clerk_sentences import saved
from tests.test_clerk_submit import fill_everything


def test_cancel_during_a_read_back_says_it_was_not_saved(chat, services):
    c = chat("wangfang")
    c.say("党委会6次，政治学习24次")
    answer = c.say("取消")
    assert "刚才核对的 2 项没有保存（党委会、政治学习）" in answer
    assert "已填的内容都已保存" not in answer
    assert saved(services) == ({}, {})


def test_cancel_inside_a_form_says_each_answer_was_saved_already(chat, services):
    c = chat("wangfang")
    c.script("填报", "6")
    assert "已填的内容都已保存" in c.say("取消")
    assert saved(services)[0] == {"dangweihui": 6}


def test_cancel_during_the_submission_read_back_says_nothing_was_submitted(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.say("提交")
    assert "没有提交" in c.say("取消")


def test_help_during_a_read_back_helps_and_keeps_it_waiting(chat, services):
    c = chat("wangfang")
    c.say("党委会6次")
    answer = c.say("帮助")
    assert "填报 —— 逐项填写统计表" in answer and "还没有保存：回复「确认」保存" in answer
    assert "已保存" in c.say("确认")
    assert saved(services)[0] == {"dangweihui": 6}


def test_a_keyword_that_leaves_a_read_back_says_what_was_dropped(chat, services):
    c = chat("wangfang")
    c.say("党委会6次")
    answer = c.say("填报")
    assert answer.startswith("刚才核对的 1 项没有保存（党委会）") and "【1/14】党委会" in answer
    assert saved(services) == ({}, {})


def test_a_keyword_that_keeps_a_read_back_says_it_still_waits(chat, services):
    c = chat("wangfang")
    c.say("党委会6次")
    answer = c.say("进度")
    assert "表一 统计表" in answer and "刚才核对的内容还没有保存" in answer
    c.say("确认")
    assert saved(services)[0] == {"dangweihui": 6}


def test_a_keyword_during_the_submission_read_back_says_it_was_not_submitted(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.say("提交")
    assert c.say("自评").startswith("刚才的提交没有进行")


def _modify_phrase(text: str) -> str:
    return re.search(r"回复「修改」([^。，,]+)", text).group(1)


def test_modify_is_described_the_same_way_in_the_read_back_and_its_reminder(chat):
    c = chat("wangfang")
    readback = c.say("党委会6次")
    again = c.say("嗯")
    assert _modify_phrase(readback) == _modify_phrase(again) == "放弃（不保存）"
    dropped = c.say("修改")
    assert "已放弃" in dropped and "没有保存" in dropped


def test_progress_inside_a_form_offers_to_go_on_once(chat):
    c = chat("wangfang")
    c.say("填报")
    answer = c.say("进度")
    assert answer.count("回复数字可继续刚才的填写") == 1


def test_an_unchanged_value_is_read_back_as_unchanged(chat):
    c = chat("wangfang")
    c.script("党委会6次", "确认")
    answer = c.say("党委会6次，政治学习24次")
    assert "党委会：6 次，与已填的相同，不变" in answer and "原为 6" not in answer
    assert "确认」保存以上要改的 1 项" in answer


def test_a_read_back_of_only_unchanged_values_asks_for_nothing(chat, services):
    c = chat("wangfang")
    c.script("党委会6次", "确认")
    answer = c.say("党委会6次")
    assert "不需要保存" in answer and "回复「确认」" not in answer
    assert "已保存" not in c.say("确认")


def test_same_value_with_a_new_note_is_a_change_of_note(chat, services):
    c = chat("wangfang")
    c.script("党委会6次", "确认")
    assert "次数不变" in c.say("党委会6次 其中两次线上")
    c.say("确认")
    with services.db.read() as session:
        assert session.exec(select(ActivityEntry)).one().note == "其中两次线上"


@pytest.mark.parametrize("answer", ["确认", "是"])
def test_help_after_submission_offers_only_what_can_be_done(chat, answer):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", answer)
    help_text = c.say("帮助")
    assert "已锁定" in help_text and "何志远" in help_text and "进度" in help_text
    assert "填报 ——" not in help_text and "提交 ——" not in help_text and "自评 ——" not in help_text
