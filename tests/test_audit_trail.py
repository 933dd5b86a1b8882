import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.services import build_services
from bot.settings import load_settings


@pytest.fixture
def trail(chat, clock):
    wangfang = chat("wangfang")
    wangfang.script("党委会6次", "确认")
    clock.advance(minutes=5)
    wangfang.script("党委会8次 补开两次", "确认")
    clock.advance(minutes=5)
    chat("liqiang").script("党委会3次", "确认")


def test_kaohe_audit_prints_who_changed_what_from_what_to_what_in_the_campaign_zone(trail, kaohe, sqlite_url):
    result = kaohe("audit", env={"KAOHE_DATABASE_URL": sqlite_url})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Asia/Shanghai" in lines[0]
    assert "2013-12-12 10:00:00  王芳（wangfang）  U01 市财政局机关党委  表一 · 党委会 · 次数：（空） → 6" in lines
    assert "2013-12-12 10:05:00  王芳（wangfang）  U01 市财政局机关党委  表一 · 党委会 · 次数：6 → 8" in lines
    assert (
        "2013-12-12 10:05:00  王芳（wangfang）  U01 市财政局机关党委  表一 · 党委会 · 备注：（空） → 补开两次" in lines
    )


def test_kaohe_audit_lists_the_newest_changes_oldest_first(trail, kaohe, sqlite_url):
    lines = kaohe("audit", "--limit", "2", env={"KAOHE_DATABASE_URL": sqlite_url}).stdout.splitlines()
    assert len(lines) == 3 and "最近 2 条" in lines[0]
    assert "备注：（空） → 补开两次" in lines[1] and "U02" in lines[2] and "（空） → 3" in lines[2]


def test_kaohe_audit_for_one_unit_leaves_the_others_out(trail, kaohe, sqlite_url):
    result = kaohe("audit", "--unit", "u02", env={"KAOHE_DATABASE_URL": sqlite_url})
    assert result.returncode == 0, result.stderr
    assert "U02 市教育局机关党委" in result.stdout.splitlines()[0]
    assert "李强" in result.stdout and "王芳" not in result.stdout


def test_kaohe_audit_shows_a_submission_in_words(chat, kaohe, sqlite_url, services):
    from storage import entries

    with services.db.write() as session:
        entries.set_submitted(
            session=session, campaign_id="luoyang-2013", unit_code="U03", actor="hezhiyuan", submitted=True
        )
    result = kaohe("audit", "--unit", "U03", env={"KAOHE_DATABASE_URL": sqlite_url})
    assert "何志远（hezhiyuan）  自查 · 提交状态：未提交 → 已提交" in result.stdout


def test_kaohe_audit_of_an_unknown_unit_fails_in_one_line(kaohe, sqlite_url, services):
    result = kaohe("audit", "--unit", "U99", env={"KAOHE_DATABASE_URL": sqlite_url})
    assert result.returncode == 1
    assert result.stderr.strip() == "kaohe：没有单位编码 U99" and result.stdout == ""


@pytest.mark.parametrize("limit", ["0", "-3", "abc"])
def test_kaohe_audit_with_a_junk_limit_is_refused(kaohe, sqlite_url, services, limit):
    result = kaohe("audit", "--limit", limit, env={"KAOHE_DATABASE_URL": sqlite_url})
    assert result.returncode == 2 and "--limit" in result.stderr and "Traceback" not in result.stderr


def test_kaohe_audit_with_nothing_changed_says_so(kaohe, sqlite_url, services):
    result = kaohe("audit", env={"KAOHE_DATABASE_URL": sqlite_url})
    assert result.returncode == 0 and result.stdout.strip() == "还没有修改记录。"


@pytest.fixture
def api(services):
    settings = load_settings(database_url=services.settings.database_url, admin_token="t0ken", _env_file=None)
    app_services = build_services(settings, clock=services.clock)
    with TestClient(create_app(settings, services=app_services, sender=False)) as client:
        client.headers["Authorization"] = "Bearer t0ken"
        yield client
    app_services.close()


def test_api_audit_gives_the_rows_newest_first_in_the_campaign_zone(trail, api):
    rows = api.get("/api/audit", params={"unit": "U01"}).json()
    assert [(r["field"], r["old"], r["new"]) for r in rows] == [
        ("note", None, "补开两次"),
        ("count", "6", "8"),
        ("count", None, "6"),
    ]
    assert rows[-1]["at"] == "2013-12-12T10:00:00+08:00" and rows[-1]["actor_name"] == "王芳"


@pytest.mark.parametrize("params", [{"unit": "U99"}, {"limit": "0"}, {"limit": "x"}, {"unit": "U" * 40}])
def test_api_audit_with_junk_parameters_is_a_4xx(api, params):
    assert api.get("/api/audit", params=params).status_code in (404, 422)


def test_dashboard_unit_page_shows_its_audit_history(trail, api):
    page = api.get("/dashboard/units/U01").text
    assert "补开两次" in page and "2013-12-12 10:05:00" in page and "李强" not in page
