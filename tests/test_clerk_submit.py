from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from storage.models import AuditEntry

ALL_ACTIVITIES = (
    "党委会6次，党小组会12，党员大会1，民主生活会2，政治学习24，领导上党课4，主要领导上党课2，"
    "行政领导通报工作1，党建工作汇报2，主要领导参加组织活动6，专职副书记列席4，自查总结情况2，"
    "听取群团工作汇报2，文体活动1"
)
ALL_SCORES = "领导重视情况115，思想建设145，组织建设170，作风建设140.5，党内民主100，党风廉政建设95，创先争优190"


def fill_everything(c):
    c.script(ALL_ACTIVITIES, "确认", ALL_SCORES, "确认")


def test_progress_shows_targets_shortfalls_total_missing_and_days_left(chat):
    c = chat("wangfang")
    c.script("党委会6次，政治学习20次", "确认", "组织建设 170", "确认")
    answer = c.say("进度")
    assert "党委会 6/6" in answer and "政治学习 20/24，差 4" in answer
    assert "170/1000 分" in answer and "未填：党小组会" in answer
    assert "12月22日" in answer and "还剩 11 天" in answer


def test_progress_fits_a_phone_screen(chat):
    c = chat("wangfang")
    fill_everything(c)
    assert len(c.say("进度").encode()) < 2048


def test_submit_is_refused_while_items_are_missing(chat):
    answer = chat("wangfang").say("提交")
    assert "还不能提交" in answer and "党委会" in answer and "没有开展的活动请填 0" in answer


def test_submit_reads_back_then_copies_the_tables_to_committee_and_liaison(chat, services, transport):
    c = chat("wangfang")
    fill_everything(c)
    readback = c.say("提交")
    assert "文体活动 1/2（差1）" in readback and "955.5/1000" in readback
    answer = c.say("确认")
    assert "已提交" in answer and "胡林" in answer
    c.deliver()
    for userid in ("hulin", "hezhiyuan"):
        assert any("【自查已提交】市财政局机关党委" in text for text in transport.to(userid))
    assert any("王芳已提交" in text for text in transport.to("majun"))
    assert transport.to("guoping") == []


def test_after_submission_entries_are_locked_with_who_can_reopen(chat, services):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    for attempt in ("党委会7次", "填报", "自评"):
        answer = c.say(attempt)
        assert "已锁定" in answer and "何志远" in answer


def test_colleague_is_locked_out_too(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    assert "已锁定" in chat("majun").say("填报")


def test_administrator_reopens_a_unit_and_the_clerk_can_change_again(chat, transport):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    answer = chat("hezhiyuan").say("重新开放 U01")
    assert "已重新开放 市财政局机关党委" in answer
    c.deliver()
    assert any("重新开放" in t for t in transport.to("wangfang"))
    assert "请核对" in c.say("党委会7次")


def test_reopen_of_an_unknown_unit_says_so(chat):
    assert "没找到单位" in chat("hezhiyuan").say("重新开放 U99")


def test_clerk_cannot_reopen(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    assert "没听懂" in c.say("重新开放 U01")
    assert "已锁定" in c.say("填报")


def test_entries_lock_when_the_self_check_phase_is_over(chat, clock):
    clock.at = datetime(2013, 12, 23, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    answer = chat("wangfang").say("填报")
    assert "自查阶段已于 12月22日 结束" in answer and "重新开放" in answer


def test_last_minute_of_self_check_is_still_open(chat, clock):
    clock.at = datetime(2013, 12, 22, 23, 59, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert "【1/14】" in chat("wangfang").say("填报")


def test_change_by_a_colleague_during_the_read_back_stops_the_submission(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.say("提交")
    chat("majun").script("党委会5次", "确认")
    assert "没有提交" in c.say("确认")


def test_submission_is_audited(chat, services):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    with services.db.read() as session:
        rows = list(session.exec(select(AuditEntry).where(AuditEntry.entity == "submission")))
    assert [(r.actor, r.old, r.new) for r in rows] == [("wangfang", "False", "True")]


def test_reopening_a_unit_that_is_not_locked_changes_nothing(chat, transport):
    assert "无需重新开放" in chat("hezhiyuan").say("重新开放 U01")
    assert transport.sent == []


def test_administrator_reopens_a_unit_after_the_deadline(chat, clock):
    clock.at = datetime(2013, 12, 24, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert "已重新开放" in chat("hezhiyuan").say("开放 市财政局")
    assert "【1/14】" in chat("wangfang").say("填报")
