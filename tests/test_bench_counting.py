"""The callbacks benchmark counts SQL statements only in the run it asks to count: its listener costs the turn."""

import argparse

from benchmarks.callbacks import Requests, Server, prepare
from tests.wecom_client_side import open_reply


def test_the_turn_server_counts_statements_only_while_asked_to(tmp_path):
    url = f"sqlite:///{tmp_path}/bench.db"
    clerks = prepare(url, argparse.Namespace(units=4, clerks_per_unit=2))
    server, gen = Server("turn", url), Requests(threads=1)
    try:

        def say(text: str) -> str:
            _, query, body = gen.envelope(clerks[0].userid, text)
            answer = server.post(query, body)
            assert answer.status_code == 200
            return open_reply(answer.text)

        server.counters(mark=True, count=True)
        assert "开始填写统计表" in say("填报")
        counted = server.counters()  # and no longer counted
        assert counted["turns"] == 1 and counted["turn_statements"] >= 5, counted
        server.counters(mark=True)
        assert "已记录" in say("2")
        after = server.counters()
        assert after["turns"] == 1 and after["statements"] == 0, after
        server.counters(mark=True, count=True)
        assert "已记录" in say("2")
        assert server.counters()["turn_statements"] >= 5
    finally:
        server.stop()
