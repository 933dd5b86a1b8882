import gc
import os
import shutil
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import make_url, text

from bot.channels.recording import RecordingTransport
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from handlers import router
from storage import pgwire
from storage.campaign import DEFAULT_CAMPAIGN
from storage.clock import FixedClock
from storage.migrate import upgrade
from tests.transcript import Chat

pytest_plugins = ["tests.wecom_fixtures", "tests.dashboard_fixtures"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
IN_SELF_CHECK = datetime(2013, 12, 12, 10, 0, tzinfo=SHANGHAI)
IN_CI = os.environ.get("CI") == "true"
# The heap freeze's full pass walks the whole test process (hundreds of ms, at every lane's first batch):
# off in-process here; tests/test_heap.py turns it on, and every `kaohe` subprocess has its default (on).
os.environ.setdefault("KAOHE_GC_FREEZE", "0")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite, tmp_path):
    path = tmp_path / "kaohe.db"
    shutil.copy(migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pg_server_url():
    url = os.environ.get("KAOHE_TEST_PG_URL")
    if not url:
        message = "KAOHE_TEST_PG_URL is not set: run the suite with `make test`, which starts PostgreSQL"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def pg_database(pg_server_url):
    from sqlalchemy import create_engine

    name = f"kaohe_test_{os.getpid()}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)  # ?host=/a/socket too
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_database):
    from sqlalchemy import create_engine

    engine = create_engine(pg_database)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")
            )
        ]
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def clock():
    return FixedClock(IN_SELF_CHECK)


@pytest.fixture
def transport():
    return RecordingTransport()


def _services(url, clock, transport):
    services = build_services(load_settings(database_url=url, _env_file=None), clock=clock, transport=transport)
    load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    return services


@pytest.fixture
def services(sqlite_url, clock, transport):
    s = _services(sqlite_url, clock, transport)
    yield s
    s.close()


@pytest.fixture
def collector_off():
    """The garbage collector off for a test that measures pauses: late in the whole suite the heap holds some
    700,000 objects and one full collection stops every thread for 0.5-0.7 s (measured), a pause of the
    collector and not a wait of the code under test (CI once failed on exactly that)."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


@pytest.fixture
def pg_services(pg_url, clock, transport):
    s = _services(pg_url, clock, transport)
    yield s
    s.close()


@pytest.fixture
def any_services(any_db_url, clock, transport):
    s = _services(any_db_url, clock, transport)
    yield s
    s.close()


@pytest.fixture
def chat(services):
    def start(userid: str) -> Chat:
        return Chat(services, userid)

    return start


# --- the `kaohe` command in a subprocess, with a clean environment and its own working directory ---

KAOHE = Path(sys.executable).parent / "kaohe"


@pytest.fixture
def cli_db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def kaohe(tmp_path, cli_db_url):
    def run(*args, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAOHE_", "WECOM_"))}
        clean.update({"KAOHE_DATABASE_URL": cli_db_url, "PYTHONIOENCODING": "utf-8", **(env or {})})
        return subprocess.run(
            [str(KAOHE), *map(str, args)],
            input=input,
            capture_output=True,
            encoding="utf-8",
            env=clean,
            cwd=tmp_path,
            timeout=60,
        )

    return run


@pytest.fixture
def failing_for(monkeypatch):
    """A handler that breaks for one person (a bug, not bad input): the others must not pay for it."""

    def install(userid: str):
        def hook(turn):
            if turn.person.userid == userid:
                raise RuntimeError("broken handler")

        monkeypatch.setattr(router, "_BEFORE", [*router._BEFORE, hook])

    return install


@pytest.fixture
def two(any_db_url, clock, transport):
    """Two processes' worth of services (each its own Database, Dispatcher and in-memory roster) on one
    database: the first loads campaigns and rosters, the second chats."""
    first = _services(any_db_url, clock, transport)
    second = build_services(first.settings, clock=clock, transport=transport)
    yield first, second
    second.close()
    first.close()


@pytest.fixture
def trips(monkeypatch):
    """PostgreSQL: every exchange with the server through storage/pgwire.py, by kind."""
    seen = []
    for name in ("execute", "pipeline", "command"):
        original = getattr(pgwire.Wire, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            seen.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(pgwire.Wire, name, counted)
    return seen


@pytest.fixture
def where(monkeypatch):
    """The thread each message's turn ran on last, by message key (the lane runs turns on the loop or its thread)."""
    seen = {}

    def look(turn):
        seen[turn.inbound.msg_key] = threading.current_thread().name

    monkeypatch.setattr(router, "_BEFORE", [*router._BEFORE, look])
    return seen
