import re

import pytest
from sqlmodel import func, select

from storage.models import AuditEntry, BonusItem, GradeDecision, ReviewedScore, RoutineScore
from tests.dashboard_fixtures import csrf_of
from tests.test_clerk_submit import fill_everything


@pytest.fixture
def u01_scored(chat):
    c = chat("wangfang")
    fill_everything(c)  # table 2 self-score 955.5 of 1000
    c.script("加分 市级表彰 5", "获市级先进基层党组织表彰")
    chat("liqiang").script("加分 省级表彰 3", "省级文明单位")


def count(services, model) -> int:
    with services.db.read() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def result_of(client, code="U01") -> dict:
    return next(r for r in client.get("/api/results").json() if r["code"] == code)


def test_routine_reviewed_bonus_and_grade_through_the_api_make_the_final_score(u01_scored, bearer):
    assert bearer.post("/api/units/U01/routine", json={"score": 92}).json() == {"ok": True}
    review = {"key": "organisation", "points": 160, "reason": "组织生活会记录不全"}
    assert bearer.post("/api/units/U01/reviewed", json=review).status_code == 200
    assert bearer.post("/api/bonus/1/decision", json={"approve": True}).status_code == 200
    r = result_of(bearer)
    # year-end 945.5/1000 x 100 = 94.55; final 94.55 x 0.7 + 92 x 0.3 + 5 = 98.785 -> 98.79
    assert (r["year_end"], r["routine"], r["bonus"], r["final"], r["proposed_grade"]) == (94.55, 92, 5, 98.79, "好")
    assert bearer.post("/api/units/U01/grade", json={"grade": "较好", "reason": "年内发生违纪问题"}).status_code == 200
    r = result_of(bearer)
    assert (r["proposed_grade"], r["grade"], r["grade_override"]["reason"]) == ("好", "较好", "年内发生违纪问题")
    assert r["reviews"][0]["self_score"] == 170 and r["reviews"][0]["reviewed"] == 160


def test_every_scoring_action_is_in_the_audit_trail_with_the_admin_who_logged_in(u01_scored, logged_in):
    headers = {"X-CSRF-Token": csrf_of(logged_in)}
    logged_in.post("/api/units/U01/routine", json={"score": 90}, headers=headers)
    logged_in.post("/api/units/U01/grade", json={"grade": "一般", "reason": "材料迟交"}, headers=headers)
    logged_in.post("/api/bonus/2/decision", json={"approve": False, "reason": "不在加分范围"}, headers=headers)
    rows = logged_in.get("/api/audit", params={"limit": 3}).json()
    assert [(r["actor_name"], r["what"], r["new_text"]) for r in rows] == [
        ("何志远", "加分项目 第 2 号 · 审核", "不批准：不在加分范围"),
        ("何志远", "等次 · 评定等次", "一般：材料迟交"),
        ("何志远", "平时考核 · 平时成绩", "90.0"),
    ]


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/api/units/U01/routine", {"score": 101}, "不大于 100"),
        ("/api/units/U01/routine", {"score": -1}, "不小于 0"),
        ("/api/units/U01/routine", {"score": "abc"}, "平时成绩应是数字"),
        ("/api/units/U01/routine", {"score": True}, "应是数字"),
        ("/api/units/U01/routine", {}, "缺少平时成绩"),
        ("/api/units/U01/routine", {"score": 90, "by": "x"}, "不认识的字段「by」"),
        ("/api/units/U99/routine", {"score": 90}, "没有编码为「U99」的单位"),
        ("/api/units/U01/reviewed", {"key": "organisation", "points": 190, "reason": "x"}, "不大于 180"),
        ("/api/units/U01/reviewed", {"key": "organisation", "points": 150.3, "reason": "x"}, "半分"),
        ("/api/units/U01/reviewed", {"key": "nope", "points": 10, "reason": "x"}, "表二没有「nope」"),
        ("/api/units/U01/reviewed", {"key": "organisation", "points": 150, "reason": " "}, "理由"),
        ("/api/units/U01/reviewed", {"key": "organisation", "points": 150, "reason": "x" * 501}, "理由太长"),
        ("/api/units/U01/grade", {"grade": "优秀", "reason": "x"}, "不在本次考核的等次中"),
        ("/api/units/U01/grade", {"grade": "好"}, "缺少理由"),
        ("/api/bonus/1/decision", {"approve": False}, "不批准需要写明理由"),
        ("/api/bonus/1/decision", {"approve": "maybe"}, "应是 true 或 false"),
        ("/api/bonus/99/decision", {"approve": True}, "没有第 99 号加分申报"),
        ("/api/bonus/abc/decision", {"approve": True}, "没有第 abc 号"),
        ("/api/bonus/99999999999999999999/decision", {"approve": True}, "号加分申报"),
    ],
)
def test_junk_scoring_input_is_a_4xx_in_chinese_and_writes_nothing(u01_scored, bearer, services, path, body, says):
    before = count(services, AuditEntry)
    answer = bearer.post(path, json=body)
    assert 400 <= answer.status_code < 500 and says in answer.json()["detail"]
    assert count(services, AuditEntry) == before
    assert count(services, RoutineScore) == count(services, ReviewedScore) == count(services, GradeDecision) == 0


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b"\xff\xfe", b'{"score": NaN}', b'{"score": 1e999}', b'{"key": "\\ud800"}', b"x" * 20000],
)
def test_bodies_that_cannot_be_read_are_a_4xx_never_a_500(u01_scored, bearer, raw):
    for path in ("/api/units/U01/routine", "/api/units/U01/reviewed", "/api/units/U01/grade", "/api/bonus/1/decision"):
        answer = bearer.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert 400 <= answer.status_code < 500, (path, answer.text)
        assert re.search(r"[\u4e00-\u9fff]", answer.json()["detail"])


