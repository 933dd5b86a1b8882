"""The fake WeCom in a child process for benchmarks, and a floor: bare message/send calls over one connection."""

# The real WeCom runs on Tencent's machines, not in the sender's process: in-process, the fake's HTTP
# server would take the sender's GIL for about a quarter of a millisecond per call. The child still counts
# every delivery (the same FakeWeCom), and hands its counts back for the benchmark to check.

from __future__ import annotations

import http.client
import json
import multiprocessing
import time
from collections import Counter
from urllib.parse import urlsplit

from tests.fakes.wecom_server import FakeWeCom


def _serve(conn) -> None:
    with FakeWeCom() as fake:
        conn.send(fake.base_url)
        while (command := conn.recv()) != "stop":
            if command == "reset":
                fake.reset()
                conn.send(None)
            else:
                sends = fake.calls_to("message/send")
                conn.send(dict(calls=len(sends), messages=fake.messages(), duplicates=fake.duplicates))


class FakeProcess:
    """`with FakeProcess() as fake:` — base_url, report() (calls, messages Counter, duplicates), reset()."""

    def __enter__(self) -> FakeProcess:
        context = multiprocessing.get_context("spawn")  # no inherited engines or threads
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        self.base_url = self._conn.recv()
        return self

    def report(self) -> dict:
        self._conn.send("report")
        return self._conn.recv()

    def reset(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    def __exit__(self, *exc) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)


class InProcess:
    """The same interface over an in-process FakeWeCom (`--fake-in-process`, to compare)."""

    def __enter__(self) -> InProcess:
        self.fake = FakeWeCom()
        self.base_url = self.fake.base_url
        return self

    def report(self) -> dict:
        sends = self.fake.calls_to("message/send")
        return dict(calls=len(sends), messages=self.fake.messages(), duplicates=self.fake.duplicates)

    def reset(self) -> None:
        self.fake.reset()

    def __exit__(self, *exc) -> None:
        self.fake.close()


def floor(base_url: str, messages: list[tuple[str, list[str]]]) -> float:
    """Seconds for bare message/send calls, one after another over one keep-alive connection from one
    thread (no database, no pool): what the same texts cost at the protocol alone, in this run."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    conn.request("GET", f"{parts.path}gettoken?corpid=floor&corpsecret=floor")
    token = json.loads(conn.getresponse().read())["access_token"]
    started = time.perf_counter()
    for text, users in messages:
        body = {"msgtype": "text", "text": {"content": text}, "touser": "|".join(users), "agentid": 1}
        conn.request(
            "POST", f"{parts.path}message/send?access_token={token}", json.dumps(body, ensure_ascii=False).encode()
        )
        json.loads(conn.getresponse().read())
    took = time.perf_counter() - started
    conn.close()
    return took


def expected_messages(texts_by_user: dict[str, str]) -> Counter:
    """What the fake should have counted: each person once, with their text (as FakeWeCom.messages keys)."""
    return Counter(
        {(u, json.dumps({"content": t}, sort_keys=True, ensure_ascii=False)): 1 for u, t in texts_by_user.items()}
    )
