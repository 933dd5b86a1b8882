"""A transport that records what would be sent, for tests: the outbox's last stop before WeCom."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Sent:
    userids: list[str] | None
    chat_id: str | None
    msgtype: str
    content: str
    key: str = ""


@dataclass
class RecordingTransport:
    sent: list[Sent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send_users(self, userids, msgtype, content, key="") -> list[str]:
        with self._lock:
            self.sent.append(Sent(list(userids), None, msgtype, content, key))
        return []

    def send_chat(self, chat_id, msgtype, content, key="") -> None:
        with self._lock:
            self.sent.append(Sent(None, chat_id, msgtype, content, key))

    def to(self, userid: str) -> list[str]:
        return [s.content for s in self.sent if s.userids and userid in s.userids]
