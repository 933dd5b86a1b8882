"""Benchmark: encrypted WeCom app callbacks answered by one uvicorn process on loopback, and their latency.

Run as `python -m benchmarks.callbacks [--seconds 20] [--concurrency 16] [--db sqlite|postgres]`. Each load
thread plays a different clerk at a time through a whole conversation, every line a real encrypted callback
with its own MsgId; about 5 % of the requests are WeCom's redeliveries of an earlier (params, body). It
measures and prints; it asserts nothing about speed. WeCom waits 5 s for an answer (wecom.md §1.3).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import socket
import statistics
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import requests

from benchmarks.reminders import pg_database
from bot.operations import load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from storage.campaign import DEFAULT_CAMPAIGN
from storage.clock import FixedClock
from storage.migrate import upgrade
from tests.bulk_roster import add_roster
from tests.fakes.wecom_server import FakeWeCom
from tests.wecom_client_side import AES_KEY, CORP_ID, TOKEN, envelope, open_reply, text_xml

AT = datetime(2013, 12, 12, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # self-check phase: entries are open
WECOM_WAITS_S = 5.0
SENTENCE = "党委会6次，政治学习二十四次"
# One clerk's conversation, and a piece of text each answer must hold (proof that the work was done).
CONVERSATION = (
    ("填报", "开始填写统计表"),
    ("6", "已记录"),
    ("12", "已记录"),
    ("2", "已记录"),
    ("进度", "表一 统计表"),
    (SENTENCE, "请核对"),
    ("确认", "已保存"),
)
REQUEST_TIMEOUT_S = 15.0
_msg_ids = itertools.count(int(time.time()) * 1_000_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the measured run")
    parser.add_argument("--concurrency", type=int, default=16, help="load threads, each one clerk at a time")
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="postgres makes a fresh database on the server KAOHE_TEST_PG_URL names",
    )
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--clerks-per-unit", type=int, default=2)
    parser.add_argument("--redeliver", type=float, default=0.05, help="share of requests that are redeliveries")
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop early after this many requests")
    parser.add_argument(
        "--no-sender",
        action="store_true",
        help="no outbox sender thread in the app (as the web workers of `kaohe serve --workers N`)",
    )
    parser.add_argument(
        "--baseline",
        type=float,
        default=5.0,
        help="seconds of the dispatcher alone, in-process and single-threaded (0: skip)",
    )
    args = parser.parse_args()
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite", f"sqlite:///{tmp}/bench.db", args)
    else:
        server = os.environ.get("KAOHE_TEST_PG_URL")
        if not server:
            parser.error(
                "--db postgres needs KAOHE_TEST_PG_URL, e.g. postgresql+psycopg://kaohe:kaohe@127.0.0.1:5432/postgres"
            )
        with pg_database(server) as url:
            run("PostgreSQL", url, args)


def run(label: str, url: str, args) -> None:
    t0 = time.perf_counter()
    upgrade(url)
    services = build_services(load_settings(database_url=url, _env_file=None), clock=FixedClock(AT))
    load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    clerks = add_roster(services.db, units=args.units, clerks_per_unit=args.clerks_per_unit, groups=40)
    services.close()
    print(f"prepared {label}: {args.units} units, {len(clerks)} clerks in {time.perf_counter() - t0:.1f} s", flush=True)
    # One clerk per unit, so no two threads fill the same unit at once (that would be the conflict
    # path, "刚刚被…改为"); the load plays the first half of the units, the dispatcher alone the rest.
    firsts = clerks[:: args.clerks_per_unit]
    load_clerks, spare_clerks = firsts[: len(firsts) // 2], firsts[len(firsts) // 2 :]
    with FakeWeCom() as fake, AppProcess(url, fake.base_url, sender=not args.no_sender) as server:
        result = load(server.base_url, load_clerks, args, server)
    result.outbox = outbox_rows(url)
    result.outbox_sends = len(fake.calls_to("message/send"))
    baseline = dispatcher_alone(url, spare_clerks, args.baseline) if args.baseline > 0 else None
    crypto_us = crypto_alone()
    report(label, args, result, server.stats, baseline, crypto_us)


# --- the app in its own process ----------------------------------------------------------------------


class AppProcess:
    """create_app under uvicorn in a spawned process, on a loopback port the OS picks; stops when told."""

    def __init__(self, url: str, api_base: str, sender: bool = True):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(url, api_base, child, sender), name="kaohe-bench-app", daemon=True
        )
        self.stats: dict = {}

    def __enter__(self) -> AppProcess:
        self._proc.start()
        if not self._conn.poll(120):
            self._proc.kill()
            raise RuntimeError("the app process did not report its port within 120 s")
        self.base_url = f"http://127.0.0.1:{self._conn.recv()}"
        deadline = time.monotonic() + 30
        while True:  # the port is bound before uvicorn starts; wait until it answers
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or not self._proc.is_alive():
                self.__exit__()
                raise RuntimeError("the app did not become healthy within 30 s")
            time.sleep(0.05)

    def mark(self) -> None:
        """Start of the measured window: the app forgets its timings so far."""
        self._conn.send("mark")

    def __exit__(self, *exc) -> None:
        if self._proc.is_alive():
            self._conn.send("stop")
            if self._conn.poll(30):
                self.stats = self._conn.recv()
            self._proc.join(30)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)


def _serve(url: str, api_base: str, conn, sender: bool) -> None:
    """The child: the real app with its outbox sender pointed at the parent's fake WeCom, no scheduler."""
    import logging

    import uvicorn

    from bot.app import create_app

    logging.basicConfig(level=logging.WARNING)
    settings = load_settings(
        database_url=url,
        corp_id=CORP_ID,
        token=TOKEN,
        aes_key=AES_KEY,
        secret="bench",
        agent_id=1000002,
        api_base=api_base,
        _env_file=None,
    )
    services = build_services(settings, clock=FixedClock(AT))
    dispatch_s: list[float] = []
    plain_dispatch = services.dispatcher.dispatch

    def timed_dispatch(inbound, passive_bytes=None):  # measurement only: the same call, timed
        started = time.perf_counter()
        try:
            return plain_dispatch(inbound, passive_bytes)
        finally:
            dispatch_s.append(time.perf_counter() - started)

    services.dispatcher.dispatch = timed_dispatch
    sender_rounds = [0, 0]  # outbox sender transactions, and those that found rows
    plain_pump = services.sender.pump

    def counted_pump() -> int:
        handled = plain_pump()
        sender_rounds[0] += 1
        sender_rounds[1] += bool(handled)
        return handled

    services.sender.pump = counted_pump
    app = _TimedCallbacks(create_app(settings, services=services, sender=sender, scheduler=False))
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted sockets only when their
    # proto says TCP, and without it every keep-alive answer waits ~40 ms for a delayed ACK. `kaohe
    # serve` (one worker) gets proto 6 from getaddrinfo; uvicorn's own bind_socket(), used for
    # --workers N, leaves it at 0 (uvicorn issue #3149).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    cpu_mark = [time.process_time(), time.perf_counter()]

    def listen() -> None:
        while True:
            order = conn.recv()
            if order == "mark":
                dispatch_s.clear()
                sender_rounds[:] = [0, 0]
                app.seconds.clear()
                cpu_mark[:] = [time.process_time(), time.perf_counter()]
            elif order == "stop":
                cpu_mark[:] = [time.process_time() - cpu_mark[0], time.perf_counter() - cpu_mark[1]]
                server.should_exit = True
                return

    threading.Thread(target=listen, name="bench-control", daemon=True).start()
    conn.send(sock.getsockname()[1])
    server.run(sockets=[sock])
    services.close()
    conn.send(
        {
            "dispatch_s": list(dispatch_s),
            "request_s": list(app.seconds),
            "cpu_s": cpu_mark[0],
            "wall_s": cpu_mark[1],
            "threads_peak": app.peak,
            "sender": sender,
            "sender_rounds": list(sender_rounds),
        }
    )


