import threading
import time

import pytest
from sqlmodel import select

from bot.channels import wecom_app
from storage.models import Outbox
from tests.wecom_bot_side import bot_opened, bot_signed, bot_text
from tests.wecom_client_side import envelope, text_xml

HELD_S = 1.5


@pytest.fixture
def slow_database(sqlite_services, monkeypatch):
    """Every write waits HELD_S for a transaction held elsewhere; the guard is shortened to match."""
    monkeypatch.setattr(wecom_app, "ANSWER_WITHIN_S", 0.3)
    started, released = threading.Event(), threading.Event()

    def hold():
        with sqlite_services.db.write():
            started.set()
            time.sleep(HELD_S)
        released.set()

    def slow():
        threading.Thread(target=hold, daemon=True).start()
        started.wait(5)
        return released

    return slow


def test_slow_app_message_is_answered_empty_in_time_and_its_reply_follows_by_outbox(
    sqlite_edge, sqlite_services, slow_database
):
    released = slow_database()
    params, body = envelope(text_xml("wangfang", "帮助", 501))
    began = time.monotonic()
    answer = sqlite_edge.post("/wecom/callback", params=params, content=body)
    assert time.monotonic() - began < HELD_S
    assert (answer.status_code, answer.text) == (200, "")
    released.wait(5)
    assert _eventually(lambda: _late_rows(sqlite_services))
    row = _late_rows(sqlite_services)[0]
    assert row.key == "app:msg:wangfang:501#late0" and "填报" in row.content and row.recipients == ["wangfang"]


def test_slow_bot_message_gets_an_unfinished_stream_in_time_and_the_answer_on_refresh(
    sqlite_edge, sqlite_services, slow_database
):
    released = slow_database()
    params, body = bot_signed(bot_text("wangfang", "帮助", "slow1"))
    began = time.monotonic()
    first = bot_opened(sqlite_edge.post("/wecom/bot/callback", params=params, content=body).text)["stream"]
    assert time.monotonic() - began < HELD_S
    assert first["finish"] is False and "正在处理" in first["content"]
    released.wait(5)

    def refreshed():
        refresh = {"msgid": "r1", "from": {"userid": "wangfang"}, "msgtype": "stream", "stream": {"id": first["id"]}}
        params, body = bot_signed(refresh)
        return bot_opened(sqlite_edge.post("/wecom/bot/callback", params=params, content=body).text)["stream"]

    assert _eventually(lambda: refreshed()["finish"])
    assert "填报" in refreshed()["content"] and refreshed()["id"] == first["id"]


def test_a_stream_refresh_for_another_persons_stream_is_refused(sqlite_edge):
    params, body = bot_signed(bot_text("wangfang", "帮助", "own1"))
    mine = bot_opened(sqlite_edge.post("/wecom/bot/callback", params=params, content=body).text)["stream"]
    for userid, stream_id, status in (("liqiang", mine["id"], 400), ("wangfang", "!!not-base64", 400)):
        refresh = {"msgid": "r2", "from": {"userid": userid}, "msgtype": "stream", "stream": {"id": stream_id}}
        params, body = bot_signed(refresh)
        assert sqlite_edge.post("/wecom/bot/callback", params=params, content=body).status_code == status


def _late_rows(services) -> list[Outbox]:
    with services.db.read() as session:
        return list(session.exec(select(Outbox).where(Outbox.source == "late-reply")))


def _eventually(condition, within_s: float = 10) -> bool:
    give_up = time.monotonic() + within_s
    while time.monotonic() < give_up:
        if condition():
            return True
        time.sleep(0.05)
    return False
