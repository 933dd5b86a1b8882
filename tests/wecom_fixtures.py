"""Fixtures for tests that go through the WeCom app channel: a fake WeCom API and services wired to it."""

import pytest

from bot.channels.wecom_transport import WeComTransport
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from storage.campaign import DEFAULT_CAMPAIGN
from tests.fakes.wecom_server import FakeWeCom
from tests.wecom_client_side import app_settings


@pytest.fixture
def fake():
    with FakeWeCom() as server:
        yield server


@pytest.fixture
def app_services(sqlite_url, clock, fake):
    settings = app_settings(sqlite_url, fake.base_url)
    services = build_services(settings, clock=clock, transport=WeComTransport(settings, timeout=2))
    load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    yield services
    services.close()
