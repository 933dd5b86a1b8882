"""WeCom's side of a callback, for tests: encrypt and sign a message the way WeCom does."""

from __future__ import annotations

import itertools
import time

from bot.channels.wecom_api import CallbackCrypto
from tests.transcript import Chat
from tests.wecom_keys import AES_KEY, CORP_ID, TOKEN  # also imported from here by the tests

_ids = itertools.count(7000000000000000001)


def app_settings(database_url: str, api_base: str, **extra):
    """The service's settings for the app channel with the test keys, sending to a (fake) WeCom at `api_base`."""
    from bot.settings import load_settings

    return load_settings(
        database_url=database_url,
        corp_id=CORP_ID,
        token=TOKEN,
        aes_key=AES_KEY,
        secret="s3cret",
        agent_id=1000002,
        api_base=api_base,
        _env_file=None,
        **extra,
    )


def text_xml(userid: str, content: str, msg_id: int | None = None, corp_id: str = CORP_ID) -> str:
    msg_id = msg_id or next(_ids)
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
    )


def envelope(
    inner_xml: str, receive_id: str = CORP_ID, nonce: str = "1372623149", timestamp: str | None = None
) -> tuple[dict, bytes]:
    """The query string and body WeCom would POST for this message."""
    crypto = CallbackCrypto(TOKEN, AES_KEY, receive_id, max_age_s=0)
    timestamp = timestamp or str(int(time.time()))
    encrypt = crypto._encrypt_with_random(inner_xml.encode(), b"0123456789abcdef")
    signature = crypto._sign(timestamp, nonce, encrypt)
    body = (
        f"<xml><ToUserName><![CDATA[{receive_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
        f"<AgentID><![CDATA[1000002]]></AgentID></xml>"
    )
    return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}, body.encode()


def open_reply(body: str) -> str:
    """The plaintext passive reply inside an encrypted answer, its signature checked."""
    import xmltodict

    outer = xmltodict.parse(body)["xml"]
    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID, max_age_s=0)
    crypto._check_signature(outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
    return xmltodict.parse(crypto._decrypt_text(outer["Encrypt"]))["xml"]["Content"]


class CallbackChat(Chat):
    """A person typing in the WeCom app: each line a real encrypted callback, each answer decrypted."""

    def __init__(self, client, services, userid: str):
        super().__init__(services, userid, channel="app")
        self.client = client

    def say(self, text: str) -> str:
        params, body = envelope(text_xml(self.userid, text))
        answer = self.client.post("/wecom/callback", params=params, content=body)
        assert answer.status_code == 200, answer.status_code
        reply = open_reply(answer.text) if answer.text else ""
        self.log += [("me", text), ("bot", reply)]
        return reply
