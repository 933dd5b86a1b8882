import os
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from storage.db import Database
from storage.models import Lease, Outbox
from tests.conftest import KAOHE

DEADLINE_S = 30


@pytest.fixture
def schedulers(tmp_path, cli_db_url):
    """Start `kaohe scheduler` processes; each one still running at the end is killed, pass or fail."""
    started: list[subprocess.Popen] = []

    def start(name):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KAOHE_", "WECOM_"))}
        env.update(KAOHE_DATABASE_URL=cli_db_url, KAOHE_CAMPAIGN=str(tmp_path / "demo.toml"))
        log = open(tmp_path / f"{name}.log", "w")
        started.append(
            subprocess.Popen([str(KAOHE), "scheduler"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        )
        log.close()
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(DEADLINE_S)


def wait_for(condition):
    give_up = time.monotonic() + DEADLINE_S
    while time.monotonic() < give_up:
        if condition():
            return True
        time.sleep(0.2)
    return False


def stop(process) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(DEADLINE_S)


def test_kaohe_scheduler_sends_a_due_reminder_and_a_second_one_stands_by(tmp_path, kaohe, cli_db_url, schedulers):
    assert kaohe("demo", "--campaign-out", tmp_path / "demo.toml").returncode == 0
    db = Database(cli_db_url)

    def sent():
        with db.read() as session:
            return session.exec(select(Outbox).where(Outbox.status == "sent")).first() is not None

    first = schedulers("first")
    assert wait_for(sent), (tmp_path / "first.log").read_text()
    second = schedulers("second")
    assert wait_for(lambda: "stands by" in (tmp_path / "second.log").read_text())
    assert stop(second) == 0
    assert stop(first) == 0
    with db.read() as session:
        rows = list(session.exec(select(Outbox)))
        lease = session.get(Lease, "scheduler")
    assert lease.expires_at <= datetime.now(UTC)  # released on a clean stop
    assert [r.source for r in rows] == ["reminder"] and len(rows[0].recipients) == 13
    db.dispose()
