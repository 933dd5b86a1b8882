from io import BytesIO

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from bot.channels.admin_session import COOKIE
from tests.dashboard_fixtures import TOKEN
from tests.test_clerk_submit import fill_everything
from tests.test_simulator_page import WAIT_MS, browser, serving  # noqa: F401  (browser: the chromium fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def site(admin_app, chat):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    chat("liqiang").script("党委会4次", "确认")
    with serving(admin_app) as base_url:
        yield base_url


@pytest.fixture
def tab(browser, site):  # noqa: F811
    tab = browser.new_page()
    tab.set_default_timeout(WAIT_MS)
    yield tab
    tab.close()
    browser.clear_cookies()


def log_in(tab, site, token=TOKEN):
    tab.goto(site + "dashboard/")
    expect(tab.locator("h2")).to_have_text("管理后台登录")
    tab.select_option("#actor", "hezhiyuan")
    tab.fill("#token", token)
    with tab.expect_navigation():  # to the "load" event: the chart scripts have run
        tab.click("button[type=submit]")


def test_login_then_city_figures_come_from_the_database(tab, site):
    log_in(tab, site)
    expect(tab.locator("#fig-units")).to_have_text("12")
    expect(tab.locator("#fig-submitted")).to_have_text("1")
    expect(tab.locator("header nav")).to_contain_text("何志远")
    expect(tab.locator("#groups tbody tr").first).to_contain_text("市教育局机关党委")
    assert tab.evaluate("() => Chart.getChart('chart-groups').data.datasets[0].data") == [25, 0, 0]
    assert tab.evaluate("() => Chart.getChart('chart-scores').data.datasets[0].data[9]") == 1
    tab.screenshot(path="/tmp/dashboard-city.png", full_page=True)


def test_wrong_token_is_told_in_chinese_and_gets_no_cookie(tab, site, browser):  # noqa: F811
    log_in(tab, site, token="wrong")
    expect(tab.locator(".error")).to_contain_text("令牌不正确")
    assert not [c for c in browser.cookies() if c["name"] == COOKIE]


def test_drill_down_from_city_to_group_to_unit_with_its_history(tab, site, browser):  # noqa: F811
    log_in(tab, site)
    cookie = next(c for c in browser.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    tab.click("text=第一联络组")
    expect(tab.locator("#units")).to_contain_text("市统计局机关总支")
    expect(tab.locator("p", has_text="联络员")).to_contain_text("胡林")
    tab.click("text=市教育局机关党委")
    expect(tab.locator("#activities tr", has_text="党委会")).to_contain_text("4")
    expect(tab.locator("#state")).to_contain_text("未填完")
    expect(tab.locator("#unit-audit")).to_contain_text("李强")
    expect(tab.locator(".crumbs")).to_contain_text("第一联络组")


def test_download_the_workbook_from_the_dashboard(tab, site, tmp_path):
    log_in(tab, site)
    with tab.expect_download() as info:
        tab.click("text=填报表格（Excel）")
    path = tmp_path / "download.xlsx"
    info.value.save_as(path)
    book = load_workbook(BytesIO(path.read_bytes()))
    assert book.worksheets and info.value.suggested_filename == "kaohe-tables.xlsx"


def test_logout_ends_the_session(tab, site):
    log_in(tab, site)
    tab.click("text=退出登录")
    expect(tab.locator("h2")).to_have_text("管理后台登录")
    tab.goto(site + "dashboard/units/U01")
    expect(tab.locator("h2")).to_have_text("管理后台登录")


def test_dashboard_fits_a_phone_and_prints_without_its_controls(tab, site):
    log_in(tab, site)
    for path in ("dashboard/", "dashboard/units/U01", "dashboard/groups/1", "dashboard/audit", "dashboard/results"):
        tab.set_viewport_size({"width": 390, "height": 844})
        tab.goto(site + path)
        assert tab.evaluate("() => document.documentElement.scrollWidth") <= 390, path
    tab.goto(site + "dashboard/")
    tab.screenshot(path="/tmp/dashboard-phone.png", full_page=True)
    tab.emulate_media(media="print")
    expect(tab.locator("header nav")).to_be_hidden()
    expect(tab.locator(".downloads")).to_be_hidden()
    expect(tab.locator("#groups")).to_be_visible()


def test_override_a_grade_and_review_a_score_on_the_unit_screen(tab, site):
    log_in(tab, site)
    tab.goto(site + "dashboard/units/U01")
    tab.fill("#routine-score", "92")
    tab.click("#form-routine button")
    expect(tab.locator("#notice")).to_have_text("平时成绩已保存。")
    tab.select_option("#reviewed-key", "organisation")
    tab.fill("#reviewed-points", "160")
    tab.fill("#reviewed-reason", "组织生活会记录不全")
    tab.click("#form-reviewed button")
    expect(tab.locator("#reviewed tr", has_text="三、组织建设")).to_contain_text("160")
    expect(tab.locator("#reviewed tr", has_text="三、组织建设")).to_contain_text("组织生活会记录不全")
    expect(tab.locator("#sc-year-end")).to_have_text("94.55")
    tab.select_option("#grade", "较好")
    tab.fill("#grade-reason", "年内发生违纪问题")
    tab.click("#form-grade button")
    expect(tab.locator("#grade-override")).to_contain_text("评定为「较好」（建议 好）：年内发生违纪问题")
    expect(tab.locator("#unit-audit tr").nth(1)).to_contain_text("好")
    expect(tab.locator("#unit-audit tr").nth(1)).to_contain_text("较好：年内发生违纪问题")
    tab.goto(site + "dashboard/results")
    expect(tab.locator("#results tr", has_text="市财政局机关党委")).to_contain_text("建议 好")
    assert (
        tab.evaluate("() => Chart.getChart('chart-final').data.datasets[0].data[9]") == 1
    )  # 93.79 (no bonus approved): 90–100
