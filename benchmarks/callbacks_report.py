"""What benchmarks.callbacks measured in one wrk run, and how its lines and summary are printed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

OPENING, SAVED = "开始填写统计表", "已记录"


@dataclass
class Measured:
    rate: float
    wrk: dict
    server_cpu_s: float = 0.0
    server_sys_s: float = 0.0  # of which in the kernel (sockets, file writes)
    wrk_cpu_s: float = 0.0
    machine_busy: float = 0.0
    stats: dict = field(default_factory=dict)
    rss_mb: float = 0.0
    checked: tuple[int, int] = (0, 0)  # turn: right/stored answers; WeRoBot: session counts added/handler calls
    sample: str = ""  # WeRoBot: "ok", or what its decrypted sample reply held instead
    load: str = field(default_factory=lambda: " ".join(Path("/proc/loadavg").read_text().split()[:3]))

    @property
    def errors(self) -> int:
        w = self.wrk
        return w["connect"] + w["read"] + w["write"] + w["timeout"] + w["non200"]

    def cpu_us(self) -> float:
        return self.server_cpu_s / max(self.wrk["requests"], 1) * 1e6


def _kernel(m: Measured) -> str:
    return f"{m.server_sys_s / max(m.server_cpu_s, 1e-9):.0%}"


def _ms(m: Measured) -> str:
    w = m.wrk
    return f"p50 {w['p50_us'] / 1e3:6.1f} ms  p99 {w['p99_us'] / 1e3:6.1f} ms"


def run_line(i: int, floor: Measured, turn: Measured, robot: Measured) -> str:
    s = turn.stats
    return (
        f"run {i}: floor {floor.rate:7.0f}/s {_ms(floor)} | turn {turn.rate:6.0f}/s {_ms(turn)} | "
        f"WeRoBot {robot.rate:6.0f}/s {_ms(robot)} | turn/floor {turn.rate / floor.rate:5.1%} | "
        f"turn/WeRoBot {turn.rate / robot.rate:4.2f} | errors {floor.errors}+{turn.errors}+{robot.errors} | "
        f"{s['turns'] / max(s['batches'], 1):.1f} turns/commit, {s.get('handed_off', 0)} handed off | "
        f"checked {turn.checked[0]}/{turn.checked[1]} | "
        f"WeRoBot sessions {robot.checked[0]}/{robot.checked[1]}, sample {robot.sample} | load {robot.load}"
    )


def _rates(runs: list[Measured]) -> str:
    return f"{', '.join(f'{m.rate:.0f}' for m in runs)} /s; last {_ms(runs[-1])}"


def _ratios(tops: list[Measured], bottoms: list[Measured], fmt: str) -> str:
    ratios = sorted(t.rate / b.rate for t, b in zip(tops, bottoms, strict=True))
    return f"{', '.join(format(r, fmt) for r in ratios)} (median {format(ratios[len(ratios) // 2], fmt)})"


def collector(floor: Measured, turn: Measured) -> str:
    def one(m: Measured, what: str) -> str:
        s = m.stats
        if "gc_passes" not in s:
            return "?"
        young, middle, full = s["gc_passes"]
        per = s["gc_ms"] * 1e3 / max(m.wrk["requests"], 1)
        fulls = f" (the full ones {s['gc_full_ms']:.0f} ms)" if full and "gc_full_ms" in s else ""
        return f"{what} {young}+{middle}+{full} passes, {s['gc_ms']:.0f} ms{fulls}, {per:.1f} µs a request"

    return (
        f"garbage collector {one(floor, 'floor')}; {one(turn, 'turn')} (generations 0+1+2, the last runs; "
        f"the turn's HeapKeeper freezes the heap and raises the young threshold, bot/heap.py)"
    )


def statements(counted: Measured) -> str:
    s = counted.stats
    return (
        f"statements/turn  {s['turn_statements'] / max(s['turns'], 1):.1f} in the dispatcher (all "
        f"{s['statements'] / max(s['turns'], 1):.1f}), {s['turns'] / max(s['batches'], 1):.1f} turns/commit, "
        f"counted in a warm-up run of their own ({s['turns']} turns, {counted.rate:.0f}/s, answers checked "
        f"{counted.checked[0]}/{counted.checked[1]}): the counter is a listener, off in the measured runs"
    )


def report(
    label: str, args, floors: list[Measured], turns: list[Measured], robots: list[Measured], counted: Measured
) -> None:
    last_f, last_t, last_r = floors[-1], turns[-1], robots[-1]
    everything = floors + turns + robots
    lines = [
        f"== {label}: wrk -t{args.threads} -c{args.connections}, {args.seconds:g} s per run, {args.repeat} runs; "
        f"uvicorn's HTTP parser {args.http}, event loop {args.loop} ==",
        f"floor (echo)     {_rates(floors)}",
        f"turn (填报 answer) {_rates(turns)}",
        f"WeRoBot 1.13     {_rates(robots)} (SQLite session, waitress, one thread)",
        f"turn / floor     {_ratios(turns, floors, '.1%')}",
        f"turn / WeRoBot   {_ratios(turns, robots, '.2f')}",
        f"errors           floor {sum(f.errors for f in floors)}, turn {sum(t.errors for t in turns)}, "
        f"WeRoBot {sum(r.errors for r in robots)} (connect/read/write/timeout/non-200); empty answers "
        f"turn {sum(t.wrk['empty'] for t in turns)}, WeRoBot {sum(r.wrk['empty'] for r in robots)}; "
        f"ran out of requests {sum(m.wrk['wrapped'] for m in everything)}",
        f"answers checked  {sum(t.checked[0] for t in turns)}/{sum(t.checked[1] for t in turns)} stored answers "
        f"held {OPENING!r} or {SAVED!r}; WeRoBot sessions counted {sum(r.checked[0] for r in robots)} of "
        f"{sum(r.checked[1] for r in robots)} handler calls; WeRoBot samples: {', '.join(r.sample for r in robots)}",
        f"server RSS       floor {last_f.rss_mb:.0f} MB, turn {last_t.rss_mb:.0f} MB, WeRoBot {last_r.rss_mb:.0f} MB "
        f"(after the last run)",
        f"CPU per request  floor {last_f.cpu_us():.0f} µs, turn {last_t.cpu_us():.0f} µs, WeRoBot "
        f"{last_r.cpu_us():.0f} µs (server process; in the kernel {_kernel(last_f)}, {_kernel(last_t)}, "
        f"{_kernel(last_r)}); "
        f"wrk {last_t.wrk_cpu_s / max(last_t.wrk['duration_us'] / 1e6, 1e-9):.0%} of a core",
        collector(last_f, last_t),
        statements(counted),
        f"machine          {os.cpu_count()} cores, {last_t.machine_busy:.0%} busy during the last turn run; "
        f"load average {last_r.load} (after the last run)",
    ]
    print("\n".join(lines), flush=True)
