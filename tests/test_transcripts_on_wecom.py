import json

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from handlers.export import export_tables
from tests.test_clerk_submit import ALL_ACTIVITIES, ALL_SCORES
from tests.transcript import Chat
from tests.wecom_client_side import CallbackChat


@pytest.fixture(params=["simulator", "wecom"])
def person(request, app_services):
    if request.param == "simulator":
        yield lambda userid: Chat(app_services, userid)
        return
    with TestClient(create_app(app_services.settings, services=app_services, sender=False)) as client:
        yield lambda userid: CallbackChat(client, app_services, userid)


def test_a_clerk_fills_both_tables_and_submits(person, app_services, fake):
    wang = person("wangfang")
    assert "【1/14】党委会" in wang.say("填报")
    assert "已记录：党委会 6 次" in wang.say("6")
    assert "【1/14】党委会" in wang.say("上一步")
    assert "已跳过" in wang.say("跳过")
    assert "数字" in wang.say("很多次")
    assert "已退出" in wang.say("取消")
    assert "请核对" in wang.say(ALL_ACTIVITIES)
    assert "已保存" in wang.say("确认")
    assert "【1/7】" in wang.say("自评")
    assert "满分 120 分" in wang.say("130")
    wang.say("取消")
    wang.script(ALL_SCORES, "确认")
    assert "还剩 11 天" in wang.say("进度")
    assert "955.5/1000" in wang.say("提交")
    assert "已提交" in wang.say("确认")
    assert "已锁定" in wang.say("党委会7次")
    wang.deliver()
    assert any(c.body["touser"] == "hulin|hezhiyuan" for c in fake.calls_to("message/send"))
    u01 = next(u for u in json.loads(export_tables(app_services.db, "json")) if u["code"] == "U01")
    assert u01["activities"]["dangweihui"]["count"] == 6 and u01["scores"]["conduct"]["points"] == 140.5
    assert u01["submitted"] is True
