import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.channels.wecom_transport import WeComTransport
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from storage.campaign import DEFAULT_CAMPAIGN
from tests.wecom_bot_side import BOT_KEY, BOT_TOKEN
from tests.wecom_client_side import app_settings


def _both(url, clock, fake):
    settings = app_settings(url, fake.base_url, bot_token=BOT_TOKEN, bot_aes_key=BOT_KEY)
    services = build_services(settings, clock=clock, transport=WeComTransport(settings, timeout=2))
    load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    return services


@pytest.fixture
def both_services(any_db_url, clock, fake):
    """Both callbacks on, sending to the fake WeCom, on SQLite and on PostgreSQL."""
    services = _both(any_db_url, clock, fake)
    yield services
    services.close()


@pytest.fixture
def sqlite_services(sqlite_url, clock, fake):
    services = _both(sqlite_url, clock, fake)
    yield services
    services.close()


def _client(services):
    return TestClient(create_app(services.settings, services=services, sender=False))


@pytest.fixture
def edge(both_services):
    with _client(both_services) as client:
        yield client


@pytest.fixture
def sqlite_edge(sqlite_services):
    with _client(sqlite_services) as client:
        yield client
