"""The fields of a decrypted callback that reach storage, checked at the edge: storable and within WeCom's limits."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from bot.channels.wecom_api import CallbackRejected

# NUL cannot be stored in PostgreSQL text; a lone surrogate (JSON's "\ud800") cannot be written as UTF-8;
# other control characters have no place in an id and would break a log line.
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
USERID_BYTES = 64  # 成员UserID: 1~64 bytes (document/path/90195); person.userid is VARCHAR(64)
ID_BYTES = 128  # MsgId, chatid, TaskId (最长128字节)
KEY_BYTES = 1024  # a menu button's or card button's key: 最长支持1024字节
KEY_CHARS = 180  # processed_message.key and outbox.key are VARCHAR(200); "#late12" and the like go after it


def field(message: dict, name: str, limit: int = ID_BYTES, *, required: bool = False, where: str = "") -> str:
    """The text of one id field; missing is "" (or refused when `required`); anything unstorable is a 400."""
    value = message.get(name)
    label = f"{where}{name}"
    if value is None or value == "":
        if required:
            raise CallbackRejected(f"{label} missing", 400)
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CallbackRejected(f"{label} is a {type(value).__name__}, not text", 400)
    return checked(str(value), label, limit)


def checked(text: str, label: str, limit: int) -> str:
    if _UNSTORABLE.search(text):
        raise CallbackRejected(f"{label} holds characters that cannot be stored", 400)
    if len(text.encode("utf-8")) > limit:
        raise CallbackRejected(f"{label} is over {limit} bytes", 400)
    return text


def storable_text(value: Any, label: str) -> str:
    """Message text: not an id, so unstorable characters are dropped later; but it must be text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CallbackRejected(f"{label} is a {type(value).__name__}, not text", 400)
    return value


def message_key(*parts: str) -> str:
    """A stable key from the parts (sender first); long parts are replaced by their digest so it fits."""
    key = ":".join(parts)
    if len(key) <= KEY_CHARS:
        return key
    head = ":".join(parts[:3])[:100]
    return f"{head}:#{hashlib.sha256(key.encode('utf-8')).hexdigest()}"
