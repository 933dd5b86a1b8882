from schedules.audience import AUDIENCES, select_audience
from storage import campaigns
from storage.campaign import AUDIENCES as FILE_AUDIENCES
from tests.bulk_roster import add_roster
from tests.conftest import IN_SELF_CHECK
from tests.test_clerk_submit import fill_everything

UNIT_01_CLERKS = {"wangfang", "majun"}
ALL_CLERKS = {
    "wangfang",
    "majun",
    "liqiang",
    "zhangmin",
    "liujing",
    "chenjie",
    "yangyang",
    "zhaolei",
    "huangyan",
    "zhoutao",
    "wuxia",
    "xuhui",
    "sunli",
}


def letters(services, key, now=IN_SELF_CHECK):
    with services.db.read() as session:
        campaign = campaigns.active_campaign(session=session)
        reminder = next(r for r in campaign.reminders if r.key == key)
        return select_audience(session, campaign, reminder, now)


def texts(services, key) -> dict[str, str]:
    return {userid: letter.text for letter in letters(services, key) for userid in letter.userids}


def submit_unit_01(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")


def listed(text: str, table: str, sep: str) -> set[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"· {table}"))
    return set(line.split("：", 1)[1].split(sep))


def test_every_audience_of_the_campaign_format_has_a_selector():
    assert set(AUDIENCES) == set(FILE_AUDIENCES)


def test_clerks_not_submitted_selects_every_clerk_of_a_unit_that_has_not_submitted(services):
    assert set(texts(services, "self_check_week")) == ALL_CLERKS


def test_a_unit_that_submitted_gets_nothing(services, chat):
    submit_unit_01(chat)
    assert set(texts(services, "self_check_week")) == ALL_CLERKS - UNIT_01_CLERKS


def test_clerk_text_names_exactly_the_missing_items(services, chat):
    chat("wangfang").script("党委会6次，政治学习20次", "确认", "组织建设 170", "确认")
    text = texts(services, "self_check_week")["wangfang"]
    with services.db.read() as session:
        campaign = campaigns.active_campaign(session=session)
    activities = {a.name for a in campaign.activities_for("党委")} - {"党委会", "政治学习"}
    assert listed(text, "表一", "、") == activities
    assert listed(text, "表二", "；") == {c.name for c in campaign.categories} - {"三、组织建设"}


def test_clerk_text_gives_the_deadline_and_days_left(services):
    text = texts(services, "self_check_week")["liqiang"]
    assert "12月22日截止" in text and "还剩 11 天" in text and "「填报」" in text


def test_clerks_of_one_unit_read_the_same_text(services):
    found = texts(services, "self_check_week")
    assert found["wangfang"] == found["majun"]


def test_a_unit_with_everything_filled_is_told_to_submit(services, chat):
    fill_everything(chat("wangfang"))
    text = texts(services, "self_check_week")["majun"]
    assert "都已填完" in text and "「提交」" in text
    assert "· 表一" not in text


def test_clerks_all_reaches_every_clerk_with_one_text(services, chat):
    submit_unit_01(chat)
    found = letters(services, "opening")
    assert len(found) == 1 and set(found[0].userids) == ALL_CLERKS
    assert "自查总结阶段 12月9日至12月22日" in found[0].text


def test_liaison_officer_hears_which_of_the_groups_units_are_behind(services, chat):
    submit_unit_01(chat)
    chat("liqiang").script("党委会6次", "确认")
    found = texts(services, "group_review_opens")
    assert set(found) == {"hulin", "guoping", "linfeng"}
    assert "第一联络组" in found["hulin"] and "1/4 个单位已提交" in found["hulin"]
    assert "市教育局机关党委：表一缺 13 项，表二缺 7 类" in found["hulin"]
    assert "市财政局机关党委" not in found["hulin"] and "市民政局机关党委" not in found["hulin"]
    assert "市民政局机关党委" in found["guoping"]


def test_voters_not_voted_selects_nobody_until_there_are_votes(services):
    assert letters(services, "votes_pending") == []


def test_administrators_get_the_city_wide_picture(services, chat):
    submit_unit_01(chat)
    found = texts(services, "committee_opens")
    assert set(found) == {"hezhiyuan"}
    assert "全市 1/12 个单位已提交自查" in found["hezhiyuan"] and "第一联络组：1/4" in found["hezhiyuan"]


def test_every_reminder_text_fits_one_wecom_message(services):
    with services.db.read() as session:
        keys = [r.key for r in campaigns.active_campaign(session=session).reminders]
    assert all(len(letter.text.encode()) <= 2048 for key in keys for letter in letters(services, key))


def test_a_large_group_is_summed_up_not_listed_in_full(services):
    add_roster(services.db, units=300, clerks_per_unit=1, groups=3)
    found = texts(services, "committee_opens")["hezhiyuan"]
    assert "全市 0/312" in found and "等 100 个" in found and len(found.encode()) <= 2048
