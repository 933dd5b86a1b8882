import logging
import os
import shutil
import socket
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlmodel import func, select

from bot.app import create_app
from bot.operations import setup_demo
from bot.services import build_services
from bot.settings import load_settings
from storage.db import Database
from storage.models import Outbox, ProcessedMessage

IN_CI = os.environ.get("CI") == "true"
CHROMIUM = os.environ.get("KAOHE_TEST_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WAIT_MS = 10_000


@pytest.fixture
def demo_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    db = Database(url)
    setup_demo(db, tmp_path / "demo.toml", datetime.now(UTC))
    db.dispose()
    return url


@pytest.fixture
def demo_services(demo_url):
    services = build_services(load_settings(database_url=demo_url, _env_file=None))
    yield services
    services.close()


@contextmanager
def serving(app):
    # The socket listens before the server starts, so the browser's first request waits in the backlog:
    # nothing has to poll for "started".
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        message = f"chromium not found at {CHROMIUM!r}: set KAOHE_TEST_CHROMIUM or install Debian's chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(f"BROWSER TESTS SKIPPED: {message}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 800},
            locale="zh-CN",
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, demo_services):
    with serving(create_app(demo_services.settings, services=demo_services)) as base_url:
        tab = browser.new_page()
        tab.set_default_timeout(WAIT_MS)
        tab.goto(base_url)
        yield tab
        tab.close()


@pytest.fixture
def u01_submitted(demo_services):
    from storage import campaigns, entries

    with demo_services.db.write() as session:
        campaign = campaigns.active_campaign(session=session)
        entries.set_submitted(
            session=session, campaign_id=campaign.id, unit_code="U01", actor="wangfang", submitted=True
        )


def speak_as(page, name: str, text: str):
    page.locator(".person", has_text=name).first.click()
    page.fill("#text", text)
    page.press("#text", "Enter")
    return page.locator(".bubble.bot").last


@pytest.mark.browser
def test_page_lists_the_roster_by_role(page):
    expect(page.locator(".person")).to_have_count(17)
    expect(page.locator(".person", has_text="王芳")).to_contain_text("市财政局机关党委")
    expect(page.locator(".role")).to_have_text(["填报员", "联络员", "工委管理员"])


@pytest.mark.browser
def test_help_typed_as_a_clerk_shows_the_bot_answer(page):
    expect(speak_as(page, "王芳", "帮助")).to_contain_text("填报 —— 逐项填写统计表")
    expect(page.locator("#who")).to_contain_text("王芳")


@pytest.mark.browser
def test_submit_before_filling_in_is_refused_with_what_is_missing(page):
    answer = speak_as(page, "王芳", "提交")
    expect(answer).to_contain_text("还不能提交")
    expect(answer).to_contain_text("党委会")


@pytest.mark.browser
def test_feed_shows_what_the_bot_sends_to_others_with_their_names(u01_submitted, page):
    expect(speak_as(page, "何志远", "重新开放 U01")).to_contain_text("已重新开放 市财政局机关党委")
    message = page.locator("#feed .msg").first
    expect(message.locator(".meta")).to_contain_text("王芳")
    expect(message.locator(".meta")).to_contain_text("马军")
    expect(message.locator("pre")).to_contain_text("何志远已重新开放 市财政局机关党委 的填报")
    page.screenshot(path="/tmp/simulator.png", full_page=True)


@pytest.fixture
def api(demo_services):
    return TestClient(create_app(demo_services.settings, services=demo_services, sender=False))


def count(services, model) -> int:
    with services.db.read() as session:
        return session.exec(select(func.count()).select_from(model)).one()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"userid": "wangfang"},
        {"text": "帮助"},
        {"userid": "wangfang", "text": ""},
        {"userid": "", "text": "帮助"},
        {"userid": "w" * 65, "text": "帮助"},
        {"userid": 42, "text": "帮助"},
        {"userid": "wangfang", "text": ["帮助"]},
        [],
    ],
)
def test_send_with_junk_fields_is_a_422_and_writes_nothing(api, demo_services, body):
    response = api.post("/api/sim/send", json=body)
    assert response.status_code == 422
    assert count(demo_services, ProcessedMessage) == 0 and count(demo_services, Outbox) == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"userid": "wangfang", "text": ',
        b"\xff\xfe\x00",
        b'{"userid": "wangfang", "text": "\\ud800"}',
        b'{"userid": "wangfang", "text": "a\\u0000b"}',
        b'{"userid": "wang\\ud800", "text": "hi"}',
    ],
)
def test_send_with_a_body_that_cannot_be_read_or_stored_is_a_4xx(api, demo_services, raw):
    response = api.post("/api/sim/send", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert count(demo_services, ProcessedMessage) == 0


def test_refused_request_is_logged_and_not_echoed_back(api, caplog):
    caplog.set_level(logging.INFO, logger="bot.app")
    response = api.post("/api/sim/send", json={"userid": "秘密" * 40, "text": "秘密" * 3000})
    assert response.status_code == 422 and "秘密" not in response.text
    assert any("refused POST /api/sim/send: body.userid" in r.getMessage() for r in caplog.records)


def test_send_as_someone_not_on_the_roster_gets_a_polite_answer(api):
    response = api.post("/api/sim/send", json={"userid": "nobody", "text": "帮助"})
    assert response.status_code == 200
    assert response.json()["replies"] == [
        "您好！您还不在本次考核的名单中，暂时无法使用考核助手。如有疑问，请联系市直工委组织部。"
    ]


def test_send_longer_than_a_chat_message_is_answered_in_chinese(api):
    response = api.post("/api/sim/send", json={"userid": "wangfang", "text": "党" * 3000})
    assert response.status_code == 200
    assert "消息太长了" in response.json()["replies"][0]


@pytest.mark.parametrize("after", ["-1", "abc", "99999999999999999999999"])
def test_feed_with_a_junk_cursor_is_a_422(api, after):
    assert api.get(f"/api/sim/messages?after={after}").status_code == 422


def test_feed_lists_messages_to_others_with_names(u01_submitted, api):
    api.post("/api/sim/send", json={"userid": "hezhiyuan", "text": "重新开放 U01"})
    feed = api.get("/api/sim/messages").json()
    assert [(m["kind"], sorted(t["name"] for t in m["to"])) for m in feed] == [("user", ["王芳", "马军"])]


@pytest.fixture
def guarded_api(demo_url):
    settings = load_settings(
        database_url=demo_url,
        corp_id="ww0123456789abcdef",
        token="Tok3n",
        aes_key=AES_KEY,
        admin_token="adm1n-t0ken",
        _env_file=None,
    )
    services = build_services(settings)
    yield TestClient(create_app(settings, services=services, sender=False))
    services.close()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "adm1n"}])
def test_simulator_api_behind_a_real_wecom_app_needs_the_admin_token(guarded_api, headers):
    assert guarded_api.get("/api/sim/people", headers=headers).status_code == 401
    assert guarded_api.get("/api/sim/messages", headers=headers).status_code == 401
    assert (
        guarded_api.post("/api/sim/send", json={"userid": "hezhiyuan", "text": "帮助"}, headers=headers).status_code
        == 401
    )


def test_simulator_api_behind_a_real_wecom_app_opens_with_the_admin_token(guarded_api):
    response = guarded_api.get("/api/sim/people", headers={"Authorization": "Bearer adm1n-t0ken"})
    assert response.status_code == 200 and len(response.json()) == 17
