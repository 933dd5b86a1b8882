import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from bot.app import create_app
from tests.test_simulator_page import (  # noqa: F401  (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
    IN_CI,
    WAIT_MS,
    demo_services,
    demo_url,
    serving,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOO_LONG = "消息太长了（超过 2000 字），请分几次发送。"


@pytest.fixture(scope="module")
def far_browser(tmp_path_factory):
    # The browser's zone and locale are not the campaign's: times must still read as the bot's texts do.
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        message = f"chromium not found at {CHROMIUM!r}: set KAOHE_TEST_CHROMIUM or install Debian's chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(f"BROWSER TESTS SKIPPED: {message}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-far-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            timezone_id="America/New_York",
            locale="en-US",
        )
        yield context
        context.close()


@pytest.fixture
def site(demo_services):  # noqa: F811
    with serving(create_app(demo_services.settings, services=demo_services)) as base_url:
        yield base_url


def open_page(context, url: str, width: int, height: int):
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    tab.set_viewport_size({"width": width, "height": height})
    tab.goto(url)
    return tab


def inside(box: dict, width: int, height: int) -> bool:
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height


def page_width(tab) -> int:
    return tab.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")


def send(tab, text: str):
    tab.fill("#text", text)
    tab.press("#text", "Enter")


@pytest.mark.browser
def test_at_phone_width_nothing_overflows_and_send_is_on_screen(far_browser, site):
    tab = open_page(far_browser, site, 390, 844)
    tab.select_option("#picker", "wangfang")
    send(tab, "领导您好！今年我们党委会开了八次，其中有两次是线上开的，政治学习二十四次。" + "很长的备注" * 40)
    expect(tab.locator(".bubble.bot").last).to_contain_text("党委会：8 次")
    assert page_width(tab) <= 390
    assert inside(tab.locator("#send button").bounding_box(), 390, 844)
    assert inside(tab.locator("#text").bounding_box(), 390, 844)
    chat = tab.locator("#chat").bounding_box()
    for bubble in tab.locator(".bubble").all():
        box = bubble.bounding_box()
        assert box["x"] >= chat["x"] and box["x"] + box["width"] <= chat["x"] + chat["width"]
    tab.close()


@pytest.mark.browser
def test_at_desktop_width_roster_chat_and_feed_stand_side_by_side(far_browser, site):
    tab = open_page(far_browser, site, 1280, 800)
    tab.locator(".person", has_text="王芳").first.click()
    expect(tab.locator("#who")).to_contain_text("王芳")
    assert page_width(tab) <= 1280
    roster, talk, others = (tab.locator(f"#{i}").bounding_box() for i in ("roster", "talk", "others"))
    assert roster["x"] + roster["width"] <= talk["x"] and talk["x"] + talk["width"] <= others["x"]
    assert inside(tab.locator("#send button").bounding_box(), 1280, 800)
    assert not tab.locator("#picker").is_visible()
    tab.close()


@pytest.mark.browser
def test_a_reload_brings_the_conversation_back_from_the_server(far_browser, site):
    tab = open_page(far_browser, site, 1280, 800)
    tab.locator(".person", has_text="王芳").first.click()
    send(tab, "党委会6次")
    expect(tab.locator(".bubble.bot").last).to_contain_text("请核对")
    tab.reload()
    expect(tab.locator("#who")).to_contain_text("王芳")
    expect(tab.locator(".bubble.me")).to_have_text(["党委会6次"])
    expect(tab.locator(".bubble.bot").last).to_contain_text("党委会：6 次")
    other = open_page(far_browser, site, 390, 844)  # another browser tab: the history is the server's
    other.select_option("#picker", "wangfang")
    expect(other.locator(".bubble.me")).to_have_text(["党委会6次"])
    tab.close()
    other.close()


@pytest.mark.browser
def test_times_show_in_the_campaigns_zone_not_the_browsers(far_browser, site, demo_services):  # noqa: F811
    from storage import campaigns, entries

    with demo_services.db.write() as session:
        campaign = campaigns.active_campaign(session=session)
        entries.set_submitted(session=session, campaign_id=campaign.id, unit_code="U01", actor="x", submitted=True)
    tab = open_page(far_browser, site, 1280, 800)
    before = datetime.now(UTC)
    tab.locator(".person", has_text="何志远").first.click()
    send(tab, "重新开放 U01")
    expect(tab.locator("#feed .msg").first).to_contain_text("何志远已重新开放")
    shown = {(before + timedelta(seconds=s)).astimezone(SHANGHAI).strftime("%m-%d %H:%M") for s in (0, 60)}
    meta = tab.locator("#feed .msg .meta").first.inner_text()
    assert any(t in meta for t in shown), meta
    assert any(t in tab.locator("#chat .time").last.inner_text() for t in shown)
    assert "PM" not in meta and "AM" not in meta
    tab.close()


