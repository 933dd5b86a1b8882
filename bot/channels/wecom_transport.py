"""The outbox's way to WeCom: message/send to people, appchat/send to group chats, errors as SendError."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.channels.wecom_api import WeComClient, WeComError
from bot.delivery import DUPLICATE_CHECK_S, SendError
from bot.settings import Settings

FileLoader = Callable[[int], "tuple[str, bytes] | None"]  # stored file id -> (name, bytes)


def _msg(msgtype: str, content: str) -> dict:
    if msgtype == "markdown":
        return {"msgtype": "markdown", "markdown": {"content": content}}
    return {"msgtype": "text", "text": {"content": content}}


class WeComTransport:
    def __init__(self, settings: Settings, timeout: float = 5.0, files: FileLoader | None = None):
        self.client = WeComClient(
            settings.api_base, settings.corp_id, settings.secret, settings.agent_id, timeout=timeout
        )
        self.files = files

    def send_users(self, userids: list[str], msgtype: str, content: str) -> None:
        try:
            # WeCom drops an identical message within the interval: a resend after a crash between
            # the call and its record has no effect (wecom.md §3.2, enable_duplicate_check).
            msg = self._file(content) if msgtype == "file" else _msg(msgtype, content)
            self.client.send_message(userids, msg, duplicate_check_s=DUPLICATE_CHECK_S)
        except WeComError as exc:
            raise SendError(f"message/send {exc.errcode} {exc.errmsg}", exc.retryable) from None

    def send_chat(self, chat_id: str, msgtype: str, content: str) -> None:
        try:
            msg = self._file(content) if msgtype == "file" else _msg(msgtype, content)
            self.client.appchat_send(chat_id, msg)
        except WeComError as exc:
            raise SendError(f"appchat/send {exc.errcode} {exc.errmsg}", exc.retryable) from None

    def _file(self, content: str) -> dict:
        """A file message: the outbox row names a stored file; its bytes are uploaded now, outside any transaction."""
        try:
            file_id = int(json.loads(content)["file_id"])
        except (ValueError, KeyError, TypeError):
            raise SendError("file message without a stored file reference", retryable=False) from None
        found = self.files(file_id) if self.files else None
        if found is None:
            raise SendError(f"stored file {file_id} is gone", retryable=False)
        name, data = found
        try:
            media_id = self.client.upload_media("file", name, data)
        except ValueError as exc:
            raise SendError(f"media/upload refused locally: {exc}", retryable=False) from None
        except WeComError as exc:
            raise SendError(f"media/upload {exc.errcode} {exc.errmsg}", exc.retryable) from None
        return {"msgtype": "file", "file": {"media_id": media_id}}
