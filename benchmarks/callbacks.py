"""Benchmark: a clerk's turn through /wecom/callback against its floor and WeRoBot, under wrk.

`python -m benchmarks.callbacks [--seconds 10] [--repeat 2] [--connections 32] [--db sqlite|postgres]`.
In one run, alternately: the echo floor (benchmarks/echo.py: check, decrypt, parse, encrypt, no database),
the real app answering 填报 questions (each request a fresh encrypted message, each answer saving an
entry with its version check and audit row), both in their own uvicorn process, and WeRoBot 1.13
(benchmarks/werobot_app.py: encrypted mode, its default SQLite session counting each person's messages,
a text reply) in its own waitress process, all loaded by wrk with pre-encrypted requests
(benchmarks/callbacks.lua). Prints throughput, the turn's share of the floor and its ratio to WeRoBot,
p50/p99, errors, the servers' RSS and SQL statements per turn; checks every stored answer, WeRoBot's
sessions against its handler calls and one of its replies, decrypted. It measures and prints; it asserts
nothing about speed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import insert, select

from benchmarks.callbacks_report import OPENING, SAVED, Measured, report, run_line
from benchmarks.reminders import on_chosen_database
from benchmarks.server import AT
from benchmarks.werobot_app import reply_text, session_counts
from bot.channels.wecom_fields import message_key
from bot.operations import load_campaign_file
from storage.campaign import DEFAULT_CAMPAIGN
from storage.db import Database
from storage.migrate import upgrade
from storage.models import ActivityEntry, ProcessedMessage, Unit
from tests.bulk_roster import add_roster
from tests.wecom_client_side import AES_KEY, CORP_ID, TOKEN, open_reply, text_xml

LUA = Path(__file__).with_name("callbacks.lua")


@dataclass
class Clerk:
    userid: str
    questions: int  # table 1 items for the unit's organisation type
    step: int = 0  # 0: 填报, then one answer per question
    round: int = 1  # answers of round r are r + 1: never lower than before, so 其中… never exceeds its parent
    # and never over 5: past the campaign's confirm_over_target (5) times an item's target of 1 the bot asks
    # "确认无误吗？" instead of saving (the generator runs ahead of wrk, so by a third run rounds reached 6)
    top: int = 5

    def next_text(self) -> tuple[str, str]:
        text, expected = ("填报", OPENING) if self.step == 0 else (str(min(self.round + 1, self.top)), SAVED)
        self.step += 1
        if self.step > self.questions:
            self.step, self.round = 0, self.round + 1
        return text, expected

    def resync(self) -> None:
        """A run stopped mid-form: start the next one with 填报 (which starts at item 1, all being filled)."""
        if self.step:
            self.step, self.round = 0, self.round + 1


class Requests:
    """Pre-encrypted callbacks written to a file for the Lua script, with what each answer must hold."""

    def __init__(self, threads: int):
        from bot.channels.wecom_api import CallbackCrypto

        self.threads, self.crypto = threads, CallbackCrypto(TOKEN, AES_KEY, CORP_ID, max_age_s=0)
        self.next_id = int(time.time()) * 1_000_000

    def envelope(self, userid: str, text: str) -> tuple[str, str, str]:
        self.next_id += 1
        # the service keys a message by channel, sender and MsgId (bot/channels/wecom_fields.py)
        key = message_key("app", "msg", userid, str(self.next_id))
        inner = text_xml(userid, text, self.next_id).encode()
        timestamp, nonce = str(int(time.time())), str(self.next_id % 1_000_000_007)
        encrypt = self.crypto._encrypt_with_random(inner, os.urandom(16))
        query = f"msg_signature={self.crypto._sign(timestamp, nonce, encrypt)}&timestamp={timestamp}&nonce={nonce}"
        # WeChat's plain signature of (token, timestamp, nonce), which WeRoBot checks before anything else;
        # WeCom does not send it and the service ignores it
        query += f"&signature={hashlib.sha1(''.join(sorted((TOKEN, timestamp, nonce))).encode()).hexdigest()}"
        body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return key, query, body

    def write(
        self, path: Path, count: int, pools: list[deque] | None, width: int = 1, users: tuple[str, ...] = ("echo",)
    ) -> dict[str, str]:
        """`count` lines; line i goes to wrk thread i % threads. Without pools: "6" from each of `users` in
        turn. With pools: each thread keeps `width` clerks of its pool in turn, each through a whole 填报
        (the opening and an answer per item), then takes the next clerk: one clerk's messages follow each
        other in order, `width` requests apart."""
        expected, lines = {}, []
        slots = [[pool.popleft() for _ in range(width)] for pool in pools] if pools else None
        for i in range(count):
            if slots is None:
                key, query, body = self.envelope(users[i % len(users)], "6")
            else:
                t, k = i % self.threads, (i // self.threads) % width
                clerk = slots[t][k]
                text, expected_text = clerk.next_text()
                key, query, body = self.envelope(clerk.userid, text)
                expected[key] = expected_text
                if clerk.step == 0:  # done with this 填报: to the back of the pool
                    pools[t].append(clerk)
                    slots[t][k] = pools[t].popleft()
            lines.append(f"{query}\t{body}\n")
        path.write_text("".join(lines))
        for t, pool in enumerate(pools or []):
            pool.extendleft(reversed(slots[t]))
        return expected


class Server:
    """`python -m benchmarks.server` in its own process; the port it prints is where it listens."""

    def __init__(self, app: str, url: str = "", *flags: str):  # url: the database (turn), the session (werobot)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", app, "--url", url, *flags], stdout=subprocess.PIPE, text=True
        )
        self.base = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"
        for _ in range(600):
            try:
                requests.get(f"{self.base}/_bench/stats", timeout=1)
                return
            except requests.ConnectionError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"benchmark server {app} did not answer")

    def post(self, query: str, body: str) -> requests.Response:
        return requests.post(f"{self.base}/wecom/callback?{query}", data=body.encode(), timeout=10)

    def counters(self, mark: bool = False, count: bool = False) -> dict:
        """The counters (then zeroed if `mark`); SQL statements are counted from now on if `count`, or not."""
        path = f"{'mark' if mark else 'stats'}?count={int(count)}"
        return requests.post(f"{self.base}/_bench/{path}", timeout=10).json()

    def cpu_s(self, system_only: bool = False) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[12]) if system_only else int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def measure(server: Server, file: Path, args, profile: str = "", seconds: float = 0, count: bool = False) -> Measured:
    """One wrk run of `seconds` (args.seconds); `count`: SQL statements counted in it (a listener, which costs)."""
    seconds = seconds or args.seconds
    server.counters(mark=True, count=count)
    spy = _profiler(server, profile, seconds) if profile else None
    cpu, sys_cpu, busy, children = server.cpu_s(), server.cpu_s(True), _machine_ticks(), os.times()
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{int(seconds)}s", "--timeout", "5s"]
    out = subprocess.run(
        [*cmd, "-s", str(LUA), server.base, "--", str(file), str(args.threads)], capture_output=True, text=True
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout}{out.stderr}")
    result = json.loads(line[4:])
    after = os.times()
    if spy is not None:
        spy.wait(60)
    m = Measured(rate=result["requests"] / (result["duration_us"] / 1e6), wrk=result)
    m.server_cpu_s, m.server_sys_s = server.cpu_s() - cpu, server.cpu_s(True) - sys_cpu
    m.wrk_cpu_s = (after.children_user + after.children_system) - (children.children_user + children.children_system)
    m.machine_busy = _busy_since(busy)
    m.stats, m.rss_mb = server.counters(), server.rss_mb()  # and counting stops
    return m


def _profiler(server: Server, path: str, seconds: int) -> subprocess.Popen:
    """py-spy (the `profile` extra) sampling the server for the run, as collapsed stacks in `path`."""
    cmd = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--pid",
        str(server.proc.pid),
        "--duration",
        str(seconds),
        "--rate",
        "250",
    ]
    # --gil: only the thread holding the GIL is sampled, so the stacks say where the CPU goes, not who waits
    return subprocess.Popen([*cmd, "--format", "raw", "--gil", "--nonblocking", "-o", path], stdout=subprocess.DEVNULL)


def _machine_ticks() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def _busy_since(before: tuple[int, int]) -> float:
    idle, total = _machine_ticks()
    return 1 - (idle - before[0]) / max(total - before[1], 1)


def prepare(url: str, args) -> list[Clerk]:
    """Schema, the 2013 campaign, the roster; every clerk's table 1 already filled once (so 填报 starts at 1)."""
    from handlers.tables import questions

    upgrade(url)
    db = Database(url)
    campaign, _ = load_campaign_file(db, DEFAULT_CAMPAIGN)
    userids = add_roster(db, units=args.units, clerks_per_unit=args.clerks_per_unit, groups=40)
    with db.write() as session:
        org = dict(session.execute(select(Unit.code, Unit.org_type)).all())
        rows = [
            dict(campaign_id=campaign.id, unit_code=code, key=q.key, count=1, updated_by="bench", updated_at=AT)
            for code, org_type in org.items()
            for q in questions(campaign, "activity", org_type)
        ]
        session.execute(insert(ActivityEntry), rows)
    db.dispose()
    firsts = userids[:: args.clerks_per_unit]  # one clerk a unit: no two fill the same unit at once
    count = {t: len(questions(campaign, "activity", t)) for t in set(org.values())}
    return [Clerk(u, count[org[u[:6].upper()]]) for u in firsts]


