"""The outbox's way to WeCom: message/send to people, appchat/send to group chats, errors as SendError."""

from __future__ import annotations

import json
import zlib

from bot.channels.wecom_api import WeComClient, WeComError
from bot.delivery import DUPLICATE_CHECK_S, SendError
from bot.settings import Settings

ALL_INVALID = 81013  # every recipient unknown or without permission (wecom.md §3.2): refused, not an outage
KEY_SPREAD_S = 3600  # duplicate_check_interval varies by key within WeCom's last hour of 4 h (see _interval)


def _msg(msgtype: str, content: str) -> dict:
    if msgtype == "template_card":  # the vote card each voter gets in the app chat (wecom.md §3.2)
        return {"msgtype": "template_card", "template_card": json.loads(content)}
    if msgtype == "markdown":
        return {"msgtype": "markdown", "markdown": {"content": content}}
    return {"msgtype": "text", "text": {"content": content}}


def duplicate_check_interval(key: str) -> int:
    """WeCom drops a message whose request JSON it saw within the interval (wecom.md §3.2). The row's key picks
    the interval, so a resend of one row is byte-identical (and dropped) while two rows that happen to carry
    the same text to the same people differ in this field and both arrive."""
    return DUPLICATE_CHECK_S - zlib.crc32(key.encode()) % KEY_SPREAD_S


class WeComTransport:
    def __init__(self, settings: Settings, timeout: float = 5.0):
        self.client = WeComClient(
            settings.api_base, settings.corp_id, settings.secret, settings.agent_id, timeout=timeout
        )

    def send_users(self, userids: list[str], msgtype: str, content: str, key: str = "") -> list[str]:
        """message/send with the duplicate check on; returns the userids WeCom refused (lower-cased by WeCom)."""
        if msgtype == "update_template_card":
            return self._update_card(userids, content)
        try:
            answer = self.client.send_message(
                userids, _msg(msgtype, content), duplicate_check_s=duplicate_check_interval(key)
            )
        except WeComError as exc:
            if exc.errcode == ALL_INVALID:
                return list(userids)
            raise SendError(f"message/send {exc.errcode} {exc.errmsg}", exc.retryable) from None
        return _ids(answer.get("invaliduser")) + _ids(answer.get("unlicenseduser"))

    def send_chat(self, chat_id: str, msgtype: str, content: str, key: str = "") -> None:
        try:
            self.client.appchat_send(chat_id, _msg(msgtype, content))
        except WeComError as exc:
            raise SendError(f"appchat/send {exc.errcode} {exc.errmsg}", exc.retryable) from None

    def _update_card(self, userids: list[str], content: str) -> list[str]:
        """message/update_template_card with the click's response code, for those who clicked (§3.3)."""
        try:
            answer = self.client.update_template_card({**json.loads(content), "userids": list(userids)})
        except WeComError as exc:
            # A response code is good once and for a day: retrying a refused one cannot help.
            raise SendError(f"update_template_card {exc.errcode} {exc.errmsg}", exc.retryable) from None
        return _ids(answer.get("invaliduser"))


def _ids(value) -> list[str]:
    """WeCom lists userids as "u1|u2" (a list in some answers); anything else lists nobody."""
    if isinstance(value, list):
        return [str(u) for u in value if u]
    return [u for u in value.split("|") if u] if isinstance(value, str) else []
