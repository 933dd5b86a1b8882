from datetime import timedelta

from sqlmodel import func, select

from schedules.runner import ReminderScheduler
from storage import campaigns, entries
from storage.models import ActivityEntry, ProcessedMessage, Submission
from tests.test_clerk_submit import fill_everything
from tests.transcript import Chat
from tests.wecom_client_side import envelope, open_reply

AFTER_SELF_CHECK = timedelta(days=11)  # 12-12 10:00 + 11 days: past the self-check's end (12-22)


def click(userid: str, key: str, at: int = 1386900000) -> str:
    return (
        f"<xml><ToUserName>ww</ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
        f"<CreateTime>{at}</CreateTime><MsgType>event</MsgType><Event>click</Event>"
        f"<EventKey><![CDATA[{key}]]></EventKey><AgentID>1</AgentID></xml>"
    )


def card_event(userid: str, at: int = 1386900000) -> str:
    return (
        f"<xml><ToUserName>ww</ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
        f"<CreateTime>{at}</CreateTime><MsgType>event</MsgType><Event>template_card_event</Event>"
        "<EventKey>vote</EventKey><TaskId>task-7</TaskId><CardType>vote_interaction</CardType>"
        "<ResponseCode>rc-1</ResponseCode><SelectedItems><SelectedItem><QuestionKey>q</QuestionKey>"
        "<OptionIds><OptionId>U01</OptionId></OptionIds></SelectedItem></SelectedItems><AgentID>1</AgentID></xml>"
    )


def processed(services) -> list[str]:
    with services.db.read() as session:
        return sorted(r.key for r in session.exec(select(ProcessedMessage)))


def deliver(client, inner: str):
    params, body = envelope(inner)
    answer = client.post("/wecom/callback", params=params, content=body)
    assert answer.status_code == 200
    return open_reply(answer.text) if answer.text else ""


# --- a retried menu click or card event is one message: its key is stable across deliveries ---


def test_a_redelivered_menu_click_is_handled_once_with_the_same_answer(edge, both_services):
    first = deliver(edge, click("wangfang", "填报"))
    again = deliver(edge, click("wangfang", "填报"))
    assert first == again and "党委会" in first
    assert len(processed(both_services)) == 1
    deliver(edge, click("wangfang", "填报", at=1386900001))  # a second click, a second later, is a new message
    assert len(processed(both_services)) == 2


def test_a_redelivered_card_event_is_handled_once(edge, both_services):
    deliver(edge, card_event("wangfang"))
    deliver(edge, card_event("wangfang"))
    assert len(processed(both_services)) == 1
    deliver(edge, card_event("liqiang"))
    assert len(processed(both_services)) == 2


# --- the lock is checked again at a read-back's confirmation and inside an open form ---


def _colleague_submits(services, unit_code="U01"):
    with services.db.write() as session:
        entries.set_submitted(
            session=session,
            campaign_id="luoyang-2013",
            unit_code=unit_code,
            actor="majun",
            submitted=True,
            now=services.clock.now(),
        )


def _count(services, unit_code="U01") -> int | None:
    with services.db.read() as session:
        row = session.exec(
            select(ActivityEntry).where(ActivityEntry.unit_code == unit_code, ActivityEntry.key == "dangweihui")
        ).first()
    return row.count if row else None


def test_a_colleagues_submission_during_a_read_back_locks_the_confirmation(services):
    c = Chat(services, "wangfang")
    assert "确认" in c.say("党委会6次")
    _colleague_submits(services)
    assert "已锁定" in c.say("确认")
    assert _count(services) is None


def _self_check_end(services):
    with services.db.read() as session:
        return campaigns.active_campaign(session=session).phase_bounds("self_check")[1]


def test_the_deadline_passing_during_a_read_back_locks_the_confirmation(services, clock):
    end = _self_check_end(services)
    clock.at = end - timedelta(minutes=5)
    c = Chat(services, "wangfang")
    assert "确认" in c.say("党委会6次")
    clock.at = end + timedelta(minutes=5)  # the read-back has not expired: the lock is what refuses it
    assert "已锁定" in c.say("确认")
    assert _count(services) is None


def test_a_colleagues_submission_inside_an_open_form_stops_the_next_answer(services):
    c = Chat(services, "wangfang")
    assert "党委会" in c.say("填报")
    _colleague_submits(services)
    assert "已锁定" in c.say("6")
    assert _count(services) is None


def test_the_deadline_passing_inside_an_open_form_stops_the_next_answer(services, clock):
    c = Chat(services, "wangfang")
    c.say("填报")
    clock.at = clock.now() + AFTER_SELF_CHECK
    assert "已锁定" in c.say("6")
    assert _count(services) is None


def test_the_deadline_passing_during_the_submit_read_back_refuses_the_submission(services, clock):
    end = _self_check_end(services)
    c = Chat(services, "wangfang")
    fill_everything(c)
    clock.at = end - timedelta(minutes=5)
    c.say("提交")
    clock.at = end + timedelta(minutes=5)
    assert "已锁定" in c.say("确认")
    assert not _submitted(services)


# --- the submit read-back expires ---


def test_a_submit_read_back_left_over_half_an_hour_is_not_confirmed(services, clock):
    c = Chat(services, "wangfang")
    fill_everything(c)
    c.say("提交")
    clock.at = clock.now() + timedelta(minutes=31)
    answer = c.say("确认")
    assert "已提交" not in answer
    assert not _submitted(services)


def _submitted(services) -> bool:
    with services.db.read() as session:
        row = session.exec(select(Submission).where(Submission.unit_code == "U01")).first()
    return bool(row and row.submitted)


# --- message keys are kept a week by the scheduler's sync: a redelivery within it changes nothing ---


def test_the_schedulers_sync_keeps_recent_message_keys_and_forgets_old_ones(services, clock):
    Chat(services, "wangfang").say("帮助")
    runner = ReminderScheduler(services)
    runner.sync(clock.now() + timedelta(hours=1))
    assert _keys(services) == 1
    runner.sync(clock.now() + timedelta(days=6, hours=23))
    assert _keys(services) == 1
    runner.sync(clock.now() + timedelta(days=7, hours=1))
    assert _keys(services) == 0


def _keys(services) -> int:
    with services.db.read() as session:
        return session.exec(select(func.count()).select_from(ProcessedMessage)).one()
