import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlmodel import select

from bot.demo import SAMPLE_ROSTER, demo_campaign_text
from bot.operations import import_roster_files, load_campaign_file
from storage.db import Database
from storage.models import ActivityEntry, Outbox, ReminderRun
from tests.conftest import KAOHE
from tests.live_server import Clerk
from tests.wecom_client_side import AES_KEY, CORP_ID, TOKEN

pytestmark = pytest.mark.postgres
CLERKS = ["wangfang", "liqiang", "zhangmin", "liujing", "chenjie", "yangyang", "zhaolei", "huangyan"]
# Sent at the same moment, one to each worker. Equal and small, so whichever item each lands on it is saved
# (no "at most its parent" refusal, no implausible-count question): a lost message shows as a missing item.
PAIRS = [("2", "2"), ("2", "2")]
WAIT_S = 60


def campaign_now(path, now: datetime) -> None:
    """The demo campaign (today inside self-check) with two reminders due at once, instead of in minutes."""
    text = demo_campaign_text(now).split("\n# Demo only")[0]
    at = now.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")
    for key, audience in [("now_clerks", "clerks_not_submitted"), ("now_liaison", "liaison_officers")]:
        text += f'\n[[reminders]]\nkey = "{key}"\nat = "{at}"\naudience = "{audience}"\nabout = "self_check"\n'
    path.write_text(text, encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    def __init__(self, tmp_path, env):
        self.tmp_path, self.env, self.running = tmp_path, env, []

    def start(self, name, *args):
        log = open(self.tmp_path / f"{name}.log", "w")
        proc = subprocess.Popen(
            [str(KAOHE), *args], env=self.env, cwd=self.tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
        self.running.append((name, proc))

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{(self.tmp_path / f'{n}.log').read_text()[-3000:]}" for n, _ in self.running)

    def stop(self) -> list[int]:
        for _, proc in self.running:
            proc.send_signal(signal.SIGTERM)
        codes = []
        for _, proc in self.running:
            try:
                codes.append(proc.wait(20))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes


def wait_for(condition, seconds=WAIT_S) -> bool:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if condition():
            return True
        time.sleep(0.3)
    return False


def healthy(url) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_two_workers_and_a_scheduler_on_postgresql(tmp_path, pg_url, fake):
    campaign = tmp_path / "campaign.toml"
    campaign_now(campaign, datetime.now(UTC))
    db = Database(pg_url)
    load_campaign_file(db, campaign)
    import_roster_files(db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAOHE_", "WECOM_"))}
    env.update(
        KAOHE_DATABASE_URL=pg_url,
        KAOHE_CAMPAIGN=str(campaign),
        WECOM_CORP_ID=CORP_ID,
        WECOM_TOKEN=TOKEN,
        WECOM_AES_KEY=AES_KEY,
        WECOM_SECRET="s3cret",
        WECOM_AGENT_ID="1000002",
        WECOM_API_BASE=fake.base_url,
    )
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    procs = Processes(tmp_path, env)
    try:
        for i, url in enumerate(urls):
            procs.start(f"worker{i}", "serve", "--no-scheduler", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1])
        procs.start("scheduler", "scheduler")
        assert wait_for(lambda: all(healthy(u) for u in urls)), procs.logs()
        clerks = [Clerk(urls[0], userid) for userid in CLERKS]

        def converse(clerk):
            clerk.say("填报", urls[0])
            for pair in PAIRS:  # one person's consecutive messages, arriving together at both workers
                both = [
                    threading.Thread(target=clerk.say, args=(text, url)) for text, url in zip(pair, urls, strict=True)
                ]
                for thread in both:
                    thread.start()
                for thread in both:
                    thread.join()
            clerk.say("进度", urls[1])

        threads = [threading.Thread(target=converse, args=(c,)) for c in clerks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT_S)

        def reminders_sent():
            with db.read() as session:
                runs = list(session.exec(select(ReminderRun)))
                rows = list(session.exec(select(Outbox).where(Outbox.source == "reminder")))
            fired = {r.reminder_key for r in runs if r.status == "fired"}
            return {"now_clerks", "now_liaison"} <= fired and rows and all(r.status == "sent" for r in rows)

        assert wait_for(reminders_sent), procs.logs()
        time.sleep(2)  # any second sending of a reminder would come now
    finally:
        codes = procs.stop()
    # uvicorn re-raises SIGTERM once it has shut down cleanly, so a worker's clean stop reads as -15
    assert codes[:2] in ([-15, -15], [0, 0]) and codes[2] == 0, (codes, procs.logs())
    assert all("Traceback" not in (tmp_path / f"{n}.log").read_text() for n, _ in procs.running), procs.logs()
    assert all(s == 200 for c in clerks for s in c.statuses) and max(s for c in clerks for s in c.seconds) < 5
    with db.read() as session:
        units = Counter(e.unit_code for e in session.exec(select(ActivityEntry)))
        counts = sorted(e.count for e in session.exec(select(ActivityEntry)))
        rows = list(session.exec(select(Outbox).where(Outbox.source == "reminder")))
    db.dispose()
    assert set(units.values()) == {len(PAIRS) * 2}, units  # no answer lost: every message took the next item
    assert counts == sorted([int(v) for pair in PAIRS for v in pair] * len(CLERKS))
    texts = {r.content for r in rows}
    calls = [c.body for c in fake.calls_to("message/send") if c.body["text"]["content"] in texts]
    per_person = Counter((user, body["text"]["content"]) for body in calls for user in body["touser"].split("|"))
    assert len(per_person) == sum(len(r.recipients) for r in rows) >= len(CLERKS) + 3
    assert set(per_person.values()) == {1}  # each reminder sent to each person once, by one of three senders
