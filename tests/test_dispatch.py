import threading

from sqlmodel import select

from bot.services import build_services
from handlers.base import Inbound
from storage.models import ActivityEntry, AuditEntry, DialogState
from tests.transcript import Chat


def test_help_for_each_role(chat):
    assert "填报" in chat("wangfang").say("帮助")
    assert "本组进度" in chat("hulin").say("帮助")
    assert "全市进度" in chat("hezhiyuan").say("帮助")


def test_person_not_on_the_roster_gets_a_polite_answer_and_nothing_is_stored(chat, services):
    assert "不在本次考核的名单中" in chat("stranger").say("填报")
    with services.db.read() as session:
        assert session.get(DialogState, "stranger") is None


def test_cancel_outside_a_flow_is_harmless(chat):
    assert "好的" in chat("wangfang").say("取消")


def test_full_width_and_punctuated_keywords_work(chat):
    assert "【1/14】" in chat("wangfang").say(" 填报！")


def test_same_message_key_twice_returns_the_stored_answer_and_changes_nothing(services):
    first = services.dispatcher.dispatch(Inbound("sim", "wangfang", "填报", "k1"))
    second = services.dispatcher.dispatch(Inbound("sim", "wangfang", "6", "k2"))
    again = services.dispatcher.dispatch(Inbound("sim", "wangfang", "6", "k2"))
    assert again[0].text == second[0].text and first[0].text != second[0].text
    with services.db.read() as session:
        assert [e.version for e in session.exec(select(ActivityEntry))] == [1]
        assert len(list(session.exec(select(AuditEntry)))) == 1


def test_a_restart_in_the_middle_of_a_conversation_resumes_it(services, clock, transport):
    Chat(services, "wangfang").script("填报", "6", "12")
    services.close()
    restarted = build_services(services.settings, clock=clock, transport=transport)
    answer = Chat(restarted, "wangfang").say("1")
    assert "已记录：党员大会 1 次" in answer and "【4/14】" in answer
    restarted.close()


def test_four_fast_messages_from_one_person_do_not_run_one_step_four_times(any_services):
    Chat(any_services, "wangfang").say("填报")
    answers = []

    def send(i):
        answers.append(any_services.dispatcher.dispatch(Inbound("sim", "wangfang", str(i + 1), f"fast{i}"))[0].text)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with any_services.db.read() as session:
        keys = sorted(e.key for e in session.exec(select(ActivityEntry)))
    assert keys == sorted(["dangweihui", "dangxiaozuhui", "dangyuandahui", "dangxiaozu_minzhushenghuohui"])


def test_two_clerks_of_one_unit_never_overwrite_each_other_unseen(chat, services):
    wang, ma = chat("wangfang"), chat("majun")
    wang.say("填报")
    ma.say("填报")
    wang.say("6")
    answer = ma.say("5")
    assert "刚刚被王芳改为 6" in answer
    with services.db.read() as session:
        assert session.exec(select(ActivityEntry)).one().count == 6
    assert "已记录：党委会 5 次" in ma.say("确认")


def test_two_clerks_confirming_sentences_see_the_other_change(chat, services):
    wang, ma = chat("wangfang"), chat("majun")
    wang.say("党委会6次")
    ma.say("党委会5次")
    wang.say("确认")
    answer = ma.say("确认")
    assert "刚刚被王芳改为 6" in answer and "还没保存" in answer
    with services.db.read() as session:
        assert session.exec(select(ActivityEntry)).one().count == 6


def test_an_overlong_message_is_refused_kindly(chat):
    assert "太长" in chat("wangfang").say("党" * 3000)


def test_unstorable_characters_from_any_channel_are_dropped(any_services):
    answer = any_services.dispatcher.dispatch(Inbound("bot", "wangfang", "党委会\x006次\ud800", "junk1"))
    assert "党委会：6 次" in answer[0].text


def test_message_keys_are_forgotten_after_a_week(services, clock):
    from datetime import timedelta

    from storage import dialogs
    from storage.models import ProcessedMessage

    services.dispatcher.dispatch(Inbound("sim", "wangfang", "帮助", "old"))
    with services.db.write() as session:
        assert dialogs.prune_processed(session=session, before=clock.now() - timedelta(days=7)) == 0
        assert dialogs.prune_processed(session=session, before=clock.now() + timedelta(days=8)) == 1
    with services.db.read() as session:
        assert session.get(ProcessedMessage, "old") is None
