from sqlmodel import func, select

from handlers.base import Inbound
from storage.models import Nudge, Outbox
from tests.conftest import IN_SELF_CHECK
from tests.test_clerk_submit import fill_everything


def test_liaison_officer_looks_at_one_units_tables(chat):
    chat("zhangmin").script("总支会8次 其中一次扩大会议，组织建设 170", "确认")
    answer = chat("hulin").say("查看 U03")
    assert answer.startswith("U03 市统计局机关总支（总支，第一联络组）")
    assert "填报员：张敏" in answer and "总支会 8/8（其中一次扩大会议）" in answer
    assert "党小组会 未填/12" in answer and "三、组织建设 170/180" in answer and "共 170/1000 分" in answer


def test_liaison_officer_finds_a_unit_by_lower_case_code_or_by_name(chat):
    assert "U04 市档案局机关支部" in chat("hulin").say("查看 档案局")
    assert "U03 市统计局机关总支" in chat("hulin").say("查看u03")


def test_liaison_officer_cannot_look_at_another_groups_unit(chat):
    answer = chat("hulin").say("查看 U05")
    assert "市民政局机关党委不在本联络组" in answer and "U01 市财政局机关党委" in answer
    assert "表一（完成/目标）" not in answer


def test_looking_at_an_unknown_unit_names_the_groups_units(chat):
    answer = chat("hulin").say("查看 火星局")
    assert "没找到单位「火星局」" in answer and "U04 市档案局机关支部" in answer


def test_an_administrator_may_look_at_any_unit(chat):
    assert "U09 市交通运输局机关党委" in chat("hezhiyuan").say("查看 U09")


def test_a_submitted_unit_shows_when_it_was_submitted_in_the_campaigns_zone(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    assert "已于 12月12日 10:00 提交" in chat("hulin").say("查看 U01")


def test_nudge_reaches_exactly_the_clerks_of_the_groups_units_that_are_behind(chat, transport):
    fill_everything(c := chat("wangfang"))
    c.script("提交", "确认")
    c.deliver()
    transport.sent.clear()
    answer = chat("hulin").say("催办")
    assert "市教育局机关党委 → 李强" in answer and "市财政局机关党委 →" not in answer
    c.deliver()
    reminded = {u for u in ("liqiang", "zhangmin", "liujing", "wangfang", "majun", "chenjie") if transport.to(u)}
    assert reminded == {"liqiang", "zhangmin", "liujing"}
    assert "【联络员催办】胡林提醒" in transport.to("liqiang")[0] and "党委会" in transport.to("liqiang")[0]


def test_a_second_nudge_on_the_same_day_sends_nothing_again(chat, services, transport):
    hulin = chat("hulin")
    hulin.say("催办")
    hulin.deliver()
    sent = len(transport.sent)
    answer = hulin.say("催办")
    hulin.deliver()
    assert "今天已催办过，不再重复发送：市财政局机关党委（胡林）" in answer and "已催办（现在发出）" not in answer
    assert len(transport.sent) == sent


def test_a_nudge_redelivered_by_wecom_is_not_sent_twice(any_services):
    inbound = Inbound(channel="app", userid="hulin", text="催办", msg_key="app:retry-1")
    first = any_services.dispatcher.dispatch(inbound)
    second = any_services.dispatcher.dispatch(inbound)
    again = any_services.dispatcher.dispatch(Inbound(channel="app", userid="hulin", text="催办", msg_key="app:2"))
    assert first == second and "今天已催办过" in again[0].text
    with any_services.db.read() as session:
        assert session.exec(select(func.count()).select_from(Nudge)).one() == 4
        assert session.exec(select(func.count()).select_from(Outbox)).one() == 4


def test_the_next_day_a_unit_can_be_nudged_again(chat, clock):
    chat("hulin").say("催办")
    clock.advance(days=1)
    assert "已催办（现在发出）" in chat("hulin").say("催办")


def test_nudge_once_every_unit_has_submitted_says_there_is_no_one_to_nudge(chat, services):
    from storage import campaigns, entries

    with services.db.write() as session:
        campaign = campaigns.active_campaign(session=session)
        for code in ("U01", "U02", "U03", "U04"):
            entries.set_submitted(session=session, campaign_id=campaign.id, unit_code=code, actor="x", submitted=True)
    assert "都已提交自查，不需要催办" in chat("hulin").say("催办")


def test_nudge_after_the_self_check_phase_is_refused(chat, clock):
    clock.advance(days=11)
    assert "已于 12月22日结束" in chat("hulin").say("催办")


def test_clerks_cannot_nudge(chat):
    assert "没听懂" in chat("wangfang").say("催办")


def test_a_units_nudge_is_claimed_once_a_day_even_by_two_at_once(any_services):
    from storage import nudges

    claim = dict(campaign_id="c", unit_code="U01", day="2013-12-12", by="hulin", recipients=["wangfang"])
    with any_services.db.write() as session:
        first = nudges.claim(session=session, now=IN_SELF_CHECK, **claim)
        second = nudges.claim(session=session, now=IN_SELF_CHECK, **{**claim, "by": "guoping"})
        other_day = nudges.claim(session=session, now=IN_SELF_CHECK, **{**claim, "day": "2013-12-13"})
    assert (first, second, other_day) == (True, False, True)
