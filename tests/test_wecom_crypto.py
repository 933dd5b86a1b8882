"""Callback crypto against the official vectors (wecom.md §1.6) and every way a callback can be refused."""

from __future__ import annotations

import base64
import contextlib
import json
import struct

import pytest
import xmltodict
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels import wecom_crypto
from bot.channels.wecom_api import CallbackCrypto, CallbackRejected, parse_app_message

TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"

B1 = dict(
    msg_signature="5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    timestamp="1409659589",
    nonce="263014780",
    echostr="P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
)
B2_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sY"
    "YvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYu"
    "R+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcal"
    "lcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl"
    "/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
B2_QUERY = dict(msg_signature="477715d11cdb4164915debcba66cb864d751f3e6", timestamp="1409659813", nonce="1372623149")
B3_ENCRYPT = (
    "CZWs4CWRpI4VolQlvn4dlEC1alN2MUEY2VklGehgBVLBrlVF7SyT+SV+Toj43l4ayJ9UMGKphktKKmP7B2j/P1ey67XB8PBgS7Wr5/8+w/"
    "yWriZv3Vmoo/MH3/1HsIWZrPQ3N2mJrelStIfI2Y8kLKXA7EhfZgZX4o+ffdkZDM76SEl79Ib9mw7TGjZ9Aw/x/A2VjNbV1E8BtEbRxYYc"
    "QippYNw7hr8sFfa3nW1xLdxokt8QkRX83vK3DFP2F6TQFPL2Tu98UwhcUpPvdJBuu1/yiOQIScppV3eOuLWEsko="
)
B3_QUERY = dict(msg_signature="0623cbc5a8cbee5bcc137c70de99575366fc2af3", timestamp="1409659813", nonce="1372623149")
C1_ENCRYPT = (
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6Js"
    "XUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8Ea"
    "jAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
)
C2_ENCRYPT = "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
C2_SIGNATURE = "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
TS, NONCE = "1409659813", "1372623149"

