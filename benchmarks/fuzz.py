"""`make fuzz`: hostile requests against a real `kaohe serve` on loopback; 0 5xx and bounded memory are the bar.

`python -m benchmarks.fuzz [--requests 100000] [--workers 6] [--api-share 0.15]`. Starts `kaohe demo` and
`kaohe serve --no-scheduler` (both callbacks on, an admin token) in a temporary folder, then sends
hypothesis-drawn callbacks for both channels (benchmarks/fuzz_inputs.py: random bytes, junk ciphertext,
signed junk, unstorable characters in every field, entity declarations, deep nesting, oversized and
chunked bodies, replayed and stale timestamps, `]]>` that comes back in a reply), schemathesis cases for
the JSON API (positive and negative, from /openapi.json), and bodies shorter than their Content-Length.
Prints the status histogram per kind, time-outs, replies that failed to carry `]]>` back, the server's
RSS before and after, and its ERROR lines. Exits 1 on any 5xx or server ERROR; never for slowness.
"""

from __future__ import annotations

import argparse
import queue
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_inputs import APP, BATCH, Req, callbacks
from tests.kaohe_process import CALLBACK_ENV, KaoheServe, run_kaohe
from tests.wecom_bot_side import bot_opened
from tests.wecom_client_side import open_reply

ADMIN_TOKEN = "fuzzAdminToken1"
DONE = object()


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status: dict[str, Counter] = defaultdict(Counter)
        self.timeouts = self.echo_bad = self.sent = 0
        self.five: list[str] = []

    def add(self, kind: str, status: int | str, note: str = "") -> None:
        with self.lock:
            self.sent += 1
            self.status[kind][status] += 1
            if isinstance(status, int) and status >= 500:
                self.five.append(f"{kind} {status} {note}"[:300])


def produce(strategy, count: int, out: queue.Queue) -> None:
    """Draw `count` examples with hypothesis (generation only: no shrinking, no example database)."""

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(item):
        for one in item if isinstance(item, list) else [item]:
            out.put(one)

    draw()


def send(session: requests.Session, base: str, item, tally: Tally) -> None:
    if isinstance(item, Req):
        return _send_callback(session, base, item, tally)
    kwargs = item.as_transport_kwargs(base_url=base)
    kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        answer = session.request(**kwargs, timeout=30)
    except requests.Timeout:
        tally.timeouts += 1
        return tally.add("api", "timeout")
    except requests.RequestException as exc:
        return tally.add("api", type(exc).__name__)
    tally.add(f"api {item.method} {item.path}", answer.status_code, str(kwargs)[:200])


def _send_callback(session: requests.Session, base: str, r: Req, tally: Tally) -> None:
    raw = body = r.body
    if r.chunked and raw is not None:
        body = (raw[i : i + 4096] for i in range(0, len(raw), 4096))
    try:
        answer = session.request(r.method, base + r.path, params=r.params, data=body, timeout=30)
    except requests.Timeout:
        tally.timeouts += 1
        return tally.add(r.kind, "timeout")
    except requests.RequestException as exc:
        return tally.add(r.kind, type(exc).__name__)
    tally.add(
        f"{'app' if r.path == APP else 'bot'} {r.kind}", answer.status_code, repr(r.body[:200] if r.body else r.params)
    )
    if r.expect_echo and answer.status_code == 200:
        _check_echo(r, answer.text, tally)


def _check_echo(r: Req, text: str, tally: Tally) -> None:
    try:
        reply = open_reply(text) if r.path == APP else bot_opened(text)["stream"]["content"]
    except Exception as exc:  # any failure to open the reply is what this counts
        reply = f"(reply does not open: {exc!r})"
    if r.expect_echo not in reply:
        with tally.lock:
            tally.echo_bad += 1
            tally.five.append(f"{r.expect_echo!r} not carried back: {reply[:160]!r}")


def short_bodies(port: int, count: int, tally: Tally) -> None:
    """Bodies shorter than their Content-Length on kept-open connections: each must be answered and closed."""
    for i in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            path = APP if i % 2 else "/api/sim/send"
            conn.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 999\r\n\r\n<xml>".encode())
            try:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                tally.add("short body", int(data[9:12]) if data[:5] == b"HTTP/" else "no answer")
            except TimeoutError:
                tally.timeouts += 1
                tally.add("short body", "timeout")


