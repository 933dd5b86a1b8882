import pytest
from sqlmodel import select

from storage.models import ActivityEntry, ScoreEntry


def saved(services):
    with services.db.read() as session:
        acts = {e.key: e.count for e in session.exec(select(ActivityEntry))}
        pts = {e.key: e.points for e in session.exec(select(ScoreEntry))}
    return acts, pts


def test_sentence_is_read_back_and_saved_only_on_confirmation(chat, services):
    c = chat("wangfang")
    answer = c.say("党委会6次，政治学习二十四次，党小组会１２")
    assert "党委会：6 次" in answer and "政治学习：24 次" in answer and "党小组会：12 次" in answer
    assert saved(services) == ({}, {})
    assert "已保存" in c.say("确认")
    assert saved(services)[0] == {"dangweihui": 6, "zhengzhi_xuexi": 24, "dangxiaozuhui": 12}


@pytest.mark.parametrize("yes", ["确认", "是", "对", "好"])
def test_every_yes_word_confirms(chat, services, yes):
    c = chat("wangfang")
    c.say("组织建设 170 分")
    c.say(yes)
    assert saved(services)[1] == {"organisation": 170}


def test_modify_drops_the_read_back(chat, services):
    c = chat("wangfang")
    c.say("党委会6次")
    assert "没有保存" in c.say("修改")
    assert saved(services) == ({}, {})


def test_short_forms_match_their_items(chat):
    answer = chat("wangfang").say("学习 20，党课 3")
    assert "政治学习：20 次" in answer and "领导上党课：3 次" in answer


def test_unrecognised_and_ambiguous_parts_are_named(chat):
    answer = chat("wangfang").say("党委会6次，天气不错，领导 3")
    assert "党委会：6 次" in answer and "天气不错" in answer and "不确定是哪一项" in answer


def test_item_that_does_not_apply_to_the_unit_is_refused_with_the_reason(chat, services):
    c = chat("liujing")  # a 支部
    answer = c.say("党委会6次，支委会8次")
    assert "只适用于党委单位" in answer and "支委会：8 次" in answer
    c.say("确认")
    assert saved(services)[0] == {"zhiweihui": 8}


def test_score_above_maximum_is_refused_in_a_sentence(chat):
    answer = chat("wangfang").say("领导重视情况 130分")
    assert "满分 120 分" in answer and "以上都没有保存" in answer


def test_of_which_above_its_parent_in_one_sentence_is_refused(chat):
    answer = chat("wangfang").say("领导上党课 2，主要领导上党课 3")
    assert "不能多于领导上党课" in answer


def test_read_back_shows_the_value_it_replaces(chat):
    c = chat("wangfang")
    c.script("党委会6次", "确认")
    assert "原为 6" in c.say("党委会7次")


def test_unknown_words_get_help(chat):
    answer = chat("wangfang").say("你好呀")
    assert "没听懂" in answer and "填报" in answer


def test_a_read_back_left_for_more_than_half_an_hour_is_not_confirmed(chat, services, clock):
    c = chat("wangfang")
    c.say("党委会6次")
    clock.advance(minutes=31)
    assert "超过 30 分钟" in c.say("是")
    assert saved(services) == ({}, {})


def test_a_read_back_confirmed_in_time_is_saved(chat, services, clock):
    c = chat("wangfang")
    c.say("党委会6次")
    clock.advance(minutes=29)
    c.say("是")
    assert saved(services)[0] == {"dangweihui": 6}


PHONE_LETTER = (
    "领导您好！我是财政局的王芳。今年我们党委会开了八次，其中有两次是线上开的，政治学习二十四次。"
    "党小组会大概12次吧，不太确定。天气冷了，天气冷了，天气冷了。谢谢！"
)


def test_a_letter_typed_on_a_phone_is_read_back_item_by_item(chat, services):
    c = chat("wangfang")
    answer = c.say(PHONE_LETTER)
    assert "党委会：8 次（备注：其中有两次是线上开的）" in answer
    assert "政治学习：24 次\n" in answer and "党小组会：12 次（备注：不太确定）" in answer
    assert answer.count("天气冷了") == 1 and "「我是财政局的王芳」" in answer and "您好" not in answer
    assert saved(services) == ({}, {})
    c.say("确认")
    assert saved(services)[0] == {"dangweihui": 8, "zhengzhi_xuexi": 24, "dangxiaozuhui": 12}
