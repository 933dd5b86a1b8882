import json
import logging
import time

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.channels.wecom_api import CallbackCrypto
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from storage.campaign import DEFAULT_CAMPAIGN

BOT_TOKEN = "botToken7"
BOT_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@pytest.fixture
def bot(sqlite_url, clock, transport):
    settings = load_settings(database_url=sqlite_url, bot_token=BOT_TOKEN, bot_aes_key=BOT_KEY, _env_file=None)
    services = build_services(settings, clock=clock, transport=transport)
    load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    with TestClient(create_app(settings, services=services, sender=False)) as client:
        yield client
    services.close()


def crypto():
    return CallbackCrypto(BOT_TOKEN, BOT_KEY, "", max_age_s=0)


def signed(payload: bytes | dict, timestamp=None):
    c = crypto()
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    encrypt = c._encrypt_with_random(raw, b"fedcba9876543210")
    timestamp = timestamp or str(int(time.time()))
    params = {"msg_signature": c._sign(timestamp, "77", encrypt), "timestamp": timestamp, "nonce": "77"}
    return params, json.dumps({"encrypt": encrypt}).encode()


def group_text(userid, content, msgid="m1"):
    return {
        "msgid": msgid,
        "aibotid": "bot1",
        "chatid": "CHAT1",
        "chattype": "group",
        "from": {"userid": userid},
        "msgtype": "text",
        "text": {"content": content},
    }


def opened(body: str) -> dict:
    outer = json.loads(body)
    c = crypto()
    c._check_signature(outer["msgsignature"], outer["timestamp"], outer["nonce"], outer["encrypt"])
    return json.loads(c._decrypt_text(outer["encrypt"]))


def test_bot_url_verification_uses_an_empty_receive_id(bot):
    c = crypto()
    echostr = c._encrypt_with_random(b"hello-bot", b"0000000000000000")
    now = str(int(time.time()))
    params = {"msg_signature": c._sign(now, "2", echostr), "timestamp": now, "nonce": "2", "echostr": echostr}
    answer = bot.get("/wecom/bot/callback", params=params)
    assert (answer.status_code, answer.text) == (200, "hello-bot")


def test_group_message_with_a_mention_gets_a_finished_stream_answer(bot):
    params, body = signed(group_text("wangfang", "@考核助手 帮助"))
    reply = opened(bot.post("/wecom/bot/callback", params=params, content=body).text)
    assert reply["msgtype"] == "stream" and reply["stream"]["finish"] is True
    assert "填报" in reply["stream"]["content"]


def test_redelivered_bot_message_changes_nothing(bot):
    bot.post(
        "/wecom/bot/callback",
        params=signed(group_text("wangfang", "填报", "a"))[0],
        content=signed(group_text("wangfang", "填报", "a"))[1],
    )
    first = opened(
        bot.post(
            "/wecom/bot/callback",
            params=signed(group_text("wangfang", "6", "b"))[0],
            content=signed(group_text("wangfang", "6", "b"))[1],
        ).text
    )
    again = opened(
        bot.post(
            "/wecom/bot/callback",
            params=signed(group_text("wangfang", "6", "b"))[0],
            content=signed(group_text("wangfang", "6", "b"))[1],
        ).text
    )
    assert first["stream"]["content"] == again["stream"]["content"]


@pytest.mark.parametrize(
    "body, status",
    [
        (b"[1, 2]", 400),
        (b"{}", 400),
        (b"not json", 400),
        (b"{" * 5000, 400),
        (b"x" * 70000, 413),
    ],
)
def test_bad_bot_callbacks_are_refused_with_4xx_and_a_log_line(bot, caplog, body, status):
    params = {"msg_signature": "a" * 40, "timestamp": str(int(time.time())), "nonce": "1"}
    with caplog.at_level(logging.WARNING):
        answer = bot.post("/wecom/bot/callback", params=params, content=body)
    assert answer.status_code == status and "wecom refused" in caplog.text


def test_bot_callback_with_a_wrong_signature_is_refused(bot):
    params, body = signed(group_text("wangfang", "帮助"))
    assert (
        bot.post("/wecom/bot/callback", params={**params, "msg_signature": "0" * 40}, content=body).status_code == 403
    )


def test_bot_events_and_non_text_get_an_empty_answer(bot):
    params, body = signed(
        {"msgid": "e1", "from": {"userid": "wangfang"}, "msgtype": "event", "event": {"eventtype": "enter_chat"}}
    )
    answer = bot.post("/wecom/bot/callback", params=params, content=body)
    assert (answer.status_code, answer.text) == (200, "")


def test_bot_channel_is_off_without_its_settings(services):
    with TestClient(create_app(services.settings, services=services, sender=False)) as client:
        assert client.get("/wecom/bot/callback", params={"echostr": "x"}).status_code == 404
        assert client.post("/wecom/callback", content=b"<xml/>").status_code == 404
