"""Hypothesis strategies for `make fuzz`: hostile WeCom callback envelopes, app XML and group-bot JSON."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field

from hypothesis import strategies as st

from bot.channels.wecom_api import CallbackCrypto
from tests.wecom_bot_side import BOT_KEY, BOT_TOKEN
from tests.wecom_client_side import AES_KEY, CORP_ID, TOKEN

APP, BOT = "/wecom/callback", "/wecom/bot/callback"
CLERKS = ("wangfang", "liqiang", "zhangmin", "liujing", "chenjie", "majun", "hulin", "hezhiyuan")
_APP = CallbackCrypto(TOKEN, AES_KEY, CORP_ID, max_age_s=0)
_BOT = CallbackCrypto(BOT_TOKEN, BOT_KEY, "", max_age_s=0)
# Characters that cannot be stored or carried: NUL, controls, lone surrogates, non-characters, and the
# sequences that break XML and CDATA.
NASTY = st.sampled_from(
    ["\x00", "\x01", "\x1b", "\ud800", "\udfff", "\ufffe", "\uffff", "]]>", "<", "&", "&#0;", "&#xD800;", "\u202e"]
)
TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=24)
NASTY_TEXT = st.tuples(TEXT, NASTY, TEXT).map("".join)
VALUE = st.one_of(
    TEXT, NASTY_TEXT, st.integers(), st.none(), st.booleans(), st.sampled_from(["x" * 129, "键" * 342, "9" * 2000])
)
JSON_VALUE = st.recursive(
    VALUE | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=3,
)


@dataclass
class Req:
    kind: str
    method: str
    path: str
    params: dict = field(default_factory=dict)
    body: bytes | None = None
    chunked: bool = False
    expect_echo: str | None = None  # a reply must decrypt and carry this text back intact


def _now() -> str:
    return str(int(time.time()))


def _signed(crypto: CallbackCrypto, encrypt: str, timestamp: str | None = None, nonce: str = "n1") -> dict:
    timestamp = timestamp or _now()
    return {"msg_signature": crypto._sign(timestamp, nonce, encrypt), "timestamp": timestamp, "nonce": nonce}


def _encrypt(crypto: CallbackCrypto, raw: bytes) -> str:
    return crypto._encrypt_with_random(raw, b"0123456789abcdef")


def app_envelope(inner: bytes, timestamp: str | None = None) -> tuple[dict, bytes]:
    encrypt = _encrypt(_APP, inner)
    return _signed(_APP, encrypt, timestamp), f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()


def bot_envelope(inner: bytes, timestamp: str | None = None) -> tuple[dict, bytes]:
    encrypt = _encrypt(_BOT, inner)
    return _signed(_BOT, encrypt, timestamp), json.dumps({"encrypt": encrypt}).encode()


def _xml_field(name: str, value) -> str:
    if value is None:
        return ""
    text = str(value)
    return f"<{name}><![CDATA[{text}]]></{name}>" if len(text) % 2 else f"<{name}>{text}</{name}>"


USERID = st.one_of(st.sampled_from(CLERKS), VALUE)
APP_KIND = st.one_of(st.sampled_from(["text", "event", "image"]), TEXT)
APP_FIELDS = {
    "FromUserName": USERID,
    "CreateTime": st.one_of(st.just("now"), VALUE),
    "MsgType": APP_KIND,
    "Content": st.one_of(st.just("帮助"), VALUE),
    "MsgId": st.one_of(st.integers(1, 2**63), VALUE),
    "Event": st.sampled_from(["click", "template_card_event", "enter_agent", ""]),
    "EventKey": st.one_of(st.sampled_from(["填报", "进度"]), VALUE),
    "TaskId": VALUE,
    "ResponseCode": VALUE,
}


@st.composite
def app_message(draw) -> bytes:
    """An inner app message with any field hostile: text, click or card event."""
    fields = {"ToUserName": CORP_ID, **{name: draw(strategy) for name, strategy in APP_FIELDS.items()}}
    fields["CreateTime"] = _now() if fields["CreateTime"] == "now" else fields["CreateTime"]
    xml = "<xml>" + "".join(_xml_field(k, v) for k, v in fields.items() if draw(st.booleans()) or k == "MsgType")
    if draw(st.booleans()):
        xml += "<SelectedItems><SelectedItem><QuestionKey>" + str(draw(VALUE)) + "</QuestionKey><OptionIds>"
        xml += "".join(f"<OptionId>{draw(VALUE)}</OptionId>" for _ in range(draw(st.integers(0, 3))))
        xml += "</OptionIds></SelectedItem></SelectedItems>"
    return (xml + "</xml>").encode("utf-8", "surrogatepass")


@st.composite
def bot_message(draw) -> bytes:
    message = {
        "msgid": draw(st.one_of(TEXT, JSON_VALUE)),
        "aibotid": "bot1",
        "chatid": draw(st.one_of(st.just("CHAT1"), JSON_VALUE)),
        "chattype": draw(st.sampled_from(["group", "single", "x"])),
        "from": draw(
            st.one_of(st.fixed_dictionaries({"userid": st.one_of(st.sampled_from(CLERKS), JSON_VALUE)}), JSON_VALUE)
        ),
        "msgtype": draw(st.sampled_from(["text", "stream", "event", "image"])),
        "text": draw(
            st.one_of(st.fixed_dictionaries({"content": st.one_of(NASTY_TEXT, st.just("@bot 帮助"))}), JSON_VALUE)
        ),
        "stream": draw(st.one_of(st.fixed_dictionaries({"id": st.one_of(TEXT, JSON_VALUE)}), JSON_VALUE)),
    }
    keep = {k: v for k, v in message.items() if draw(st.integers(0, 9)) > 0}
    return json.dumps(keep).encode()


def _nested(kind: str, depth: int) -> bytes:
    if kind == "xml":
        return ("<xml>" + "<a>" * depth + "x" + "</a>" * depth + "</xml>").encode()
    return ("[" * depth + "]" * depth).encode()


ENTITIES = [
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>',
    b'<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml><Encrypt>x</Encrypt></xml>',
    b'<!ENTITY % x SYSTEM "http://127.0.0.1:9/">',
]


PATHS = st.sampled_from([APP, BOT])
WAYS = st.sampled_from(
    ["bytes", "junk_cipher", "signed_junk", "fields", "fields", "fields", "entities", "nesting", "oversized"]
    + ["chunked", "stale", "echo", "verify"]
)


@st.composite
def callback(draw) -> Req:
    """One hostile callback request for either channel."""
    path = draw(PATHS)
    envelope = app_envelope if path == APP else bot_envelope
    way = draw(WAYS)
    if way == "bytes":
        params = draw(st.dictionaries(st.sampled_from(["msg_signature", "timestamp", "nonce", "x"]), TEXT, max_size=4))
        return Req(way, "POST", path, params, draw(st.binary(max_size=2000)))
    if way == "junk_cipher":
        junk = draw(st.one_of(st.binary(max_size=300).map(lambda b: __import__("base64").b64encode(b).decode()), TEXT))
        body = f"<xml><Encrypt><![CDATA[{junk}]]></Encrypt></xml>" if path == APP else json.dumps({"encrypt": junk})
        crypto = _APP if path == APP else _BOT
        params = (
            _signed(crypto, junk)
            if draw(st.booleans())
            else {"msg_signature": "0" * 40, "timestamp": _now(), "nonce": "1"}
        )
        return Req(way, "POST", path, params, body.encode("utf-8", "surrogatepass"))
    if way == "signed_junk":
        return Req(way, "POST", path, *envelope(draw(st.binary(max_size=1000))))
    if way == "fields":
        return Req(way, "POST", path, *envelope(draw(app_message() if path == APP else bot_message())))
    if way == "entities":
        if path == APP and draw(st.booleans()):
            return Req(way, "POST", path, *app_envelope(draw(st.sampled_from(ENTITIES))))
        return Req(
            way,
            "POST",
            path,
            {"msg_signature": "a", "timestamp": _now(), "nonce": "1"},
            draw(st.sampled_from(ENTITIES)),
        )
    if way == "nesting":
        depth = draw(st.integers(50, 60000))
        inner = _nested("xml" if path == APP else "json", depth)
        if draw(st.booleans()):
            return Req(way, "POST", path, *envelope(inner[:60000]))
        return Req(way, "POST", path, {"msg_signature": "a", "timestamp": _now(), "nonce": "1"}, inner)
    if way in ("oversized", "chunked"):
        size = draw(st.integers(60 * 1024, 300 * 1024)) if way == "oversized" else draw(st.integers(10, 90 * 1024))
        params, body = envelope(
            f"<xml>{'x' * size}</xml>".encode() if path == APP else json.dumps({"pad": "x" * size}).encode()
        )
        return Req(way, "POST", path, params, body, chunked=way == "chunked")
    if way == "stale":
        inner = "<xml><FromUserName>wangfang</FromUserName><MsgType>text</MsgType><Content>帮助</Content><MsgId>1</MsgId></xml>"
        stamp = str(draw(st.sampled_from([1, 1409659813, int(time.time()) - 3600, int(time.time()) + 3600, 10**13])))
        raw = (
            inner.encode()
            if path == APP
            else json.dumps({"msgid": "1", "from": {"userid": "wangfang"}, "msgtype": "text"}).encode()
        )
        return Req(way, "POST", path, *envelope(raw, stamp))
    if way == "echo":
        return _echo(draw, path)
    params = {"msg_signature": draw(TEXT), "timestamp": _now(), "nonce": "1", "echostr": draw(TEXT)}
    return Req(way, "GET", path, params)


def _echo(draw, path: str) -> Req:
    """A clerk's sentence holding `]]>` that the read-back repeats: the reply must still decrypt and parse."""
    # No punctuation inside (the parser splits a sentence there) and none at the edge (notes drop it).
    tail = draw(st.sampled_from(["]]>", "]]]]>", "a]]>b<x", "]]>&lt", "]]></xml><xml>"]))
    text = f"党委会6次，{tail}"
    who = draw(st.sampled_from(CLERKS[:6]))
    msgid = next(_ECHO_IDS)  # unique: a drawn id may repeat, and a repeat is rightly answered from the first
    if path == APP:
        inner = (
            f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>{who}</FromUserName><CreateTime>{_now()}</CreateTime>"
            f"<MsgType>text</MsgType><Content><![CDATA[{text.replace(']]>', ']]]]><![CDATA[>')}]]></Content>"
            f"<MsgId>{msgid}</MsgId></xml>"
        )
        return Req("echo", "POST", path, *app_envelope(inner.encode()), expect_echo=tail)
    message = {
        "msgid": str(msgid),
        "from": {"userid": who},
        "msgtype": "text",
        "chattype": "single",
        "text": {"content": text},
    }
    return Req("echo", "POST", path, *bot_envelope(json.dumps(message).encode()), expect_echo=tail)


BATCH = 10
_ECHO_IDS = itertools.count(8_000_000_000_000_000_001)


def callbacks() -> st.SearchStrategy[list[Req]]:
    """Ten callbacks per drawn example: hypothesis's cost is per example, so a batch makes 100,000 affordable."""
    return st.lists(callback(), min_size=BATCH, max_size=BATCH)
