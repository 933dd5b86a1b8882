import pytest

from handlers import scoring
from storage import campaigns
from tests.conftest import IN_SELF_CHECK
from tests.test_clerk_submit import ALL_SCORES


def routine(services, code: str, score: str) -> None:
    with services.db.write() as session:
        c = campaigns.active_campaign(session=session)
        scoring.import_routine_scores(session=session, campaign=c, rows=[(2, {"code": code, "name": score})],
                                      actor="t", source="平时.csv", now=IN_SELF_CHECK)  # fmt: skip


def test_clerk_declares_a_bonus_with_a_reason_and_the_administrator_hears_of_it(chat, services, transport):
    answer = chat("wangfang").say("加分 市级表彰 5 2013年被评为市级文明单位")
    assert "已申报加分（第 1 号）：市级表彰 5 分" in answer and "依据：2013年被评为市级文明单位" in answer
    chat("wangfang").deliver()
    assert "回复「批准 1」或「不批准 1 理由」" in transport.to("hezhiyuan")[0]


def test_a_bonus_without_a_reason_asks_for_one_before_saving(chat):
    c = chat("wangfang")
    assert "请说明依据" in c.say("加分 市级表彰5分")
    assert "已申报加分（第 1 号）：市级表彰 5 分" in c.say("市文明委2013年12号文件")
    assert "待审核的加分申报 1 项" in chat("hezhiyuan").say("加分审核")


def test_cancel_while_asked_for_a_reason_declares_nothing(chat):
    c = chat("wangfang")
    c.script("加分 市级表彰 5", "取消")
    assert "没有待审核的加分申报" in chat("hezhiyuan").say("加分审核")


@pytest.mark.parametrize(
    ("text", "reason"),
    [("加分 市级表彰 abc", "分值「abc」不是数字"), ("加分 表彰", "请写明加分事由和分值"), ("加分 奖 0 理由", "大于 0")],
)
def test_junk_bonus_declarations_are_explained(chat, text, reason):
    answer = chat("wangfang").say(text)
    assert reason in answer and "请这样说：加分 市级表彰 5" in answer


def test_administrator_approves_and_the_clerks_are_told(chat, transport):
    chat("wangfang").say("加分 市级表彰 5 文件")
    answer = chat("hezhiyuan").say("批准 1")
    assert "第 1 号加分申报（市财政局机关党委：市级表彰 5 分）已批准，理由：同意" in answer
    chat("hezhiyuan").deliver()
    assert any("已获批准" in m for m in transport.to("majun"))


def test_refusal_needs_a_reason(chat, transport):
    chat("wangfang").say("加分 市级表彰 5 文件")
    assert "不批准需要写明理由" in chat("hezhiyuan").say("不批准 1")
    assert "不批准，理由：无表彰文件" in chat("hezhiyuan").say("不批准 1 无表彰文件")
    chat("hezhiyuan").deliver()
    assert any("未获批准" in m and "无表彰文件" in m for m in transport.to("wangfang"))


@pytest.mark.parametrize(("text", "reason"), [("批准 abc", "请写明申报编号"), ("批准 99999999999", "请写明申报编号"),
                                              ("批准 7", "没有第 7 号加分申报")])  # fmt: skip
def test_junk_decisions_are_explained(chat, text, reason):
    assert reason in chat("hezhiyuan").say(text)


def test_review_shows_the_new_figure_beside_the_old_with_who_and_why(chat, services):
    chat("wangfang").script(ALL_SCORES, "确认")
    routine(services, "U01", "90")
    answer = chat("hezhiyuan").say("复核 U01 组织建设 150 会议记录不全")
    assert "已记录复核分：市财政局机关党委 三、组织建设 150 分（理由：会议记录不全）" in answer
    assert "· 三、组织建设：自查 170 → 复核 150（何志远 12-12 10:00：会议记录不全）" in answer
    assert "年终考核：93.55（表二自查 955.5，复核后 935.5，满分 1000）" in answer and "总分：92.49" in answer


@pytest.mark.parametrize(
    ("text", "reason"),
    [("复核 U01 组织建设", "请写明单位、类别和复核分"), ("复核 U01 宣传 10 x", "表二没有「宣传」这一类"),
     ("复核 U01 组织建设 200 x", "不大于 180"), ("复核 U01 组织建设 十 ", "需要写明理由"),
     ("复核 U99 组织建设 10 x", "没有编码为「U99」"), ("复核 U01 组织建设 abc x", "不是数字")],
)  # fmt: skip
def test_junk_reviews_are_explained(chat, text, reason):
    assert reason in chat("hezhiyuan").say(text)


def test_grade_override_shows_beside_the_proposed_grade(chat, services):
    chat("wangfang").script(ALL_SCORES, "确认")
    routine(services, "U01", "90")
    answer = chat("hezhiyuan").say("评定 U01 较好 年内发生违纪问题")
    assert "等次：建议 好，评定 较好（何志远 12-12 10:00：年内发生违纪问题）" in answer


def test_grade_override_to_an_unknown_grade_is_refused(chat):
    assert "等次「优秀」不在本次考核的等次中（好、较好、一般、差）" in chat("hezhiyuan").say("评定 U01 优秀 x")


def test_result_says_what_is_missing(chat):
    answer = chat("hezhiyuan").say("成绩 U02")
    assert "尚缺：表二未填完、无平时成绩" in answer and "× 70%" in answer


def test_clerks_cannot_review_or_grade(chat):
    assert "没听懂" in chat("wangfang").say("评定 U01 好 自己说了算")
