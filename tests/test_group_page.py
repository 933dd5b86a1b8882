import pytest
from playwright.sync_api import expect

from bot.app import create_app
from tests.test_simulator_page import WAIT_MS, browser, demo_services, demo_url, serving  # noqa: F401


@pytest.fixture
def group_page(browser, demo_services):  # noqa: F811
    with serving(create_app(demo_services.settings, services=demo_services)) as base_url:
        tab = browser.new_page()
        tab.set_viewport_size({"width": 390, "height": 844})
        tab.set_default_timeout(WAIT_MS)
        tab.goto(base_url + "group")
        yield tab
        tab.close()


def speak(page, who: str, text: str):
    page.select_option("#member", label=page.locator("#member option", has_text=who).first.inner_text())
    page.fill("#text", text)
    page.press("#text", "Enter")


@pytest.mark.browser
def test_in_the_group_chat_an_officer_opens_a_vote_a_member_clicks_the_card_and_the_result_is_posted(group_page):
    page = group_page
    speak(page, "胡林", "@考核助手 发起推荐 先进基层党组织 限选2")
    card = page.locator(".card").last
    expect(card).to_contain_text("第一联络组 先进基层党组织")
    expect(card.locator("label")).to_have_count(4)
    page.select_option("#member", label=page.locator("#member option", has_text="李强").first.inner_text())
    card.locator("label", has_text="1. 市财政局机关党委").locator("input").check()
    card.locator("label", has_text="3. 市统计局机关总支").locator("input").check()
    card.locator("button").click()
    expect(card.locator(".desc")).to_have_text("已投：1、3，截止前可改")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than a phone
    speak(page, "胡林", "@考核助手 结束投票")
    expect(page.locator(".bubble").last).to_contain_text("并列第1名（各 1 票）：市财政局机关党委、市统计局机关总支")
    expect(card.locator(".desc")).to_have_text("限选2，截止前可改")  # 胡林 sees his own, unvoted card


@pytest.mark.browser
def test_the_simulator_links_to_the_group_chat(browser, demo_services):  # noqa: F811
    with serving(create_app(demo_services.settings, services=demo_services)) as base_url:
        tab = browser.new_page()
        tab.goto(base_url)
        tab.click("text=群聊模拟（民主推荐）")
        expect(tab.locator("h1")).to_contain_text("群聊模拟")
        tab.close()


@pytest.mark.browser
def test_two_polls_at_once_show_each_group_post_once(group_page):
    page = group_page
    speak(page, "胡林", "@考核助手 帮助")  # the officer speaking in it ties the group to this chat
    expect(page.locator(".bubble").last).to_contain_text("发起推荐")
    # Opened from his own chat with the bot, the vote's ballot is posted to the group's chat.
    answer = page.request.post(
        page.url.replace("/group", "/api/sim/send"), data={"userid": "hulin", "text": "发起推荐 先进基层党组织 限选2"}
    )
    assert answer.ok, answer.text()
    posts = page.locator(".line .who", has_text="考核助手（群消息）")
    expect(posts.first).to_be_visible()
    page.wait_for_timeout(2500)  # the interval's poll has run too
    before = posts.count()
    # The interval's poll and the one after a message can start from the same cursor.
    page.evaluate("async () => { lastId = 0; await Promise.all([poll(), poll()]); }")
    assert posts.count() == before
