"""Fixtures for tests that go through the WeCom app channel: a fake WeCom API and services wired to it."""

import pytest

from bot.channels.wecom_transport import WeComTransport
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from storage.campaign import DEFAULT_CAMPAIGN
from tests.fakes.wecom_server import FakeWeCom
from tests.wecom_client_side import AES_KEY, CORP_ID, TOKEN


@pytest.fixture
def fake():
    with FakeWeCom() as server:
        yield server


@pytest.fixture
def app_services(sqlite_url, clock, fake):
    settings = load_settings(
        database_url=sqlite_url,
        corp_id=CORP_ID,
        token=TOKEN,
        aes_key=AES_KEY,
        secret="s3cret",
        agent_id=1000002,
        api_base=fake.base_url,
        _env_file=None,
    )
    services = build_services(settings, clock=clock, transport=WeComTransport(settings, timeout=2))
    load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    yield services
    services.close()
