import signal
import socket
import subprocess
import time

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from bot.operations import load_campaign_file, start_campaign
from bot.settings import load_settings
from schedules.runner import ReminderScheduler
from storage import campaigns
from storage.campaign import DEFAULT_CAMPAIGN
from storage.db import Database
from tests.conftest import KAOHE
from tests.kaohe_process import run_kaohe


def campaign_toml(tmp_path, name: str, title: str):
    path = tmp_path / f"{name}.toml"
    source = DEFAULT_CAMPAIGN.read_text(encoding="utf-8")
    path.write_text(source.replace('id = "luoyang-2013"', f'id = "{name}"', 1), encoding="utf-8")
    if title:
        path.write_text(path.read_text(encoding="utf-8").replace("2013年市直机关", title, 1), encoding="utf-8")
    return path


def active(db) -> str | None:
    with db.read() as session:
        row = campaigns.active_row(session=session)
    return row.id if row else None


@pytest.fixture
def db(sqlite_url):
    database = Database(sqlite_url)
    yield database
    database.dispose()


def start(db, url, campaign=None) -> str:
    return start_campaign(db, load_settings(database_url=url, campaign=campaign, _env_file=None))


def test_a_first_start_without_kaohe_campaign_loads_the_shipped_campaign(db, sqlite_url):
    start(db, sqlite_url)
    assert active(db) == "luoyang-2013"


def test_the_shipped_default_never_replaces_a_campaign_loaded_by_hand(db, sqlite_url, tmp_path):
    start(db, sqlite_url)
    load_campaign_file(db, campaign_toml(tmp_path, "mine-2014", "2014年"))
    assert "mine-2014 stays active" in start(db, sqlite_url)
    assert active(db) == "mine-2014"


def test_a_file_named_by_kaohe_campaign_is_loaded_once_then_a_hand_load_stands(db, sqlite_url, tmp_path):
    named = campaign_toml(tmp_path, "named", "")
    start(db, sqlite_url, str(named))
    assert active(db) == "named"
    load_campaign_file(db, campaign_toml(tmp_path, "by-hand", ""))
    start(db, sqlite_url, str(named))  # the same file, unchanged: a restart, not a request
    assert active(db) == "by-hand"


def test_editing_the_named_file_while_down_is_asking_for_it(db, sqlite_url, tmp_path):
    named = campaign_toml(tmp_path, "named", "")
    start(db, sqlite_url, str(named))
    load_campaign_file(db, campaign_toml(tmp_path, "by-hand", ""))
    named.write_text(named.read_text(encoding="utf-8").replace("2013年市直机关", "改过的", 1), encoding="utf-8")
    start(db, sqlite_url, str(named))
    assert active(db) == "named"


def test_the_scheduler_leaves_a_hand_loaded_campaign_alone_and_loads_a_named_file_edited_while_running(
    db, sqlite_url, tmp_path, clock
):
    from bot.services import build_services

    named = campaign_toml(tmp_path, "named", "")
    start(db, sqlite_url, str(named))
    load_campaign_file(db, campaign_toml(tmp_path, "by-hand", ""))
    services = build_services(load_settings(database_url=sqlite_url, campaign=str(named), _env_file=None), clock=clock)
    runner = ReminderScheduler(services)
    runner.sync()
    assert active(db) == "by-hand"
    named.write_text(named.read_text(encoding="utf-8").replace("2013年市直机关", "改过的", 1), encoding="utf-8")
    runner.sync()
    assert active(db) == "named"
    services.close()


def test_a_broken_named_file_still_stops_the_start(db, sqlite_url, tmp_path):
    from storage.campaign import CampaignError

    broken = tmp_path / "broken.toml"
    broken.write_text("[campaign]\nid = 3\n", encoding="utf-8")
    with pytest.raises(CampaignError):
        start(db, sqlite_url, str(broken))


# --- the README's multi-worker recipe, with real processes on PostgreSQL, restarted ---


@pytest.fixture
def recipe_url(pg_server_url):
    name = "kaohe_restart_recipe"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.postgres
def test_the_multi_worker_recipe_keeps_the_loaded_campaign_across_restarts(recipe_url, tmp_path):
    from bot.demo import SAMPLE_ROSTER

    def kaohe(*args):
        done = run_kaohe(tmp_path, recipe_url, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    mine = campaign_toml(tmp_path, "my-campaign", "2014年")
    kaohe("db", "upgrade")
    kaohe("campaign", "load", mine)
    kaohe("roster", "import", SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    port = free_port()
    for round_ in range(2):  # the first start and a restart
        processes = _recipe(tmp_path, recipe_url, port, round_)
        log = tmp_path / f"scheduler{round_}.log"
        try:
            _wait(lambda log=log: _healthy(port) and "holds the lease" in log.read_text())
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                assert process.wait(30) == 0
        assert "my-campaign" in kaohe("campaign", "show") + (tmp_path / f"scheduler{round_}.log").read_text()
    shown = kaohe("campaign", "show")
    assert "2014年" in shown and "2013年市直机关" not in shown


def _recipe(tmp_path, url, port, round_) -> list[subprocess.Popen]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAOHE_", "WECOM_"))}
    env["KAOHE_DATABASE_URL"] = url
    commands = {
        f"serve{round_}": ["serve", "--no-scheduler", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
        f"scheduler{round_}": ["scheduler"],
    }
    started = []
    for name, args in commands.items():
        with open(tmp_path / f"{name}.log", "w") as log:
            started.append(
                subprocess.Popen([str(KAOHE), *args], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
            )
    return started


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(condition, within_s: float = 60) -> None:
    give_up = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < give_up, "the recipe's processes did not come up"
        time.sleep(0.3)
