import pytest

from tests.test_clerk_submit import fill_everything


@pytest.fixture
def u01_filled_and_submitted(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    chat("liqiang").script("党委会4次", "确认", "组织建设 150", "确认")


def test_progress_counts_submitted_complete_and_filled_cells(u01_filled_and_submitted, bearer):
    city = bearer.get("/api/progress").json()
    assert (city["unit_count"], city["submitted"], city["complete"]) == (12, 1, 1)
    # U01: 14 activities + 7 scores, U02: 2 cells; of 12 units x 21 cells
    assert city["filled_percent"] == round(100 * 23 / 252, 1)
    first = city["groups"][0]
    assert (first["name"], first["submitted"], first["complete"]) == ("第一联络组", 1, 1)
    assert [u["code"] for u in first["behind"]] == ["U02", "U03", "U04"]
    assert city["phase"] == "自查总结"


def test_score_distribution_puts_each_scored_unit_in_its_band(u01_filled_and_submitted, bearer):
    bins = bearer.get("/api/progress").json()["score_distribution"]
    assert len(bins) == 10 and bins[9] == {"from": 900.0, "to": 1000.0, "units": 1}  # U01: 955.5
    assert bins[1]["units"] == 1 and sum(b["units"] for b in bins) == 2  # U02: 150; the rest entered nothing


def test_a_group_lists_its_units_with_their_figures(u01_filled_and_submitted, bearer):
    group = bearer.get("/api/groups/1").json()
    assert group["liaison_officers"] == [{"userid": "hulin", "name": "胡林"}]
    u01, u02 = group["units"][:2]
    assert (u01["submitted"], u01["self_score"], u01["activities_filled"]) == (True, 955.5, 14)
    assert (u02["submitted"], u02["self_score"], u02["activities_filled"], u02["activities_reached"]) == (
        False,
        150,
        1,
        0,
    )
    assert bearer.get("/api/groups/第二联络组").json()["code"] == "2"


def test_a_unit_shows_table_one_against_targets_and_its_submission(u01_filled_and_submitted, bearer):
    unit = bearer.get("/api/units/u02").json()
    dangweihui = next(a for a in unit["activities"] if a["key"] == "dangweihui")
    assert dangweihui == {"key": "dangweihui", "name": "党委会", "target": 6, "count": 4, "note": None, "short_by": 2}
    assert next(s for s in unit["scores"] if s["key"] == "organisation")["points"] == 150
    u01 = bearer.get("/api/units/U01").json()
    assert u01["submitted"] and u01["submitted_at"] == "2013-12-12T10:00:00+08:00"
    assert {r["field"] for r in u01["audit"]} >= {"count", "points", "submitted"}


@pytest.mark.parametrize(
    "path",
    ["/api/units/U99", "/api/groups/99", "/api/groups/abc", "/api/groups/99999999999999999999", "/api/units/%00"],
)
def test_unknown_group_or_unit_is_a_404_in_chinese(bearer, path):
    answer = bearer.get(path)
    assert answer.status_code == 404 and answer.json()["detail"].startswith("没有")


@pytest.mark.parametrize("query", ["audit_limit=0", "audit_limit=abc", "audit_limit=100000"])
def test_unit_with_a_junk_audit_limit_is_a_422(bearer, query):
    assert bearer.get(f"/api/units/U01?{query}").status_code == 422


def test_votes_say_none_yet(bearer, logged_in):
    assert bearer.get("/api/votes").json() == {"votes": []}
    assert "暂无投票" in logged_in.get("/dashboard/").text


def test_votes_show_turnout_and_counts_only_once_closed(services, bearer, logged_in):
    from tests.test_votes_report import run_a_vote

    run_a_vote(services)
    closed, running = bearer.get("/api/votes").json()["votes"]
    assert (closed["status"], closed["voted"], closed["eligible"]) == ("closed", 2, 5)
    assert running["status"] != "closed" and all(c["count"] is None for c in running["candidates"])
    page = logged_in.get("/dashboard/").text.split('id="votes"', 1)[1]
    assert "第一联络组 · 先进基层党组织" in page and "实到 2/应到 5" in page
    assert '<tr><td>市财政局机关党委</td><td class="n">2</td></tr>' in page and "投票结束前不显示得票" in page


def test_city_page_shows_the_figures_and_links_each_group(u01_filled_and_submitted, logged_in):
    page = logged_in.get("/dashboard/").text
    assert '<b id="fig-submitted">1</b>' in page and '<b id="fig-units">12</b>' in page
    assert '<a href="/dashboard/groups/1">第一联络组</a>' in page and "暂无投票" in page
    assert '<script src="/static/chart.umd.min.js"></script>' in page


def test_unit_page_shows_counts_against_targets(u01_filled_and_submitted, logged_in):
    page = logged_in.get("/dashboard/units/U02").text
    assert "<td>党委会</td>" in page and '<span class="warn">2</span>' in page and "未填完" in page


def test_unknown_unit_page_is_a_404_in_chinese(logged_in):
    page = logged_in.get("/dashboard/units/U99")
    assert page.status_code == 404 and "没有单位编码 U99" in page.text


def test_chart_library_is_served_by_the_service_itself(client):
    answer = client.get("/static/chart.umd.min.js")
    assert answer.status_code == 200 and "Chart.js v4" in answer.text[:200]
    assert "MIT License" in client.get("/static/chart.js-LICENSE.md").text


def test_export_downloads_the_workbook_with_the_session_cookie(logged_in):
    from io import BytesIO

    from openpyxl import load_workbook

    answer = logged_in.get("/api/export?format=xlsx")
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    assert load_workbook(BytesIO(answer.content)).worksheets


@pytest.mark.parametrize(
    ("query", "field"), [("limit=0", "limit"), ("limit=abc", "limit"), ("unit=" + "U" * 40, "unit")]
)
def test_junk_query_parameters_get_a_chinese_line_naming_the_field(bearer, query, field):
    answer = bearer.get(f"/api/audit?{query}")
    assert answer.status_code == 422 and answer.json()["message"] == f"请求参数不对：{field}"


def test_announcement_draft_downloads_as_a_word_document(logged_in):
    from io import BytesIO

    import docx

    answer = logged_in.get("/api/documents/announcement")
    assert answer.status_code == 200 and "filename*=UTF-8''" in answer.headers["content-disposition"]
    text = "\n".join(p.text for p in docx.Document(BytesIO(answer.content)).paragraphs)
    assert "考核结果通报" in text
    assert 'href="/api/documents/announcement"' in logged_in.get("/dashboard/").text


def test_unit_summary_draft_downloads_from_the_unit_page(logged_in):
    from io import BytesIO

    import docx

    assert 'href="/api/documents/summary/U01"' in logged_in.get("/dashboard/units/U01").text
    answer = logged_in.get("/api/documents/summary/u01")
    assert answer.status_code == 200
    text = "\n".join(p.text for p in docx.Document(BytesIO(answer.content)).paragraphs)
    assert "市财政局机关党委" in text and "自查总结" in text


def test_documents_need_a_login(client):
    assert client.get("/api/documents/announcement").status_code == 401
    assert client.get("/api/documents/summary/U01").status_code == 401


def test_summary_of_an_unknown_unit_is_a_404_in_chinese(logged_in):
    missing = logged_in.get("/api/documents/summary/U99")
    assert missing.status_code == 404 and "没有单位编码 U99" in missing.json()["detail"]