class _TimedCallbacks:
    """ASGI wrapper timing each POST /wecom/callback from the app's first byte in to its last byte out."""

    def __init__(self, app):
        self.app, self.seconds, self.peak, self._inflight = app, [], 0, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/wecom/callback":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        self._inflight += 1
        self.peak = max(self.peak, self._inflight)
        try:
            await self.app(scope, receive, send)
        finally:
            self._inflight -= 1
            self.seconds.append(time.perf_counter() - started)


# --- the load --------------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float  # seconds since the start of the window
    seconds: float  # latency: request out to whole answer in
    status: int  # HTTP status, 0 for a transport error or timeout
    redelivery: bool
    ok: bool  # the decrypted answer held what this step must say (a redelivery: same as the first)
    step: int
    empty: bool = False  # 200 with an empty body


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    conversations: int = 0
    window_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_busy: float | None = None  # share of all cores busy during the window (Linux /proc/stat)
    sample_reply: tuple[str, str, str] = ("", "", "")
    unexpected: list[tuple[str, str, str]] = field(default_factory=list)
    outbox: dict = field(default_factory=dict)
    outbox_sends: int = 0


def load(base_url: str, clerks: list[str], args, server: AppProcess) -> LoadResult:
    """`concurrency` threads, thread i playing clerks i, i+c, i+2c… one whole conversation after another."""
    result = LoadResult()
    lock = threading.Lock()
    ready = threading.Barrier(args.concurrency + 1)
    window = {}
    budget = itertools.count()  # shared cap on requests, so the run is bounded in count as well as time

    def worker(index: int) -> None:
        rng = random.Random(index)
        session = requests.Session()
        url = f"{base_url}/wecom/callback"
        samples: list[Sample] = []
        history: deque = deque(maxlen=32)
        conversations = 0
        params, body = envelope(text_xml(clerks[index], "帮助", next(_msg_ids)))
        try:  # warm-up, not measured: a connection and one answer
            session.post(url, params=params, data=body, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException:
            pass
        ready.wait()
        ready.wait()  # the main thread has marked the window
        start, deadline = window["start"], window["deadline"]
        for turn in itertools.count():
            userid = clerks[(index + turn * args.concurrency) % len(clerks)]
            finished = True
            for step, (text, expected) in enumerate(CONVERSATION):
                if time.perf_counter() >= deadline or next(budget) >= args.max_requests:
                    finished = False
                    break
                if history and rng.random() < args.redeliver:
                    params, body, first, first_step = rng.choice(history)
                    sample, reply = _post(session, url, params, body, start, True, first_step)
                    sample.ok = reply == first
                    samples.append(sample)
                    if not sample.ok and reply:
                        with lock:
                            result.unexpected.append((userid, "redelivery", reply))
                params, body = envelope(text_xml(userid, text, next(_msg_ids)))
                sample, reply = _post(session, url, params, body, start, False, step)
                sample.ok = expected in reply
                samples.append(sample)
                if sample.status == 200 and reply:  # a deferred (empty) answer is not one to compare
                    history.append((params, body, reply, step))
                if not sample.ok and reply:
                    with lock:
                        result.unexpected.append((userid, text, reply))
                if step == len(CONVERSATION) - 1 and sample.ok and not result.sample_reply[0]:
                    result.sample_reply = (userid, text, reply)
            if not finished:
                break
            conversations += 1
        session.close()
        with lock:
            result.samples += samples
            result.conversations += conversations

    threads = [threading.Thread(target=worker, args=(i,), name=f"clerk-{i}") for i in range(args.concurrency)]
    for t in threads:
        t.start()
    ready.wait()
    server.mark()
    cpu, machine = time.process_time(), _machine_ticks()
    window["start"] = time.perf_counter()
    window["deadline"] = window["start"] + args.seconds
    ready.wait()
    for t in threads:
        t.join(args.seconds + 2 * REQUEST_TIMEOUT_S)
    result.window_s = time.perf_counter() - window["start"]
    result.client_cpu_s = time.process_time() - cpu
    after = _machine_ticks()
    if machine and after:
        result.machine_busy = 1 - (after[0] - machine[0]) / max(after[1] - machine[1], 1)
    return result


def _machine_ticks() -> tuple[int, int] | None:
    """(idle + iowait, total) jiffies of all cores, or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + fields[4], sum(fields[:8])


def outbox_rows(url: str) -> dict:
    """What the run left in the outbox, by source and status (late replies land there)."""
    from sqlalchemy import func, select

    from storage.db import Database
    from storage.models import Outbox

    db = Database(url)
    with db.read() as session:
        rows = session.execute(
            select(Outbox.source, Outbox.status, func.count()).group_by(Outbox.source, Outbox.status)
        )
        counts = {f"{source}/{status}": n for source, status, n in rows}
    db.dispose()
    return counts


def _post(session, url, params, body, start, redelivery, step) -> tuple[Sample, str]:
    sent = time.perf_counter()
    try:
        answer = session.post(url, params=params, data=body, timeout=REQUEST_TIMEOUT_S)
        status, text = answer.status_code, answer.text
    except requests.RequestException:
        status, text = 0, ""
    done = time.perf_counter()
    reply = ""
    if status == 200 and text:
        try:
            reply = open_reply(text)
        except Exception as exc:
            reply = f"<undecryptable: {exc!r}>"
    return Sample(sent - start, done - sent, status, redelivery, False, step, status == 200 and not text), reply


# --- the parts alone, for the breakdown ------------------------------------------------------------


def dispatcher_alone(url: str, clerks: list[str], seconds: float) -> dict:
    """The same conversations straight into Dispatcher.dispatch: no HTTP, no crypto, one thread."""
    from handlers.base import Inbound

    services = build_services(load_settings(database_url=url, _env_file=None), clock=FixedClock(AT))
    took: list[float] = []
    deadline = time.perf_counter() + seconds
    for userid in itertools.cycle(clerks):
        if time.perf_counter() >= deadline or len(took) >= 100_000:
            break
        for text, _ in CONVERSATION:
            inbound = Inbound("app", userid, text, f"app:msg:{next(_msg_ids)}")
            started = time.perf_counter()
            services.dispatcher.dispatch(inbound, 2048)
            took.append(time.perf_counter() - started)
    services.close()
    return {"count": len(took), "seconds": sum(took), "p50": _pct(took, 50), "p95": _pct(took, 95)}


def crypto_alone(rounds: int = 2000) -> float:
    """Microseconds for the app's own crypto per callback: check, decrypt, parse, build and encrypt the reply."""
    from bot.channels.wecom_api import CallbackCrypto

    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    params, body = envelope(text_xml("b00000c0", SENTENCE, 1))
    reply = "请核对：\n· 党委会：6 次\n· 政治学习：24 次\n回复「确认」保存，回复「修改」重新输入。"
    started = time.perf_counter()
    for _ in range(rounds):
        message = crypto.decrypt_xml(body, params["msg_signature"], params["timestamp"], params["nonce"])
        plain = crypto.text_reply_xml(message["FromUserName"], CORP_ID, reply, 1386813600)
        crypto.encrypt_reply_xml(plain, params["nonce"], params["timestamp"])
    return (time.perf_counter() - started) / rounds * 1e6


# --- the report ------------------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile, in the values' unit; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"p50 {_pct(values, 50) * 1e3:7.1f}  p95 {_pct(values, 95) * 1e3:7.1f}  "
        f"p99 {_pct(values, 99) * 1e3:7.1f}  max {max(values) * 1e3:7.1f}  mean {statistics.fmean(values) * 1e3:6.1f}"
    )


