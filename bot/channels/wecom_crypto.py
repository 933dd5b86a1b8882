"""WeCom callback crypto: signatures, AES envelopes and inbound parsing, failing only as CallbackRejected."""

# Written on `cryptography` directly rather than wechatpy's PrpCrypto, whose `_decrypt` checks neither
# padding nor lengths (wecom.md §4.5). No wechatpy import here: `wecom_api` stays the only module that
# imports wechatpy, and re-exports everything public from this one.

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import struct
import time
from collections.abc import Callable
from typing import Any
from xml.parsers.expat import ExpatError
from xml.sax.saxutils import escape

import xmltodict
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 32  # PKCS#7 to a multiple of 32 bytes, not AES's 16 (wecom.md §1.4)
_TEXT_LIMIT = 2048  # passive text reply Content, in UTF-8 bytes (wecom.md §1.5)
_DOCTYPE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# Characters XML 1.0 cannot carry even inside CDATA (and lone surrogates, which cannot be UTF-8).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_REPLY_XML = (
    "<xml><Encrypt>{encrypt}</Encrypt><MsgSignature>{signature}</MsgSignature>"
    "<TimeStamp>{timestamp}</TimeStamp><Nonce>{nonce}</Nonce></xml>"
)


class CallbackRejected(Exception):
    """A callback we refuse: `.reason` for the log line, `.status` for the HTTP answer."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(f"{status} {reason}")
        self.reason = reason
        self.status = status


def _random16() -> bytes:
    return secrets.token_bytes(16)


def cdata(text: str) -> str:
    """Wrap text in CDATA, splitting any `]]>` so it cannot close the section early."""
    return "<![CDATA[" + _NOT_XML.sub("", text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


class CallbackCrypto:
    """Verify, decrypt and encrypt one receiver's callbacks (corp id for an app, "" for the AI bot)."""

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        receive_id: str,
        max_age_s: int = 600,
        now: Callable[[], float] = time.time,
    ) -> None:
        key = base64.b64decode(encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("EncodingAESKey must be 43 base64 characters (32 bytes)")
        self._token = token
        self._cipher = Cipher(algorithms.AES(key), modes.CBC(key[:16]))
        self._receive_id = receive_id.encode("utf-8")
        self._max_age_s = max_age_s
        self._now = now

    # --- inbound -------------------------------------------------------------------------------

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """GET check: return the decrypted echostr to send back verbatim (wecom.md §1.2)."""
        self._check_fresh(timestamp)
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return self._decrypt_text(echostr)

    def decrypt_xml(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> dict[str, Any]:
        """POST from the app: the message as a flat dict of the inner `<xml>` element."""
        self._check_fresh(timestamp)
        encrypt = _parse_xml(body).get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise CallbackRejected("envelope without Encrypt", 400)
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return parse_app_message(self._decrypt_text(encrypt))

    def decrypt_json(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> dict[str, Any]:
        """POST from the AI bot: `{"encrypt": ...}` in, the decrypted JSON object out (wecom.md §3.7)."""
        self._check_fresh(timestamp)
        encrypt = _parse_json(body).get("encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise CallbackRejected("envelope without encrypt", 400)
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return _parse_json(self._decrypt_text(encrypt).encode("utf-8"))

    # --- outbound ------------------------------------------------------------------------------

    def encrypt_reply_xml(self, plain_xml: str, nonce: str, timestamp: str) -> str:
        """Passive reply envelope, as `AES_TEXT_RESPONSE_TEMPLATE` in Tencent's WXBizMsgCrypt.py (§1.5)."""
        encrypt = self._encrypt_with_random(plain_xml.encode("utf-8"), _random16())
        signature = self._sign(timestamp, nonce, encrypt)
        return _REPLY_XML.format(
            encrypt=cdata(encrypt), signature=cdata(signature), timestamp=escape(timestamp), nonce=cdata(nonce)
        )

    def encrypt_reply_json(self, payload: dict[str, Any], nonce: str, timestamp: str) -> str:
        """JSON reply envelope; keys and string timestamp as in WXBizJsonMsgCrypt.py (§1.5)."""
        plain = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        encrypt = self._encrypt_with_random(plain, _random16())
        return json.dumps(
            {
                "encrypt": encrypt,
                "msgsignature": self._sign(timestamp, nonce, encrypt),
                "timestamp": timestamp,
                "nonce": nonce,
            },
            ensure_ascii=False,
        )

    @staticmethod
    def text_reply_xml(to_user: str, from_user: str, content: str, create_time: int) -> str:
        """Plaintext passive text reply; Content cut to 2048 UTF-8 bytes on a character boundary."""
        content = _truncate_utf8(_NOT_XML.sub("", content), _TEXT_LIMIT)
        return (
            f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
            f"<FromUserName>{cdata(from_user)}</FromUserName>"
            f"<CreateTime>{int(create_time)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{cdata(content)}</Content></xml>"
        )

    # --- internals -----------------------------------------------------------------------------

    def _check_fresh(self, timestamp: str) -> None:
        if not (isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise CallbackRejected("timestamp is not an integer", 400)
        if self._max_age_s > 0 and abs(self._now() - int(timestamp)) > self._max_age_s:
            raise CallbackRejected("stale timestamp", 403)

    def _sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        joined = "".join(sorted([self._token, timestamp, nonce, encrypt]))
        return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()

    def _check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = self._sign(timestamp, nonce, encrypt).encode("ascii")
        if not hmac.compare_digest(expected, str(msg_signature).encode("utf-8", "replace")):
            raise CallbackRejected("bad signature", 403)

    def _encrypt_with_random(self, msg: bytes, random16: bytes) -> str:
        full = random16 + struct.pack(">I", len(msg)) + msg + self._receive_id
        pad = _BLOCK - len(full) % _BLOCK  # a full block when already aligned
        encryptor = self._cipher.encryptor()
        return base64.b64encode(encryptor.update(full + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def _decrypt_text(self, encrypt: str) -> str:
        msg, receive_id = self._decrypt_raw(encrypt)
        if not hmac.compare_digest(receive_id, self._receive_id):
            raise CallbackRejected("receive id mismatch", 403)  # wechatpy's -40005 (§1.4)
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackRejected("payload is not UTF-8", 400) from None

    def _decrypt_raw(self, encrypt: str) -> tuple[bytes, bytes]:
        """Return (msg, receive id), checking every length WxJava#3756 found unchecked."""
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRejected("ciphertext is not base64", 400) from None
        if not data or len(data) % _BLOCK:
            raise CallbackRejected("ciphertext length is not a multiple of 32", 400)
        decryptor = self._cipher.decryptor()
        raw = decryptor.update(data) + decryptor.finalize()
        pad = raw[-1]
        if not 1 <= pad <= _BLOCK or raw[-pad:] != bytes([pad]) * pad or len(raw) - pad < 20:
            raise CallbackRejected("bad padding", 400)
        body = raw[:-pad]
        (length,) = struct.unpack(">I", body[16:20])
        if length > len(body) - 20:
            raise CallbackRejected("message length out of range", 400)
        return body[20 : 20 + length], body[20 + length :]


def parse_app_message(xml: str) -> dict[str, Any]:
    """The inner message XML as a flat dict; `SelectedItems` always a list (wecom.md §2)."""
    message = _parse_xml(xml.encode("utf-8"), force_list=("SelectedItem", "OptionId"))
    flat = {key: "" if value is None else value for key, value in message.items()}
    flat["SelectedItems"] = _selected_items(message.get("SelectedItems"))
    return flat


def _selected_items(node: Any) -> list[dict[str, Any]]:
    # One SelectedItem parses to a dict and one OptionId to a str without force_list (§2).
    return [
        {"QuestionKey": _text(item.get("QuestionKey")), "OptionIds": _texts(item.get("OptionIds"), "OptionId")}
        for item in _children(node, "SelectedItem")
        if isinstance(item, dict)
    ]


def _children(node: Any, tag: str) -> list[Any]:
    return (node.get(tag) or []) if isinstance(node, dict) else []


def _texts(node: Any, tag: str) -> list[str]:
    return [_text(child) for child in _children(node, tag) if child is None or isinstance(child, str)]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _parse_xml(body: bytes, force_list: tuple[str, ...] = ()) -> dict[str, Any]:
    """The children of the root `<xml>`; no DTDs at all, so no entity tricks (wecom.md §5)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CallbackRejected("body is not UTF-8", 400) from None
    if _DOCTYPE.search(text):
        raise CallbackRejected("DOCTYPE or ENTITY in XML", 400)
    try:
        document = xmltodict.parse(text, force_list=force_list)
    except (ExpatError, ValueError):  # xmltodict 1.0.4 raises ValueError on entity declarations
        raise CallbackRejected("malformed XML", 400) from None
    root = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(root, dict):
        raise CallbackRejected("XML root is not <xml> with children", 400)
    return root


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # deep nesting like "[[[[…" overflows the recursive decoder
        raise CallbackRejected("malformed JSON", 400) from None
    if not isinstance(value, dict):
        raise CallbackRejected("JSON body is not an object", 400)
    return value
