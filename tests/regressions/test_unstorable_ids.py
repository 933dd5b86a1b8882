import logging

import pytest
from sqlmodel import func, select

from storage.models import DialogState, ProcessedMessage
from tests.wecom_bot_side import bot_opened, bot_signed, bot_text
from tests.wecom_client_side import envelope, open_reply, text_xml

SURROGATE, NUL = "\ud800", "\x00"


def app_event(userid="wangfang", event="click", key="帮助", extra=""):
    return (
        f"<xml><ToUserName>ww</ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
        f"<CreateTime>1386900000</CreateTime><MsgType>event</MsgType><Event>{event}</Event>"
        f"<EventKey><![CDATA[{key}]]></EventKey>{extra}<AgentID>1</AgentID></xml>"
    )


def card(task="t1", code="rc", question="q1"):
    return app_event(
        event="template_card_event",
        key="vote",
        extra=f"<TaskId>{task}</TaskId><ResponseCode>{code}</ResponseCode><SelectedItems><SelectedItem>"
        f"<QuestionKey>{question}</QuestionKey><OptionIds><OptionId>1</OptionId></OptionIds></SelectedItem>"
        "</SelectedItems>",
    )


def stored(services) -> int:
    with services.db.read() as session:
        return session.exec(select(func.count()).select_from(ProcessedMessage)).one()


APP_JUNK = {
    "FromUserName over 64 bytes": text_xml("w" * 65, "帮助"),
    "MsgId over 128 bytes": text_xml("wangfang", "帮助").replace("<MsgId>", "<MsgId>" + "9" * 129),
    "MsgId an element": text_xml("wangfang", "帮助").replace("<MsgId>", "<MsgId><a>1</a>"),
    "MsgId missing": text_xml("wangfang", "帮助").replace("<MsgId>", "<Other>").replace("</MsgId>", "</Other>"),
    "FromUserName an element": text_xml("<a>x</a>", "帮助").replace("<![CDATA[<a>x</a>]]>", "<a>x</a>"),
    "EventKey over 1024 bytes": app_event(key="键" * 342),
    "TaskId over 128 bytes": card(task="t" * 129),
    "ResponseCode over 1024 bytes": card(code="r" * 1025),
    "QuestionKey over 1024 bytes": card(question="q" * 1025),
}


@pytest.mark.parametrize("inner", APP_JUNK.values(), ids=APP_JUNK.keys())
def test_app_callback_with_an_unstorable_field_is_refused_with_400_and_a_log_line(edge, both_services, caplog, inner):
    params, body = envelope(inner)
    with caplog.at_level(logging.WARNING, logger="bot.channels.wecom_app"):
        answer = edge.post("/wecom/callback", params=params, content=body)
    assert answer.status_code == 400
    assert "wecom refused 400" in caplog.text
    assert stored(both_services) == 0


def _with(field: str, value) -> dict:
    message = bot_text("wangfang", "帮助")
    if field == "from.userid":
        message["from"]["userid"] = value
    else:
        message[field] = value
    return message


BOT_JUNK = {
    f"{field} {label}": _with(field, value)
    for field in ("from.userid", "msgid", "chatid")
    for label, value in (
        ("lone surrogate", f"a{SURROGATE}b"),
        ("NUL", f"a{NUL}b"),
        ("control character", "a\x1bb"),
        ("oversized", "x" * 129),
        ("an object", {"id": 1}),
    )
} | {"from a list": {**bot_text("wangfang", "帮助"), "from": ["wangfang"]}}


@pytest.mark.parametrize("message", BOT_JUNK.values(), ids=BOT_JUNK.keys())
def test_bot_callback_with_an_unstorable_id_is_refused_with_400_and_a_log_line(edge, both_services, caplog, message):
    params, body = bot_signed(message)
    with caplog.at_level(logging.WARNING, logger="bot.channels.wecom_app"):
        answer = edge.post("/wecom/bot/callback", params=params, content=body)
    assert answer.status_code == 400
    assert "wecom refused 400" in caplog.text
    assert stored(both_services) == 0


def test_unstorable_characters_in_bot_text_are_dropped_and_answered(edge, both_services):
    params, body = bot_signed(bot_text("wangfang", f"帮{SURROGATE}助{NUL}"))
    answer = edge.post("/wecom/bot/callback", params=params, content=body)
    assert answer.status_code == 200
    assert "填报" in bot_opened(answer.text)["stream"]["content"]


def test_card_event_with_long_key_fields_gets_a_key_that_fits(edge, both_services):
    params, body = envelope(card(task="t" * 128, code="r" * 1000, question="q" * 1000))
    answer = edge.post("/wecom/callback", params=params, content=body)
    assert answer.status_code == 200
    with both_services.db.read() as session:
        keys = [row.key for row in session.exec(select(ProcessedMessage))]
    assert len(keys) == 1 and len(keys[0]) <= 200 and keys[0].startswith("app:event:wangfang:")


def test_app_text_with_a_long_but_valid_userid_is_answered(edge, both_services):
    params, body = envelope(text_xml("w" * 64, "帮助"))
    answer = edge.post("/wecom/callback", params=params, content=body)
    assert answer.status_code == 200
    assert "不在本次考核的名单中" in open_reply(answer.text)
    with both_services.db.read() as session:
        assert session.get(DialogState, "w" * 64) is None