CARD_EVENT = """<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[key111]]></EventKey>
<TaskId><![CDATA[taskid111]]></TaskId><CardType><![CDATA[vote_interaction]]></CardType>
<ResponseCode><![CDATA[rc]]></ResponseCode><AgentID>1</AgentID><SelectedItems>{items}</SelectedItems></xml>"""
ITEM = "<SelectedItem><QuestionKey><![CDATA[{key}]]></QuestionKey><OptionIds>{options}</OptionIds></SelectedItem>"
BILLION_LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><Encrypt>&lol3;</Encrypt></xml>"""


@pytest.fixture
def crypto() -> CallbackCrypto:
    return CallbackCrypto(TOKEN, KEY, CORP, max_age_s=0)


def envelope(encrypt: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
        f"<AgentID><![CDATA[218]]></AgentID></xml>"
    ).encode()


def signed_xml(crypto: CallbackCrypto, encrypt: str) -> dict:
    return crypto.decrypt_xml(envelope(encrypt), crypto._sign(TS, NONCE, encrypt), TS, NONCE)


def sealed(crypto: CallbackCrypto, plaintext: str) -> str:
    return crypto._encrypt_with_random(plaintext.encode("utf-8"), b"0123456789abcdef")


def raw_cipher(raw: bytes) -> str:
    key = base64.b64decode(KEY + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(raw) + encryptor.finalize()).decode()


def rejection(call, *args) -> CallbackRejected:
    with pytest.raises(CallbackRejected) as caught:
        call(*args)
    return caught.value


# --- official vectors ---------------------------------------------------------------------------


def test_vector_b1_get_verification_returns_echo_plaintext(crypto):
    assert crypto.verify_url(**B1) == "1616140317555161061"


def test_vector_b2_xml_callback_decrypts_to_text_message(crypto):
    message = crypto.decrypt_xml(envelope(B2_ENCRYPT), **B2_QUERY)
    assert (message["MsgType"], message["Content"], message["FromUserName"], message["MsgId"]) == (
        "text",
        "hello",
        "mycreate",
        "4561255354251345929",
    )


def test_vector_b3_json_callback_decrypts_to_object(crypto):
    message = crypto.decrypt_json(json.dumps({"encrypt": B3_ENCRYPT}).encode(), **B3_QUERY)
    assert message == {
        "ToUserName": CORP,
        "FromUserName": "mycreate",
        "CreateTime": 1409659813,
        "MsgType": "text",
        "Content": "hello",
        "MsgId": 4561255354251345929,
        "AgentID": 218,
    }


def test_vector_c1_json_decrypts_with_four_value_signature():
    crypto = CallbackCrypto("AAAAA", "A" * 43, "wxba5fad812f8e6fb9", max_age_s=0)
    message = crypto.decrypt_json(
        json.dumps({"encrypt": C1_ENCRYPT}).encode(),
        "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
        "1714112445",
        "415670741",
    )
    assert message["debug_str"] == "hello world"


def test_vector_c2_fixed_random_reproduces_ciphertext_and_signature():
    crypto = CallbackCrypto("AAAAA", "A" * 43, "wxba5fad812f8e6fb9", max_age_s=0)
    encrypt = crypto._encrypt_with_random(b'{"demo_resp":"good luck"}', b"707722b803182950")
    assert (encrypt, crypto._sign("1713424427", "415670741", encrypt)) == (C2_ENCRYPT, C2_SIGNATURE)


def test_vector_c2_json_reply_envelope(monkeypatch):
    monkeypatch.setattr(wecom_crypto, "_random16", lambda: b"707722b803182950")
    crypto = CallbackCrypto("AAAAA", "A" * 43, "wxba5fad812f8e6fb9", max_age_s=0)
    reply = crypto.encrypt_reply_json({"demo_resp": "good luck"}, "415670741", "1713424427")
    assert json.loads(reply) == {
        "encrypt": C2_ENCRYPT,
        "msgsignature": C2_SIGNATURE,
        "timestamp": "1713424427",
        "nonce": "415670741",
    }


# --- refusals -----------------------------------------------------------------------------------


def test_wrong_signature_is_403(crypto):
    query = {**B2_QUERY, "msg_signature": "0" * 40}
    assert rejection(crypto.decrypt_xml, envelope(B2_ENCRYPT), *query.values()).status == 403


def test_wrong_signature_on_get_verification_is_403(crypto):
    assert rejection(crypto.verify_url, *{**B1, "msg_signature": "f" * 40}.values()).status == 403


def test_non_ascii_signature_is_403_not_a_crash(crypto):
    assert rejection(crypto.decrypt_xml, envelope(B2_ENCRYPT), "签名", TS, NONCE).status == 403


def test_other_receive_id_is_403(crypto):
    other = CallbackCrypto(TOKEN, KEY, "wwsomeothercorp", max_age_s=0)
    encrypt = sealed(other, "<xml><Content>hi</Content></xml>")
    assert rejection(signed_xml, crypto, encrypt).reason == "receive id mismatch"


def test_ai_bot_empty_receive_id_does_not_match_a_corp_id(crypto):
    bot = CallbackCrypto(TOKEN, KEY, "", max_age_s=0)
    encrypt = sealed(bot, '{"msgid": "1"}')
    query = (crypto._sign(TS, NONCE, encrypt), TS, NONCE)
    assert rejection(crypto.decrypt_json, json.dumps({"encrypt": encrypt}).encode(), *query).status == 403


def test_garbage_ciphertext_behind_valid_signature_is_400(crypto):
    encrypt = base64.b64encode(bytes(range(64))).decode()
    assert rejection(signed_xml, crypto, encrypt).status == 400


def test_base64_junk_is_400(crypto):
    assert rejection(signed_xml, crypto, "!!not*base64$$").status == 400


def test_ciphertext_truncated_off_block_boundary_is_400(crypto):
    encrypt = base64.b64encode(base64.b64decode(B2_ENCRYPT)[:-16]).decode()
    assert rejection(signed_xml, crypto, encrypt).status == 400


def test_ciphertext_truncated_on_block_boundary_is_400(crypto):
    encrypt = base64.b64encode(base64.b64decode(B2_ENCRYPT)[:-32]).decode()
    assert rejection(signed_xml, crypto, encrypt).status == 400


def test_length_field_beyond_plaintext_is_400(crypto):
    raw = b"r" * 16 + struct.pack(">I", 10_000) + b"<xml/>" + CORP.encode()
    pad = 32 - len(raw) % 32
    assert rejection(signed_xml, crypto, raw_cipher(raw + bytes([pad]) * pad)).reason == "message length out of range"


@pytest.mark.parametrize("pad_byte", [0, 33, 200])
def test_impossible_padding_is_400(crypto, pad_byte):
    raw = b"r" * 16 + struct.pack(">I", 6) + b"<xml/>" + CORP.encode()
    raw += bytes([pad_byte]) * (64 - len(raw))
    assert rejection(signed_xml, crypto, raw_cipher(raw)).reason == "bad padding"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<xml><Encrypt>abc",
        b"<xml>text</xml>",
        b"<xml/>",
        b"<other><Encrypt>abc</Encrypt></other>",
        b"<xml><Encrypt/></xml>",
        b"<xml><Encrypt><a>1</a></Encrypt></xml>",
        b"\xff\xfe<\x00x\x00",
    ],
)
def test_malformed_outer_xml_is_400(crypto, body):
    assert rejection(crypto.decrypt_xml, body, *B2_QUERY.values()).status == 400


def test_billion_laughs_is_400(crypto):
    assert rejection(crypto.decrypt_xml, BILLION_LAUGHS, *B2_QUERY.values()).status == 400


def test_doctype_without_entities_is_400(crypto):
    body = b'<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml><Encrypt>x</Encrypt></xml>'
    assert rejection(crypto.decrypt_xml, body, *B2_QUERY.values()).status == 400


def test_entity_inside_signed_inner_message_is_400(crypto):
    inner = '<!DOCTYPE x [<!ENTITY e "boom">]><xml><Content>&e;</Content></xml>'
    assert rejection(signed_xml, crypto, sealed(crypto, inner)).status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"encrypt"',
        b"{}",
        b'{"encrypt": 5}',
        b'{"encrypt": ""}',
        b"{oops",
        b"[" * 100_000 + b"]" * 100_000,
        b"\xff",
    ],
)
def test_bad_json_envelope_is_400(crypto, body):
    assert rejection(crypto.decrypt_json, body, *B3_QUERY.values()).status == 400


def test_signed_inner_json_that_is_not_an_object_is_400(crypto):
    encrypt = sealed(crypto, "[1, 2]")
    query = (crypto._sign(TS, NONCE, encrypt), TS, NONCE)
    assert rejection(crypto.decrypt_json, json.dumps({"encrypt": encrypt}).encode(), *query).status == 400


def test_stale_timestamp_is_403():
    crypto = CallbackCrypto(TOKEN, KEY, CORP, max_age_s=600, now=lambda: int(TS) + 601)
    assert rejection(crypto.decrypt_xml, envelope(B2_ENCRYPT), *B2_QUERY.values()).status == 403


def test_future_timestamp_beyond_window_is_403():
    crypto = CallbackCrypto(TOKEN, KEY, CORP, max_age_s=600, now=lambda: int(TS) - 601)
    assert rejection(crypto.decrypt_xml, envelope(B2_ENCRYPT), *B2_QUERY.values()).status == 403


def test_timestamp_inside_window_is_accepted():
    crypto = CallbackCrypto(TOKEN, KEY, CORP, max_age_s=600, now=lambda: int(TS) + 599)
    assert crypto.decrypt_xml(envelope(B2_ENCRYPT), **B2_QUERY)["Content"] == "hello"


@pytest.mark.parametrize("timestamp", ["", "abc", "-5", " 1409659813", "1e9", "１４０９", "9" * 40])
def test_non_integer_timestamp_is_400(crypto, timestamp):
    assert (
        rejection(crypto.decrypt_xml, envelope(B2_ENCRYPT), B2_QUERY["msg_signature"], timestamp, NONCE).status == 400
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_signed_ciphertext_bytes_fail_only_as_rejection(data):
    crypto = CallbackCrypto(TOKEN, KEY, CORP, max_age_s=0)
    with contextlib.suppress(CallbackRejected):  # any other exception fails the property
        signed_xml(crypto, base64.b64encode(data).decode() or "x")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_signed_inner_text_parses_or_fails_only_as_rejection(text):
    crypto = CallbackCrypto(TOKEN, KEY, CORP, max_age_s=0)
    with contextlib.suppress(CallbackRejected):  # any other exception fails the property
        assert isinstance(signed_xml(crypto, sealed(crypto, text)), dict)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_outer_body_fails_only_as_rejection(body):
    crypto = CallbackCrypto(TOKEN, KEY, CORP, max_age_s=0)
    with pytest.raises(CallbackRejected):
        crypto.decrypt_xml(body, *B2_QUERY.values())
    with pytest.raises(CallbackRejected):
        crypto.decrypt_json(body, *B3_QUERY.values())


# --- inner message normalisation ----------------------------------------------------------------


def test_card_event_selected_items_become_lists():
    items = ITEM.format(key="q1", options="<OptionId>a</OptionId><OptionId>b</OptionId>") + ITEM.format(
        key="q2", options="<OptionId>c</OptionId>"
    )
    message = parse_app_message(CARD_EVENT.format(items=items))
    assert message["SelectedItems"] == [
        {"QuestionKey": "q1", "OptionIds": ["a", "b"]},
        {"QuestionKey": "q2", "OptionIds": ["c"]},
    ]


def test_single_selected_item_with_single_option_is_still_a_list():
    message = parse_app_message(CARD_EVENT.format(items=ITEM.format(key="q", options="<OptionId>x</OptionId>")))
    assert message["SelectedItems"] == [{"QuestionKey": "q", "OptionIds": ["x"]}]


def test_message_without_selection_has_empty_selected_items_and_empty_strings():
    xml = "<xml><MsgType>event</MsgType><Event>enter_agent</Event><EventKey><![CDATA[]]></EventKey></xml>"
    assert parse_app_message(xml) == {"MsgType": "event", "Event": "enter_agent", "EventKey": "", "SelectedItems": []}


def test_card_event_through_decrypt_keeps_task_and_response_code(crypto):
    xml = CARD_EVENT.format(items=ITEM.format(key="q", options="<OptionId>x</OptionId>"))
    message = signed_xml(crypto, sealed(crypto, xml))
    assert (message["TaskId"], message["ResponseCode"], message["EventKey"]) == ("taskid111", "rc", "key111")


# --- replies ------------------------------------------------------------------------------------


def reply_fields(reply: str) -> dict:
    return xmltodict.parse(reply)["xml"]


def test_xml_reply_round_trips_through_verification(crypto):
    reply = crypto.encrypt_reply_xml(crypto.text_reply_xml("mycreate", CORP, "收到", 1409659813), NONCE, TS)
    fields = reply_fields(reply)
    message = crypto.decrypt_xml(reply.encode(), fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
    assert (message["ToUserName"], message["Content"], message["MsgType"]) == ("mycreate", "收到", "text")


def test_json_reply_round_trips_through_decrypt_json():
    bot = CallbackCrypto(TOKEN, KEY, "", max_age_s=0)
    payload = {"msgtype": "text", "text": {"content": "你好"}}
    fields = json.loads(bot.encrypt_reply_json(payload, NONCE, TS))
    assert bot.decrypt_json(json.dumps(fields).encode(), fields["msgsignature"], TS, NONCE) == payload


def test_reply_envelope_survives_a_nonce_with_cdata_end(crypto):
    reply = crypto.encrypt_reply_xml("<xml/>", "n]]>x", TS)
    assert reply_fields(reply)["Nonce"] == "n]]>x"


def test_text_reply_escapes_cdata_end_in_content(crypto):
    content = "a]]>b<c>&d]]]]>"
    reply = crypto.text_reply_xml("u]]>1", CORP, content, 1)
    assert (reply_fields(reply)["Content"], reply_fields(reply)["ToUserName"]) == (content, "u]]>1")


def test_text_reply_truncates_to_2048_bytes_on_char_boundary(crypto):
    content = "a" + "汉" * 1000
    kept = reply_fields(crypto.text_reply_xml("u", CORP, content, 1))["Content"]
    assert (len(kept.encode()), kept) == (2047, content[:683])


def test_text_reply_keeps_exactly_2048_bytes(crypto):
    content = "汉" * 682 + "ab"
    assert reply_fields(crypto.text_reply_xml("u", CORP, content, 1))["Content"] == content


def test_text_reply_drops_characters_xml_cannot_carry(crypto):
    reply = crypto.text_reply_xml("u", CORP, "a\x00b\x1bc\ud800d", 1)
    assert reply_fields(reply)["Content"] == "abcd"
