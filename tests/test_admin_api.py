import json
from io import BytesIO

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from bot.app import create_app
from bot.services import build_services
from bot.settings import load_settings


@pytest.fixture
def admin_client(services):
    settings = load_settings(
        database_url=str(services.db.url.render_as_string(hide_password=False)), admin_token="t0ken", _env_file=None
    )
    app_services = build_services(settings, clock=services.clock)
    with TestClient(create_app(settings, services=app_services, sender=False)) as client:
        yield client
    app_services.close()


def test_export_downloads_the_tables_with_the_admin_token(admin_client, chat):
    chat("wangfang").script("党委会6次", "确认")
    answer = admin_client.get("/api/admin/export", params={"format": "json"}, headers={"Authorization": "Bearer t0ken"})
    u01 = next(u for u in json.loads(answer.content) if u["code"] == "U01")
    assert answer.status_code == 200 and u01["activities"]["dangweihui"]["count"] == 6


def test_xlsx_download_is_a_workbook(admin_client):
    answer = admin_client.get("/api/admin/export", headers={"Authorization": "Bearer t0ken"})
    assert "attachment" in answer.headers["content-disposition"]
    assert load_workbook(BytesIO(answer.content)).sheetnames[:4] == [
        "附件1 统计表",
        "附件2 自查表",
        "考核结果",
        "填报说明",
    ]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ke"}])
def test_export_without_the_right_token_is_refused(admin_client, headers):
    assert admin_client.get("/api/admin/export", headers=headers).status_code == 401


def test_admin_api_refuses_everyone_when_no_token_is_configured(services):
    with TestClient(create_app(services.settings, services=services, sender=False)) as client:
        assert client.get("/api/admin/export", headers={"Authorization": "Bearer "}).status_code == 403


def test_unknown_export_format_is_a_4xx(admin_client):
    answer = admin_client.get("/api/admin/export", params={"format": "pdf"}, headers={"Authorization": "Bearer t0ken"})
    assert answer.status_code == 422
