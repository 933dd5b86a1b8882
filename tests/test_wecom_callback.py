import logging

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from bot.app import create_app
from storage.models import ActivityEntry
from tests.wecom_client_side import AES_KEY, CORP_ID, TOKEN, envelope, open_reply, text_xml


@pytest.fixture
def client(app_services):
    with TestClient(create_app(app_services.settings, services=app_services, sender=False)) as c:
        yield c


def post(client, userid, content, msg_id=None):
    params, body = envelope(text_xml(userid, content, msg_id))
    return client.post("/wecom/callback", params=params, content=body)


def test_url_verification_echoes_the_decrypted_echostr(client):
    params, _ = envelope("<xml/>")
    from bot.channels.wecom_api import CallbackCrypto

    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID, max_age_s=0)
    echostr = crypto._encrypt_with_random(b"8877665544", b"abcdefghijklmnop")
    signature = crypto._sign(params["timestamp"], params["nonce"], echostr)
    answer = client.get("/wecom/callback", params={**params, "msg_signature": signature, "echostr": echostr})
    assert answer.status_code == 200
    assert answer.text == "8877665544"


def test_text_message_gets_an_encrypted_passive_reply(client):
    answer = post(client, "wangfang", "帮助")
    assert answer.status_code == 200
    assert "填报" in open_reply(answer.text)


def test_redelivered_message_gets_the_same_answer_and_changes_nothing(client, app_services):
    post(client, "wangfang", "填报", msg_id=42)
    first = post(client, "wangfang", "6", msg_id=43)
    again = post(client, "wangfang", "6", msg_id=43)
    assert open_reply(first.text) == open_reply(again.text)
    with app_services.db.read() as session:
        rows = list(session.exec(select(ActivityEntry)))
    assert [(r.key, r.count, r.version) for r in rows] == [("dangweihui", 6, 1)]


def test_person_not_on_roster_gets_a_polite_answer(client):
    assert "不在本次考核的名单中" in open_reply(post(client, "stranger", "你好").text)


@pytest.mark.parametrize(
    "tamper, status",
    [
        (lambda p, b: ({**p, "msg_signature": "0" * 40}, b), 403),
        (lambda p, b: ({k: v for k, v in p.items() if k != "nonce"}, b), 400),
        (lambda p, b: (p, b"<xml><Encrypt>"), 400),
        (lambda p, b: (p, b"not xml at all"), 400),
        (
            lambda p, b: (
                p,
                b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>',
            ),
            400,
        ),
        (lambda p, b: (p, b"<xml>" + b"a" * 70000 + b"</xml>"), 413),
        (lambda p, b: ({**p, "timestamp": "1"}, b), 403),
        (lambda p, b: ({**p, "timestamp": "soon"}, b), 400),
    ],
)
def test_bad_callbacks_are_refused_with_4xx_and_a_log_line(client, caplog, tamper, status):
    params, body = tamper(*envelope(text_xml("wangfang", "帮助")))
    with caplog.at_level(logging.WARNING, logger="bot.channels.wecom_app"):
        answer = client.post("/wecom/callback", params=params, content=body)
    assert answer.status_code == status
    assert "wecom refused" in caplog.text


def test_message_for_another_corp_is_refused(client, caplog):
    params, body = envelope(text_xml("wangfang", "帮助", corp_id="wwother"), receive_id="wwother")
    with caplog.at_level(logging.WARNING):
        answer = client.post("/wecom/callback", params=params, content=body)
    assert answer.status_code == 403


def test_undecryptable_payload_behind_a_valid_signature_is_refused(client, caplog):
    import time

    from bot.channels.wecom_api import CallbackCrypto

    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID, max_age_s=0)
    junk = "QUJDREVGR0hJSktMTU5PUA=="  # valid base64, not a whole AES block
    params = {"timestamp": str(int(time.time())), "nonce": "1"}  # fresh: refused for the payload, not the age
    params["msg_signature"] = crypto._sign(params["timestamp"], params["nonce"], junk)
    with caplog.at_level(logging.WARNING, logger="bot.channels.wecom_app"):
        answer = client.post(
            "/wecom/callback", params=params, content=f"<xml><Encrypt><![CDATA[{junk}]]></Encrypt></xml>".encode()
        )
    assert answer.status_code == 400
    assert "ciphertext length is not a multiple of 32" in caplog.text


def test_reply_too_long_for_a_passive_answer_continues_through_message_send(client, app_services, fake):
    note = "记录" * 150
    answer = post(client, "wangfang", f"党委会6次 {note}，政治学习24次 {note}，党小组会12 {note}")
    passive = open_reply(answer.text)
    assert len(passive.encode()) <= 2048
    app_services.sender.drain()
    sends = fake.calls_to("message/send")
    assert [call.body["touser"] for call in sends] == ["wangfang"]
    assert "确认" in sends[0].body["text"]["content"]
    assert len(fake.calls_to("gettoken")) == 1


def test_fit_splits_at_line_breaks_within_the_byte_limit():
    from handlers.base import Reply
    from handlers.dispatch import _fit

    text = "\n".join(f"第{i}行" + "字" * 30 for i in range(100))
    first, rest = _fit([Reply(text)], 2048)
    pieces = [first[0].text, *rest]
    assert all(len(p.encode()) <= 2048 for p in pieces)
    assert "\n".join(pieces) == text