def check_answers(url: str, expected: dict[str, str]) -> tuple[int, int]:
    """(answers holding what their step says, answers stored) among this run's messages."""
    db = Database(url)
    with db.read() as session:
        rows = session.execute(select(ProcessedMessage.key, ProcessedMessage.replies)).all()
    db.dispose()
    mine = [(k, r) for k, r in rows if k in expected]
    wrong = [(k, r) for k, r in mine if not (r and expected[k] in r[0]["text"])]
    for key, replies in wrong[:3]:
        print(f"UNEXPECTED {key}: {replies[0]['text'][:160] if replies else 'no answer'!r}", flush=True)
    if expected and not mine:
        print(
            "WARNING: none of this run's message keys were found stored: the answer check checked nothing", flush=True
        )
    return len(mine) - len(wrong), len(mine)


def check_werobot(server: Server, gen: Requests, m: Measured, session_file: str, before: dict, user: str) -> None:
    """WeRoBot's sessions grew by one count per handler call of the run; one more message, decrypted, holds
    the text and the count its session says."""
    after = session_counts(session_file)
    m.checked = (sum(after.values()) - sum(before.values()), m.stats["turns"])
    _, query, body = gen.envelope(user, "样例")
    answer = server.post(query, body)
    want = reply_text("样例", after.get(user, 0) + 1)
    got = open_reply(answer.text) if answer.status_code == 200 and answer.text else f"HTTP {answer.status_code}"
    m.sample = "ok" if got == want else f"{got!r}, not {want!r}"


