import time

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.channels.admin_session import COOKIE, LIFETIME_S
from bot.services import build_services
from bot.settings import load_settings
from tests.dashboard_fixtures import TOKEN, csrf_of, login

API_PATHS = ["/api/progress", "/api/groups/1", "/api/units/U01", "/api/votes", "/api/audit", "/api/export"]


@pytest.mark.parametrize("path", API_PATHS)
def test_api_without_a_token_is_401(client, path):
    answer = client.get(path)
    assert answer.status_code == 401 and answer.json()["detail"] == "需要管理员令牌或先登录"


@pytest.mark.parametrize("header", ["Bearer wrong", f"Bearer {TOKEN}x", TOKEN[:-1], "Basic abc", "Bearer "])
def test_api_with_a_wrong_bearer_token_is_401(client, header):
    assert client.get("/api/progress", headers={"Authorization": header}).status_code == 401


def test_api_with_the_bearer_token_answers(bearer):
    assert bearer.get("/api/progress").json()["unit_count"] == 12


def test_api_with_the_session_cookie_answers(logged_in):
    assert logged_in.get("/api/progress").status_code == 200


def test_a_wrong_bearer_header_is_refused_even_beside_a_valid_session(logged_in):
    assert logged_in.get("/api/progress", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_without_a_configured_token_api_and_pages_refuse_everyone(services):
    with TestClient(create_app(services.settings, services=services, sender=False)) as c:
        assert c.get("/api/progress", headers={"Authorization": "Bearer "}).status_code == 403
        for path in ("/dashboard/", "/dashboard/login"):
            page = c.get(path)
            assert page.status_code == 403 and "管理后台未开放" in page.text
        refused = c.post("/dashboard/login", data={"token": ""}, follow_redirects=False)
        assert refused.status_code == 403 and COOKIE not in refused.headers.get("set-cookie", "")


def test_login_sets_an_httponly_samesite_strict_cookie(client):
    answer = login(client)
    cookie = answer.headers["set-cookie"]
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert f"Max-Age={LIFETIME_S}" in cookie and "Path=/" in cookie and TOKEN not in cookie


def test_login_over_https_marks_the_cookie_secure(admin_app):
    with TestClient(admin_app, base_url="https://kaohe.test") as c:
        assert "Secure" in login(c).headers["set-cookie"]


@pytest.mark.parametrize(
    ("token", "actor", "says"),
    [
        ("wrong", "hezhiyuan", "令牌不正确"),
        ("", "hezhiyuan", "令牌不正确"),
        (TOKEN, "wangfang", "名单中没有这位管理员"),
        (TOKEN, "", "请选择您是哪位管理员"),
    ],
)
def test_refused_login_says_why_in_chinese_and_sets_no_cookie(client, token, actor, says):
    answer = login(client, actor=actor, token=token)
    assert answer.status_code == 401 and says in answer.text
    assert "set-cookie" not in answer.headers
    assert client.get("/api/progress").status_code == 401


def test_login_posted_from_another_site_is_refused(client):
    answer = client.post(
        "/dashboard/login", data={"token": TOKEN, "actor": "hezhiyuan"}, headers={"Origin": "http://evil.test"}
    )
    assert answer.status_code == 401 and "请从本站的登录页登录" in answer.text and "set-cookie" not in answer.headers


@pytest.mark.parametrize("body", [{"token": "x" * 600}, {"token": TOKEN, "actor": "a" * 65}])
def test_login_with_oversized_fields_is_a_4xx(client, body):
    answer = client.post("/dashboard/login", data=body, follow_redirects=False)
    assert 400 <= answer.status_code < 500 and "set-cookie" not in answer.headers


def test_pages_send_a_visitor_without_a_session_to_the_login_form(client):
    answer = client.get("/dashboard/units/U01", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"


@pytest.mark.parametrize("mangle", [lambda v: v[:-1] + ("0" if v[-1] != "0" else "1"), lambda v: "x" + v, lambda v: ""])
def test_a_tampered_cookie_is_no_session(logged_in, mangle):
    value = logged_in.cookies[COOKIE]
    logged_in.cookies.clear()
    logged_in.cookies.set(COOKIE, mangle(value))
    assert logged_in.get("/api/progress").status_code == 401


def test_an_expired_cookie_is_no_session(client, admin_app):
    sessions = _sessions(admin_app)
    client.cookies.set(COOKIE, sessions.issue("hezhiyuan", now=time.time() - LIFETIME_S - 1))
    assert client.get("/api/progress").status_code == 401
    client.cookies.set(COOKIE, sessions.issue("hezhiyuan", now=time.time() - 60))
    assert client.get("/api/progress").status_code == 200


def test_changing_the_admin_token_ends_every_session(logged_in, services):
    cookie = logged_in.cookies[COOKIE]
    settings = load_settings(database_url=services.settings.database_url, admin_token="another", _env_file=None)
    other_services = build_services(settings, clock=services.clock)
    with TestClient(create_app(settings, services=other_services, sender=False), base_url="http://kaohe.test") as c:
        c.cookies.set(COOKIE, cookie)
        assert c.get("/api/progress").status_code == 401
    other_services.close()


def test_logout_needs_the_csrf_token(logged_in):
    answer = logged_in.post("/dashboard/logout", follow_redirects=False)
    assert answer.status_code == 403 and "请刷新页面" in answer.json()["detail"]
    assert logged_in.get("/api/progress").status_code == 200


def test_logout_from_another_site_is_refused(logged_in):
    csrf = csrf_of(logged_in)
    answer = logged_in.post("/dashboard/logout", data={"csrf_token": csrf}, headers={"Origin": "http://evil.test"})
    assert answer.status_code == 403 and logged_in.get("/api/progress").status_code == 200


def test_logout_clears_the_cookie_and_the_old_cookie_stops_working(logged_in):
    old = logged_in.cookies[COOKIE]
    answer = logged_in.post("/dashboard/logout", data={"csrf_token": csrf_of(logged_in)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
    assert f'{COOKIE}=""' in answer.headers["set-cookie"] and "Max-Age=0" in answer.headers["set-cookie"]
    logged_in.cookies.set(COOKIE, old)
    assert logged_in.get("/api/progress").status_code == 401


def test_pages_carry_a_content_security_policy_and_no_framing(logged_in):
    headers = logged_in.get("/dashboard/").headers
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"


def test_openapi_describes_the_dashboard_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/progress", "/api/groups/{code}", "/api/units/{code}", "/api/audit", "/api/votes"} <= set(paths)
    assert "/dashboard/login" not in paths


def _sessions(app):
    from bot.channels.admin_session import Sessions

    return Sessions(app.state.services)
