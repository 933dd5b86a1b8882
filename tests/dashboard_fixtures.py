"""An app with KAOHE_ADMIN_TOKEN set over the test services' database, and a logged-in browser-like client."""

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.services import build_services
from bot.settings import load_settings

TOKEN = "t0ken-for-tests"


@pytest.fixture
def admin_app(services):
    settings = load_settings(database_url=services.settings.database_url, admin_token=TOKEN, _env_file=None)
    app_services = build_services(settings, clock=services.clock)
    yield create_app(settings, services=app_services, sender=False)
    app_services.close()


@pytest.fixture
def client(admin_app):
    with TestClient(admin_app, base_url="http://kaohe.test") as c:
        yield c


@pytest.fixture
def bearer(client):
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    return client


def login(client, actor: str = "hezhiyuan", token: str = TOKEN):
    return client.post("/dashboard/login", data={"token": token, "actor": actor}, follow_redirects=False)


@pytest.fixture
def logged_in(client):
    assert login(client).status_code == 303
    return client


def csrf_of(client) -> str:
    page = client.get("/dashboard/").text
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
