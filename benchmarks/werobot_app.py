"""A WeRoBot 1.13 bot for the benchmark: encrypted mode, its SQLite session per user, a text answer."""

# A benchmark fixture, never a route of the service: the best-known Python WeChat bot framework doing what a
# small real bot does for each message (check the signature, decrypt, load the sender's session, count the
# message in it, store the session back, encrypt a text reply), to compare a kaohe turn with.

from __future__ import annotations

import json

from werobot import WeRoBot
from werobot.config import Config
from werobot.session.sqlitestorage import SQLiteStorage


def reply_text(content: str, count: int) -> str:
    """What the bot answers to the `count`-th message `content` of one person (the benchmark checks it)."""
    return f"收到：{content}（第{count}条）"


def create_werobot(token: str, aes_key: str, corp_id: str, session_file: str, wal: bool = False) -> WeRoBot:
    """By default its SQLiteStorage as it comes: a rollback journal and synchronous=FULL, so each message's
    commit waits for fsync. `wal`: the service's settings instead (WAL, synchronous=NORMAL: no fsync per commit)."""
    storage = SQLiteStorage(session_file)
    if wal:
        storage.db.execute("PRAGMA journal_mode=WAL")
        storage.db.execute("PRAGMA synchronous=NORMAL")
    # WeCom's callback encryption is WeChat's WXBizMsgCrypt with the corp id where WeChat has the app id
    config = Config(TOKEN=token, ENCODING_AES_KEY=aes_key, APP_ID=corp_id, SESSION_STORAGE=storage)
    robot = WeRoBot(config=config)

    @robot.text
    def answer(message, session):
        session["count"] = session.get("count", 0) + 1
        return reply_text(message.content, session["count"])

    return robot


class WithCounters:
    """WSGI wrapper: GET /_bench/stats reads the handler's turns, POST /_bench/mark zeroes them."""

    def __init__(self, robot: WeRoBot, counters):
        self.app, self.counters = robot.wsgi, counters
        handle = robot.get_reply

        def counted_reply(message):
            try:
                return handle(message)
            finally:
                with counters.lock:
                    counters.turns += 1

        robot.get_reply = counted_reply

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_bench/"):
            return self.app(environ, start_response)
        if path == "/_bench/mark":
            self.counters.reset()
        body = json.dumps(self.counters.as_dict()).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def session_counts(session_file: str) -> dict[str, int]:
    """Each person's message count as WeRoBot stored it in its session table."""
    import sqlite3

    with sqlite3.connect(session_file) as db:
        rows = db.execute("SELECT id, value FROM WeRoBot").fetchall()
    return {_text(key): json.loads(value).get("count", 0) for key, value in rows}


def _text(key) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)