@pytest.mark.browser
def test_a_message_sent_while_the_history_loads_is_not_lost_when_it_arrives(far_browser, site):
    # The history is read by the server before the message is sent, but reaches the page after it:
    # the page must not let that older history replace the conversation the clerk has just had.
    tab = open_page(far_browser, site, 390, 844)
    held = []

    def hold(route):
        held.append((route, route.fetch()))

    tab.route("**/api/sim/chat?*", hold)
    tab.select_option("#picker", "wangfang")
    for _ in range(100):
        if held:
            break
        tab.wait_for_timeout(50)
    assert held, "the page never asked for the history"
    send(tab, "帮助")
    tab.wait_for_timeout(300)  # the message has gone, or is waiting for the history
    route, response = held.pop()
    route.fulfill(response=response)
    expect(tab.locator(".bubble.me").last).to_have_text("帮助")
    expect(tab.locator(".bubble.bot").last).to_contain_text("填报")
    expect(tab.locator("#chat .time")).to_have_count(1)
    tab.close()


@pytest.mark.browser
def test_a_message_waiting_for_the_history_goes_as_who_typed_it_even_after_a_switch(far_browser, site, demo_services):  # noqa: F811
    tab = open_page(far_browser, site, 390, 844)
    held = []
    tab.route("**/api/sim/chat?userid=wangfang", lambda route: held.append((route, route.fetch())))
    tab.select_option("#picker", "wangfang")
    for _ in range(100):
        if held:
            break
        tab.wait_for_timeout(50)
    send(tab, "帮助")
    tab.select_option("#picker", "majun")  # before 王芳's history has come back
    route, response = held.pop()
    route.fulfill(response=response)
    tab.select_option("#picker", "wangfang")
    expect(tab.locator(".bubble.bot").last).to_contain_text("填报")
    chat = TestClient(create_app(demo_services.settings, services=demo_services, sender=False))
    said = {who: [t["text"] for t in chat.get(f"/api/sim/chat?userid={who}").json()] for who in ("wangfang", "majun")}
    assert said == {"wangfang": ["帮助"], "majun": []}
    tab.close()


@pytest.mark.browser
@pytest.mark.parametrize("length", [2001, 30_000])
def test_a_message_over_the_limit_gets_the_bots_sentence_whatever_its_length(far_browser, site, length):
    tab = open_page(far_browser, site, 390, 844)
    tab.select_option("#picker", "wangfang")
    tab.evaluate(f"document.getElementById('text').value = '党'.repeat({length})")
    tab.press("#text", "Enter")
    expect(tab.locator(".bubble.bot").last).to_have_text(TOO_LONG)
    assert "422" not in tab.locator("#chat").inner_text() and "413" not in tab.locator("#chat").inner_text()
    tab.close()


@pytest.fixture
def api(demo_services):  # noqa: F811
    return TestClient(create_app(demo_services.settings, services=demo_services, sender=False))


def test_a_body_over_the_cap_is_refused_with_the_same_sentence(api):
    response = api.post("/api/sim/send", json={"userid": "wangfang", "text": "党" * 30_000})
    assert response.status_code == 413 and response.json() == {"detail": TOO_LONG}


def test_a_long_message_under_the_cap_is_answered_by_the_bot_with_that_sentence(api):
    response = api.post("/api/sim/send", json={"userid": "wangfang", "text": "党" * 10_000})
    assert response.status_code == 200 and response.json()["replies"] == [TOO_LONG]


def test_the_conversation_is_kept_per_person_in_order(api):
    api.post("/api/sim/send", json={"userid": "wangfang", "text": "帮助"})
    api.post("/api/sim/send", json={"userid": "hulin", "text": "本组进度"})
    api.post("/api/sim/send", json={"userid": "wangfang", "text": "进度"})
    turns = api.get("/api/sim/chat?userid=wangfang").json()
    assert [t["text"] for t in turns] == ["帮助", "进度"]
    assert "填报 ——" in turns[0]["replies"][0] and len(turns[1]["at"]) == len("12-02 06:22")


@pytest.mark.parametrize("query", ["", "?userid=", "?userid=" + "w" * 65])
def test_conversation_with_a_junk_userid_is_a_422(api, query):
    assert api.get("/api/sim/chat" + query).status_code == 422


def test_conversation_of_someone_who_never_spoke_is_empty(api):
    assert api.get("/api/sim/chat?userid=nobody").json() == []
