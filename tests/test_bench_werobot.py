import sqlite3

from benchmarks.callbacks import Measured, Requests, Server, check_werobot
from benchmarks.werobot_app import create_werobot, reply_text, session_counts
from tests.wecom_client_side import open_reply
from tests.wecom_keys import AES_KEY, CORP_ID, TOKEN


def _say(server: Server, gen: Requests, userid: str, text: str) -> str:
    _, query, body = gen.envelope(userid, text)
    answer = server.post(query, body)
    assert answer.status_code == 200
    return open_reply(answer.text)


def test_werobot_fixture_answers_encrypted_callbacks_counting_them_in_its_session(tmp_path):
    sessions = str(tmp_path / "werobot_session.sqlite3")
    server, gen = Server("werobot", sessions), Requests(threads=1)
    try:
        assert _say(server, gen, "u01clerk", "你好") == reply_text("你好", 1)
        before = session_counts(sessions)
        server.counters(mark=True)
        assert _say(server, gen, "u02clerk", "填报") == reply_text("填报", 1)
        assert _say(server, gen, "u01clerk", "6") == reply_text("6", 2)
        assert session_counts(sessions) == {"u01clerk": 2, "u02clerk": 1}
        measured = Measured(rate=0.0, wrk={}, stats=server.counters())
        check_werobot(server, gen, measured, sessions, before, "u01clerk")
        assert (measured.checked, measured.sample) == ((2, 2), "ok")
        assert session_counts(sessions) == {"u01clerk": 3, "u02clerk": 1}
    finally:
        server.stop()


def test_werobot_fixture_refuses_a_forged_signature(tmp_path):
    sessions = str(tmp_path / "werobot_session.sqlite3")
    server, gen = Server("werobot", sessions), Requests(threads=1)
    try:
        _, query, body = gen.envelope("u01clerk", "你好")
        assert server.post(query.replace("msg_signature=", "msg_signature=0"), body).status_code != 200
        assert server.post(query.rsplit("&signature=", 1)[0], body).status_code == 403
        assert session_counts(sessions) == {}
    finally:
        server.stop()


def test_werobot_session_keeps_its_own_journal_unless_asked_for_the_services_wal(tmp_path):
    modes = {}
    for wal in (False, True):
        create_werobot(TOKEN, AES_KEY, CORP_ID, str(tmp_path / f"{wal}.sqlite3"), wal=wal)
        with sqlite3.connect(tmp_path / f"{wal}.sqlite3") as db:
            modes[wal] = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert modes == {False: "delete", True: "wal"}
