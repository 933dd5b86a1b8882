"""WeCom's side of a group chat bot (智能机器人) callback, for tests: encrypted JSON, receive id ""."""

from __future__ import annotations

import json
import time

from bot.channels.wecom_api import CallbackCrypto

BOT_TOKEN = "botToken7"
BOT_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def bot_crypto() -> CallbackCrypto:
    return CallbackCrypto(BOT_TOKEN, BOT_KEY, "", max_age_s=0)


def bot_signed(payload: bytes | dict, timestamp: str | None = None) -> tuple[dict, bytes]:
    c = bot_crypto()
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()  # \ud800 travels as an escape
    encrypt = c._encrypt_with_random(raw, b"fedcba9876543210")
    timestamp = timestamp or str(int(time.time()))
    params = {"msg_signature": c._sign(timestamp, "77", encrypt), "timestamp": timestamp, "nonce": "77"}
    return params, json.dumps({"encrypt": encrypt}).encode()


def bot_text(userid, content, msgid="m1", chatid="CHAT1", chattype="group") -> dict:
    return {
        "msgid": msgid,
        "aibotid": "bot1",
        "chatid": chatid,
        "chattype": chattype,
        "from": {"userid": userid},
        "msgtype": "text",
        "text": {"content": content},
    }


def bot_opened(body: str) -> dict:
    outer = json.loads(body)
    c = bot_crypto()
    c._check_signature(outer["msgsignature"], outer["timestamp"], outer["nonce"], outer["encrypt"])
    return json.loads(c._decrypt_text(outer["encrypt"]))