def run(label: str, url: str, args) -> None:
    started = time.perf_counter()
    clerks = prepare(url, args)
    print(f"prepared {label}: {len(clerks)} clerks filling in {time.perf_counter() - started:.1f} s", flush=True)
    gen, floors, turns, robots = Requests(args.threads), [], [], []
    pools = [deque(clerks[t :: args.threads]) for t in range(args.threads)]
    users = tuple(c.userid for c in clerks)
    # far more than a thread's connections: a message is not overtaken by its clerk's next one (SQLite's
    # writers are not served in order, so a slow answer can still lose to one sent 1-2 s later)
    width = max(1, 8 * args.connections // args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        sessions = str(Path(tmp) / "werobot_session.sqlite3")
        wal = ("--werobot-wal",) if args.werobot_wal else ()
        loop = ("--loop", args.loop, "--http", args.http)
        echo, turn, robot = Server("echo", "", *loop), Server("turn", url, *loop), Server("werobot", sessions, *wal)
        try:
            file = Path(tmp) / "requests.txt"
            counted = warm_up(args, gen, file, url, clerks, pools, width, users, (echo, turn, robot))
            for i in range(args.repeat):
                gen.write(file, int(args.seconds * args.floor_guess), None)
                floors.append(measure(echo, file, args))
                if floors[-1].wrk["wrapped"]:
                    args.floor_guess *= 2
                expected = gen.write(file, int(args.seconds * floors[-1].rate * 1.3) + 1000, pools, width)
                turns.append(measure(turn, file, args, args.profile if i == args.repeat - 1 else ""))
                turns[-1].checked = check_answers(url, expected)
                for clerk in clerks:
                    clerk.resync()
                gen.write(file, int(args.seconds * floors[-1].rate * 1.3) + 1000, None, users=users)
                before = session_counts(sessions)
                robots.append(measure(robot, file, args))
                check_werobot(robot, gen, robots[-1], sessions, before, users[i])
                print(run_line(i + 1, floors[-1], turns[-1], robots[-1]), flush=True)
        finally:
            for server in (echo, turn, robot):
                server.stop()
    report(f"{label}{', WeRoBot session in WAL' if args.werobot_wal else ''}", args, floors, turns, robots, counted)


def warm_up(args, gen: Requests, file: Path, url: str, clerks, pools, width: int, users, servers) -> Measured:
    """Unmeasured, before the first run: `--warmup` seconds of wrk at each server (a process's first seconds
    freeze its heap, load the roster and compile statements and templates: not what it does after), then the
    same at the turn with its SQL statements counted. The counter is an event listener, a call for each
    statement: it listens in that run only, never in a measured one. Returns the counted run."""
    echo, turn, robot = servers
    seconds, rate = args.warmup, args.floor_guess
    for counting in (False, True):
        if not counting:
            gen.write(file, int(seconds * rate), None)
            measure(echo, file, args, seconds=seconds)
            gen.write(file, int(seconds * rate), None, users=users)
            measure(robot, file, args, seconds=seconds)
        expected = gen.write(file, int(seconds * rate * 0.5) + 1000, pools, width)
        done = measure(turn, file, args, seconds=seconds, count=counting)
        done.checked = check_answers(url, expected)
        for clerk in clerks:
            clerk.resync()
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured run")
    parser.add_argument("--repeat", type=int, default=2, help="floor and turn runs, alternating")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--clerks-per-unit", type=int, default=2)
    parser.add_argument("--profile", default="", help="py-spy's collapsed stacks of the last turn run, to this file")
    parser.add_argument(
        "--werobot-wal", action="store_true", help="WeRoBot's session in WAL, synchronous=NORMAL (as the service)"
    )
    parser.add_argument(
        "--warmup", type=float, default=3, help="seconds of unmeasured load at each server first, then counted"
    )
    parser.add_argument("--floor-guess", type=float, default=4000, help="requests/s to prepare for the floor")
    parser.add_argument(
        "--loop", default="auto", help="the floor's and the turn's event loop: auto (uvloop when installed), asyncio"
    )
    parser.add_argument(
        "--http",
        default="auto",
        choices=("auto", "httptools", "h11"),
        help="the floor's and the turn's HTTP parser, as kaohe serve --http (auto: httptools when installed)",
    )
    args = parser.parse_args()
    if args.http == "auto":  # as kaohe serve's auto, and printed as what it chose
        from bot.http_guard import httptools_installed

        args.http = "httptools" if httptools_installed() else "h11"
    if shutil.which("wrk") is None:
        parser.exit(2, "wrk is not installed: apt-get install wrk (make bench-callbacks installs it)\n")
    on_chosen_database(parser, args, run)


if __name__ == "__main__":
    main()
