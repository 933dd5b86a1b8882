import pytest

from tests.test_clerk_submit import fill_everything


@pytest.mark.parametrize("asked", ["截止时间是什么时候？", "什么时候截止", "几号交", "还有几天？", "截止日期"])
def test_deadline_questions_are_answered_from_the_campaign(chat, asked):
    answer = chat("wangfang").say(asked)
    assert "12月22日截止" in answer and "还剩 11 天" in answer
    assert "分组考核：12月23日至12月27日" in answer and "没听懂" not in answer


def test_deadline_question_after_the_phase_says_it_has_closed(chat, clock):
    clock.advance(days=11)
    assert "已于 12月22日截止" in chat("hulin").say("截止时间是什么时候")


@pytest.mark.parametrize("asked", ["还差什么", "还缺什么？", "还有哪些没填", "我们还差几项"])
def test_what_is_missing_is_answered_from_the_units_entries(chat, asked):
    c = chat("wangfang")
    c.script("党委会6次，政治学习20次", "确认")
    answer = c.say(asked)
    assert "表一 12 项没填：党小组会" in answer and "表二 7 类没填" in answer
    assert "政治学习 20/24" in answer and "党委会、" not in answer


def test_what_is_missing_once_everything_is_filled_is_the_submission(chat):
    c = chat("wangfang")
    fill_everything(c)
    assert "只差提交" in c.say("还差什么")


def test_a_liaison_officer_asking_what_is_missing_sees_the_group(chat):
    assert "市财政局机关党委：表一缺 14 项" in chat("hulin").say("还差什么")


@pytest.mark.parametrize("asked", ["我填错了怎么办", "写错了", "怎么修改？", "数字填错了能改吗"])
def test_how_to_correct_an_entry_before_submission(chat, asked):
    answer = chat("wangfang").say(asked)
    assert "直接发正确的内容" in answer and "「填报」" in answer


def test_how_to_correct_an_entry_after_submission_names_who_reopens(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    answer = c.say("我填错了怎么办")
    assert "已锁定" in answer and "何志远" in answer and "直接发正确的内容" not in answer


@pytest.mark.parametrize("asked", ["联络员是谁", "我们组联络员是谁？", "有问题找谁"])
def test_who_the_liaison_officer_is_comes_from_the_roster(chat, asked):
    answer = chat("wangfang").say(asked)
    assert "市财政局机关党委属于第一联络组，联络员是胡林" in answer and "何志远" in answer
    assert "郭平" not in answer


def test_an_administrator_asking_for_liaison_officers_gets_every_group(chat):
    answer = chat("hezhiyuan").say("联络员是谁")
    assert "第一联络组：胡林" in answer and "第三联络组：林峰" in answer


def test_a_question_inside_a_read_back_leaves_it_waiting(chat, services):
    c = chat("wangfang")
    c.say("党委会6次")
    answer = c.say("截止时间是什么时候？")
    assert "12月22日截止" in answer and "还没有保存" in answer
    assert "已保存" in c.say("确认")


def test_a_question_inside_a_form_is_answered_and_the_form_goes_on(chat):
    c = chat("wangfang")
    c.say("填报")
    assert "联络员是胡林" in c.say("联络员是谁")
    assert "已记录：党委会 6 次" in c.say("6")


def test_an_entry_that_mentions_a_deadline_word_is_still_an_entry(chat):
    answer = chat("wangfang").say("党委会6次，截止目前政治学习20次")
    assert "党委会：6 次" in answer and "政治学习：20 次" in answer


def test_anything_else_still_gets_the_help(chat):
    answer = chat("wangfang").say("今天天气怎么样")
    assert "没听懂" in answer and "填报 ——" in answer
