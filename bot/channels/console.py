"""The terminal channel: `kaohe chat --as USERID` reads lines and prints the bot's answers."""

from __future__ import annotations

import uuid
from typing import TextIO

from bot.services import Services
from handlers.base import Inbound

PROMPT = "> "


def run_console(services: Services, userid: str, stdin: TextIO, stdout: TextIO) -> None:
    """Each line typed is one message; answers print below it. Messages for others are delivered
    (or, without a WeCom app, recorded) after each turn. End with Ctrl-D."""
    stdout.write(f"以 {userid} 的身份与考核助手对话（Ctrl-D 结束）。\n{PROMPT}")
    stdout.flush()
    for line in stdin:
        text = line.rstrip("\n")
        if text.strip():
            inbound = Inbound(
                channel="console", userid=userid, text=text, msg_key=f"console:{userid}:{uuid.uuid4().hex}"
            )
            for reply in services.dispatcher.dispatch(inbound):
                stdout.write(reply.text + "\n")
            services.sender.drain(max_rounds=3)
        stdout.write(PROMPT)
        stdout.flush()
    stdout.write("\n")