def report(label: str, args, r: LoadResult, stats: dict, baseline: dict | None, crypto_us: float) -> None:
    samples = r.samples
    fresh = [s for s in samples if not s.redelivery]
    again = [s for s in samples if s.redelivery]
    answered = [s for s in samples if s.status == 200]
    window = max(r.window_s, 1e-9)
    per_step = {
        text: [s.seconds for s in fresh if s.step == i and s.status == 200] for i, (text, _) in enumerate(CONVERSATION)
    }
    conversation = " → ".join(f"「{t}」" for t, _ in CONVERSATION)
    lines = [
        "",
        f"== WeCom app callbacks: {label}, one uvicorn process, {args.concurrency} load threads, {r.window_s:.1f} s ==",
        f"roster          {args.units} units, {args.units * args.clerks_per_unit} clerks; clock fixed at "
        f"{AT:%Y-%m-%d %H:%M} Asia/Shanghai; replay guard on (600 s)",
        f"conversation    {conversation}",
        f"requests        {len(samples)}: {len(fresh)} fresh + {len(again)} redeliveries "
        f"({len(again) / max(len(samples), 1):.1%}); {r.conversations} whole conversations",
        f"throughput      {len(samples) / window:.1f} callbacks/s ({len(fresh) / window:.1f} fresh/s)",
        f"latency ms      all          {_ms([s.seconds for s in answered])}",
        f"                fresh        {_ms([s.seconds for s in fresh if s.status == 200])}",
        f"                redelivered  {_ms([s.seconds for s in again if s.status == 200])}",
        f"non-200         {sum(s.status != 200 for s in samples)} "
        f"({sum(s.status == 0 for s in samples)} transport errors or timeouts)",
        f"over 5 s        {sum(s.seconds > WECOM_WAITS_S for s in samples)} "
        f"(over the app's own 4 s cut-off: {sum(s.seconds > 4.0 for s in samples)})",
        f"answers checked {sum(s.ok for s in fresh)}/{len(fresh)} fresh held what their step says; "
        f"{sum(s.ok for s in again)}/{len(again)} redeliveries got the first answer again",
        f"empty answers   {sum(s.status == 200 and not s.ok and s.empty for s in samples)} "
        f"(the app's answer-later path: past 4 s it answers empty and queues the reply)",
        f"outbox rows     {', '.join(f'{k} {v}' for k, v in sorted(r.outbox.items())) or 'none'}; "
        f"{r.outbox_sends} message/send calls reached the fake WeCom",
    ]
    lines.append(
        "per step, ms    "
        + "\n                ".join(
            f"{text[:8]:<8} n={len(v):<5} p50 {_pct(v, 50) * 1e3:6.1f}  p95 {_pct(v, 95) * 1e3:6.1f}"
            for text, v in per_step.items()
        )
    )
    if stats:
        lines += [
            f"in the app      whole callback {_ms(stats['request_s'])}",
            f"                dispatcher     {_ms(stats['dispatch_s'])}",
            f"                peak callbacks in flight {stats['threads_peak']}",
            "outbox sender   "
            + (
                f"{stats['sender_rounds'][0]} rounds (write transactions), "
                f"{stats['sender_rounds'][1]} found rows to send"
                if stats["sender"]
                else "off"
            ),
        ]
        lines.append(
            f"CPU             app {stats['cpu_s']:.1f} s ({stats['cpu_s'] / max(stats['wall_s'], 1e-9):.0%} "
            f"of one core); load generator {r.client_cpu_s:.1f} s "
            f"({r.client_cpu_s / window:.0%} of one core); machine "
            + (f"{r.machine_busy:.0%} busy" if r.machine_busy is not None else "n/a")
            + f" of {os.cpu_count()} cores (the database server included)"
        )
    if baseline:
        lines.append(
            f"dispatcher alone  {baseline['count'] / max(baseline['seconds'], 1e-9):.0f} msg/s on one thread, "
            f"p50 {baseline['p50'] * 1e3:.1f} ms, p95 {baseline['p95'] * 1e3:.1f} ms "
            f"({baseline['count']} messages, no HTTP, no crypto)"
        )
    lines.append(f"crypto alone    {crypto_us:.0f} µs per callback (check + decrypt + parse + encrypt the reply)")
    userid, said, reply = r.sample_reply
    if userid:
        lines.append(f"sample answer   {userid} said 「{said}」, decrypted passive reply:")
        lines += [f"                | {line}" for line in reply.splitlines()]
    for userid, said, reply in r.unexpected[:3]:
        lines.append(f"UNEXPECTED      {userid} 「{said}」 → {reply[:120]!r}")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