def test_a_reason_with_a_nul_is_refused_before_the_database(u01_scored, bearer, services):
    answer = bearer.post("/api/units/U01/grade", json={"grade": "好", "reason": "a\x00b"})
    assert answer.status_code == 422 and "无法保存的字符" in answer.json()["detail"]


def test_session_posts_need_the_csrf_token(u01_scored, logged_in, services):
    assert logged_in.post("/api/units/U01/routine", json={"score": 90}).status_code == 403
    wrong = {"X-CSRF-Token": "0" * 64}
    assert logged_in.post("/api/units/U01/routine", json={"score": 90}, headers=wrong).status_code == 403
    assert count(services, RoutineScore) == 0
    right = {"X-CSRF-Token": csrf_of(logged_in)}
    assert logged_in.post("/api/units/U01/routine", json={"score": 90}, headers=right).status_code == 200


def test_session_posts_from_another_origin_are_refused_even_with_the_token(u01_scored, logged_in, services):
    headers = {"X-CSRF-Token": csrf_of(logged_in), "Origin": "http://evil.test"}
    answer = logged_in.post("/api/units/U01/routine", json={"score": 90}, headers=headers)
    assert answer.status_code == 403 and "来源" in answer.json()["detail"]
    assert count(services, RoutineScore) == 0


def test_scoring_posts_without_credentials_are_401(u01_scored, client):
    assert client.post("/api/units/U01/routine", json={"score": 90}).status_code == 401


def test_routine_file_upload_is_all_or_nothing_with_row_numbers(u01_scored, bearer, services):
    bad = "单位编码,平时成绩\nU01,90\nU02,abc\nU77,80\n".encode()
    answer = bearer.post("/api/routine", files={"file": ("平时.csv", bad)})
    assert answer.status_code == 422
    assert [r["row"] for r in answer.json()["detail"]["refused"]] == [3, 4] and count(services, RoutineScore) == 0
    good = "单位编码,平时成绩\nU01,90\nU02,85.5\n".encode()
    assert bearer.post("/api/routine", files={"file": ("平时.csv", good)}).json()["added"] == ["U01", "U02"]
    assert result_of(bearer, "U02")["routine"] == 85.5


@pytest.mark.parametrize(
    ("files", "status"),
    [(None, 422), ({"file": ("x.csv", b"")}, 422), ({"file": ("x.csv", b"a" * (2 * 1024 * 1024 + 10))}, 413)],
)
def test_junk_routine_uploads_are_refused(bearer, files, status):
    answer = bearer.post("/api/routine", files=files) if files else bearer.post("/api/routine", data={"x": "1"})
    assert answer.status_code == status


