"""Benchmark: instructions per answer turn in the dispatcher, counted by valgrind's callgrind (steady on a busy machine).

`python -m benchmarks.turn_instructions [--db sqlite|postgres] [--turns 1200] [--batch 16] [--top 0]`. The same
clerks and 填报 answers as benchmarks/turn_cpu.py, straight into the dispatcher (on PostgreSQL in greenlets on
the event loop, as the lane runs them). The process runs twice under callgrind on fresh copies of one
prepared database: once warming up only (every clerk's whole form once: the roster view, compiled
statements, templates), once warming up and then answering `--turns` more; the difference of the two
totals over `--turns` is what a turn costs in this process's user space, instruction by instruction.
The same code gives the same count to within a fraction of a percent on any machine of the kind, however
busy (a wrk run on these machines moves by 10-30 % from one minute to the next), so a change to the hot
path can be weighed before the wrk runs. It does not see the kernel (syscalls, a round trip's waits) or
the database server's own work, nor the cost of a cache miss: wrk still says what a turn costs in all.
`--top N` prints the N C functions whose own instructions grew most (callgrind_annotate); `--keep DIR` leaves
both callgrind files there (`callgrind_annotate --inclusive=yes`). It measures and prints; it asserts
nothing about speed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

UNITS = 60  # one clerk a unit fills; the warm-up is every clerk's whole form once
_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)


def totals(path: Path) -> int:
    """The instructions a callgrind output file counted in all (its `summary:` or `totals:` line)."""
    found = _TOTAL.search(path.read_text(errors="replace"))
    if found is None:
        raise ValueError(f"{path}: no summary or totals line (not a callgrind output file?)")
    return int(found.group(1))


def valgrind() -> str:
    found = shutil.which("valgrind")
    if found is None:
        raise SystemExit("valgrind is not installed (. scripts/bench-tools.sh, or apt-get install valgrind)")
    return found


def child(url: str, clerks_file: str, turns: int, batch: int) -> None:
    """What runs under callgrind: warm up, then `turns` answer turns in batches (none: the baseline)."""
    from benchmarks.callbacks import Clerk
    from benchmarks.server import AT
    from benchmarks.turn_cpu import measure, messages
    from bot.heap import YOUNG
    from bot.services import build_services
    from bot.settings import load_settings
    from storage.clock import FixedClock

    clerks = [Clerk(userid, questions) for userid, questions in json.loads(Path(clerks_file).read_text())]
    services = build_services(load_settings(database_url=url, _env_file=None), clock=FixedClock(AT))
    if services.db.checkpointer is not None:  # its passes come by the clock, more or fewer in a run
        services.db.checkpointer.stop()
    on_loop = not services.db.is_sqlite
    warm = sum(c.questions + 1 for c in clerks)
    work = messages(clerks, warm + turns)
    measure(services.dispatcher, work[:warm], batch, on_loop)
    # the collector as a serving process has it (bot/heap.py), from the same point in both runs
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, *gc.get_threshold()[1:])
    if turns:
        measure(services.dispatcher, work[warm:], batch, on_loop)
    services.close()


class _Copies:
    """Fresh copies of the prepared database, one a run: a file copy on SQLite, a template on PostgreSQL."""

    def __init__(self, url: str, tmp: Path):
        self.url, self.tmp, self.made = make_url(url), tmp, []
        self.sqlite = self.url.get_backend_name() == "sqlite"

    def fresh(self, name: str) -> str:
        if self.sqlite:
            target = self.tmp / f"{name}.db"
            with sqlite3.connect(self.url.database) as src, sqlite3.connect(target) as dst:
                src.backup(dst)  # whole and consistent, whatever is still in the WAL
            return str(self.url.set(database=str(target)))
        copy = f"{self.url.database}_{name}"
        engine = create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{copy}"'))
            conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{self.url.database}"'))
        engine.dispose()
        self.made.append(copy)
        return self.url.set(database=copy).render_as_string(hide_password=False)

    def drop(self) -> None:
        if not self.made:
            return
        engine = create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for copy in self.made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
        engine.dispose()


def run(label: str, url: str, args) -> None:
    from benchmarks.callbacks import prepare

    tool = valgrind()
    clerks = prepare(url, argparse.Namespace(units=UNITS, clerks_per_unit=2))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "clerks.json").write_text(json.dumps([(c.userid, c.questions) for c in clerks]))
        copies, counted = _Copies(url, tmp), {}
        try:
            for turns in (0, args.turns):
                out = tmp / f"callgrind.{turns}"
                cmd = [tool, "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m", __spec__.name]
                cmd += ["--child", copies.fresh(f"run{turns}"), str(tmp / "clerks.json"), str(turns), str(args.batch)]
                done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
                if done.returncode != 0:
                    raise SystemExit(f"the run under callgrind failed:\n{done.stderr[-3000:]}")
                counted[turns] = out
        finally:
            copies.drop()
        per_turn = (totals(counted[args.turns]) - totals(counted[0])) / args.turns
        where = "on the event loop" if label != "SQLite" else "on one thread"
        print(
            f"{label}: {per_turn:,.0f} instructions per answer turn in the dispatcher, batches of {args.batch} "
            f"{where} (callgrind: {args.turns} turns after a warm-up of every clerk's form, less the warm-up alone)",
            flush=True,
        )
        if args.top:
            print_top(counted[0], counted[args.turns], args.turns, args.top)
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for turns, out in counted.items():
                shutil.copy(out, Path(args.keep) / f"callgrind.{label.lower()}.{turns}")


def _own(path: Path) -> dict[str, int]:
    out = subprocess.run(["callgrind_annotate", "--threshold=100", str(path)], capture_output=True, text=True)
    own: dict[str, int] = {}
    for line in out.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.+?)(?: \[.*\])?$", line)
        if m and "PROGRAM TOTALS" not in m.group(2):
            name = re.sub(r"^.*?/Python-3[\d.]+/", "", m.group(2))
            own[name] = own.get(name, 0) + int(m.group(1).replace(",", ""))
    return own


def print_top(before: Path, after: Path, turns: int, top: int) -> None:
    a, b = _own(before), _own(after)
    grown = sorted(((b.get(k, 0) - a.get(k, 0)) / turns, k) for k in set(a) | set(b))[::-1][:top]
    for per_turn, name in grown:
        print(f"  {per_turn:9,.0f}  {name[:110]}")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        url, clerks_file, turns, batch = sys.argv[2:6]
        child(url, clerks_file, int(turns), int(batch))
        return
    from benchmarks.reminders import on_chosen_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1200, help="answer turns counted after the warm-up")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--top", type=int, default=0, help="also the C functions whose instructions grew most")
    parser.add_argument("--keep", default="", help="a folder to leave both callgrind output files in")
    args = parser.parse_args()
    if args.turns < 1 or args.batch < 1:
        parser.error("--turns and --batch must be at least 1")
    on_chosen_database(parser, args, run)


if __name__ == "__main__":
    main()
