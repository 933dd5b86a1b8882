import os
import signal
import subprocess
import time
from datetime import UTC, datetime

from sqlmodel import select

from storage.db import Database
from storage.models import Lease, Outbox
from tests.conftest import KAOHE

DEADLINE_S = 30


def start(tmp_path, url, name):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAOHE_", "WECOM_"))}
    env.update(KAOHE_DATABASE_URL=url, KAOHE_CAMPAIGN=str(tmp_path / "demo.toml"))
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([str(KAOHE), "scheduler"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)


def wait_for(condition):
    give_up = time.monotonic() + DEADLINE_S
    while time.monotonic() < give_up:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_kaohe_scheduler_sends_a_due_reminder_and_a_second_one_stands_by(tmp_path, kaohe, cli_db_url):
    assert kaohe("demo", "--campaign-out", tmp_path / "demo.toml").returncode == 0
    db = Database(cli_db_url)
    first = start(tmp_path, cli_db_url, "first")
    try:

        def sent():
            with db.read() as session:
                return session.exec(select(Outbox).where(Outbox.status == "sent")).first() is not None

        assert wait_for(sent), (tmp_path / "first.log").read_text()
        second = start(tmp_path, cli_db_url, "second")
        assert wait_for(lambda: "stands by" in (tmp_path / "second.log").read_text())
        second.send_signal(signal.SIGTERM)
        assert second.wait(DEADLINE_S) == 0
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(DEADLINE_S) == 0
    with db.read() as session:
        rows = list(session.exec(select(Outbox)))
        lease = session.get(Lease, "scheduler")
    assert lease.expires_at <= datetime.now(UTC)  # released on a clean stop
    assert [r.source for r in rows] == ["reminder"] and len(rows[0].recipients) == 13
    db.dispose()