def test_results_download_is_the_kaohe_results_csv(u01_scored, bearer):
    answer = bearer.get("/api/results/download", params={"format": "csv"})
    assert answer.status_code == 200 and answer.text.lstrip("\ufeff").startswith("单位编码,单位名称")
    assert bearer.get("/api/results/download", params={"format": "pdf"}).status_code == 422


# ---- the dashboard's forms ----


def form(client, path, **fields):
    return client.post(path, data={"csrf_token": csrf_of(client), **fields}, follow_redirects=False)


def test_grade_override_form_shows_the_override_beside_the_proposed_grade(u01_scored, logged_in):
    form(logged_in, "/dashboard/units/U01/routine", score="92")
    answer = form(logged_in, "/dashboard/units/U01/grade", grade="较好", reason="年内发生违纪问题")
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/units/U01?saved=grade#scoring"
    page = logged_in.get(answer.headers["location"]).text
    assert '<b id="sc-grade">较好</b><span>评定等次（建议 好）</span>' in page
    assert "评定为「较好」（建议 好）：年内发生违纪问题" in page and "等次已评定" in page
    results = logged_in.get("/dashboard/results").text
    assert '<b>较好</b><br><span class="warn">建议 好；何志远：年内发生违纪问题</span>' in results


def test_reviewed_score_form_shows_the_reviewed_figure_beside_the_self_score(u01_scored, logged_in):
    form(logged_in, "/dashboard/units/U01/reviewed", key="organisation", points="160", reason="记录不全")
    page = logged_in.get("/dashboard/units/U01").text
    reviewed = page.split('id="reviewed"', 1)[1]
    row = re.search(r"<tr><td>三、组织建设</td>.*?</tr>", reviewed, re.S).group(0)
    assert ">170<" in row and "<b>160</b>" in row and "何志远" in row and "记录不全" in row
    assert '<b id="sc-year-end">94.55</b>' in page


def test_bonus_decision_forms_from_the_results_page_and_a_unit_page(u01_scored, logged_in, services):
    assert "市级表彰" in logged_in.get("/dashboard/results").text
    answer = form(logged_in, "/dashboard/bonus/1/decision", approve="true", reason="")
    assert answer.headers["location"] == "/dashboard/results?saved=bonus"
    refused = form(logged_in, "/dashboard/bonus/2/decision?unit=U02", approve="false", reason="")
    assert refused.status_code == 422 and "不批准需要写明理由" in refused.text
    form(logged_in, "/dashboard/bonus/2/decision?unit=U02", approve="false", reason="不在范围")
    with services.db.read() as session:
        assert [b.status for b in session.exec(select(BonusItem).order_by(BonusItem.id))] == ["approved", "refused"]


def test_a_refused_form_shows_the_page_again_with_the_reason_and_saves_nothing(u01_scored, logged_in, services):
    answer = form(logged_in, "/dashboard/units/U01/routine", score="abc")
    assert answer.status_code == 422 and "未保存：平时成绩应是数字" in answer.text and "表一" in answer.text
    assert count(services, RoutineScore) == 0


def test_a_form_without_the_csrf_token_is_refused_and_saves_nothing(u01_scored, logged_in, services):
    answer = logged_in.post("/dashboard/units/U01/routine", data={"score": "90"})
    assert answer.status_code == 403 and "请刷新页面" in answer.text
    assert count(services, RoutineScore) == 0


def test_a_form_without_a_session_goes_to_the_login_page(client, services):
    answer = client.post("/dashboard/units/U01/routine", data={"score": "90"}, follow_redirects=False)
    assert answer.headers["location"] == "/dashboard/login" and count(services, RoutineScore) == 0


def test_routine_file_form_reports_refused_rows(u01_scored, logged_in):
    files = {"file": ("平时.csv", "单位编码,平时成绩\nU01,900\n".encode())}
    answer = logged_in.post("/dashboard/routine", data={"csrf_token": csrf_of(logged_in)}, files=files)
    assert answer.status_code == 422 and "第 2 行：U01 的平时成绩应不小于 0、不大于 100" in answer.text
