"""The outbox's way to WeCom: message/send to people, appchat/send to group chats, errors as SendError."""

from __future__ import annotations

import json

from bot.channels.wecom_api import WeComClient, WeComError
from bot.delivery import DUPLICATE_CHECK_S, SendError
from bot.settings import Settings


def _msg(msgtype: str, content: str) -> dict:
    if msgtype == "template_card":  # the vote card each voter gets in the app chat (wecom.md §3.2)
        return {"msgtype": "template_card", "template_card": json.loads(content)}
    if msgtype == "markdown":
        return {"msgtype": "markdown", "markdown": {"content": content}}
    return {"msgtype": "text", "text": {"content": content}}


class WeComTransport:
    def __init__(self, settings: Settings, timeout: float = 5.0):
        self.client = WeComClient(
            settings.api_base, settings.corp_id, settings.secret, settings.agent_id, timeout=timeout
        )

    def send_users(self, userids: list[str], msgtype: str, content: str) -> None:
        if msgtype == "update_template_card":
            return self._update_card(userids, content)
        try:
            # WeCom drops an identical message within the interval: a resend after a crash between
            # the call and its record has no effect (wecom.md §3.2, enable_duplicate_check).
            self.client.send_message(userids, _msg(msgtype, content), duplicate_check_s=DUPLICATE_CHECK_S)
        except WeComError as exc:
            raise SendError(f"message/send {exc.errcode} {exc.errmsg}", exc.retryable) from None

    def send_chat(self, chat_id: str, msgtype: str, content: str) -> None:
        try:
            self.client.appchat_send(chat_id, _msg(msgtype, content))
        except WeComError as exc:
            raise SendError(f"appchat/send {exc.errcode} {exc.errmsg}", exc.retryable) from None

    def _update_card(self, userids: list[str], content: str) -> None:
        """message/update_template_card with the click's response code, for those who clicked (§3.3)."""
        try:
            self.client.update_template_card({**json.loads(content), "userids": list(userids)})
        except WeComError as exc:
            # A response code is good once and for a day: retrying a refused one cannot help.
            raise SendError(f"update_template_card {exc.errcode} {exc.errmsg}", exc.retryable) from None