def api_strategy(base: str):
    import schemathesis
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    ops = [op.ok() for op in schema.get_all_operations()]
    cases = st.one_of(*[op.as_strategy(generation_mode=mode) for op in ops for mode in GenerationMode])
    return st.lists(cases, min_size=BATCH, max_size=BATCH), len(ops)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--api-share", type=float, default=0.15)
    parser.add_argument("--short-bodies", type=int, default=40)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server it started is stopped too
    with tempfile.TemporaryDirectory(prefix="kaohe-fuzz-") as tmp:
        return run(Path(tmp), args)


def run(tmp: Path, args) -> int:
    url = f"sqlite:///{tmp / 'kaohe.db'}"
    assert run_kaohe(tmp, url, "demo", "--campaign-out", tmp / "demo.toml").returncode == 0
    env = {
        **CALLBACK_ENV,
        "KAOHE_DATABASE_URL": url,
        "KAOHE_CAMPAIGN": str(tmp / "demo.toml"),
        "KAOHE_ADMIN_TOKEN": ADMIN_TOKEN,
        "KAOHE_BODY_TIMEOUT_S": "2",
    }
    server = KaoheServe(tmp, env, args=("--no-scheduler",))
    try:
        return _load(server, args)
    finally:
        server.stop()


def _load(server: KaoheServe, args) -> int:
    tally, work = Tally(), queue.Queue(maxsize=2000)
    api, operations = api_strategy(server.url)
    n_api = int(args.requests * args.api_share)
    n_callbacks = args.requests - n_api - args.short_bodies
    rss = {"start": rss_mb(server.process.pid)}
    print(
        f"kaohe serve pid {server.process.pid} on {server.url}; {operations} API operations; RSS {rss['start']:.0f} MB"
    )

    def worker():
        with requests.Session() as session:
            while (item := work.get()) is not DONE:
                try:
                    send(session, server.url, item, tally)
                except Exception as exc:  # a client-side failure is counted, never the end of a worker
                    tally.add("client error", type(exc).__name__, repr(exc))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.workers)]
    for t in threads:
        t.start()
    began = time.monotonic()
    side = threading.Thread(target=short_bodies, args=(server.port, args.short_bodies, tally), daemon=True)
    side.start()
    half = n_callbacks // BATCH // 2
    for strategy, count in ((callbacks(), half), (api, n_api // BATCH), (callbacks(), n_callbacks // BATCH - half)):
        produce(strategy, count, work)
        rss[f"after {tally.sent}"] = rss_mb(server.process.pid)
    for _ in threads:
        work.put(DONE)
    for t in threads:
        t.join()
    side.join()
    took = time.monotonic() - began
    rss["end"] = rss_mb(server.process.pid)
    return report(server, tally, rss, took)


def report(server: KaoheServe, tally: Tally, rss: dict, took: float) -> int:
    print(f"\n{tally.sent} requests in {took:.0f} s ({tally.sent / took:.0f}/s)")
    totals = Counter()
    for kind in sorted(tally.status):
        print(f"  {kind:<40} " + "  ".join(f"{s}:{n}" for s, n in sorted(tally.status[kind].items(), key=str)))
        totals.update(tally.status[kind])
    print("status histogram: " + "  ".join(f"{s}:{n}" for s, n in sorted(totals.items(), key=str)))
    # uvicorn's own lines start with the level; an access line may hold "Traceback" as a generated path part.
    errors = [
        line for line in server.log().splitlines() if line.startswith(("ERROR", "Traceback")) or " ERROR " in line
    ]
    fives = sum(n for s, n in totals.items() if isinstance(s, int) and s >= 500)
    print(f"5xx: {fives}  time-outs: {tally.timeouts}  ]]> replies not carried back: {tally.echo_bad}")
    print("server RSS MB: " + "  ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    print(f"server ERROR lines: {len(errors)}")
    for line in tally.five[:10] + errors[:10]:
        print("   ", line)
    return 1 if fives or errors else 0


if __name__ == "__main__":
    sys.exit(main())
