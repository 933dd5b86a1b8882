import time

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from bot.app import create_app
from storage.models import Ballot
from tests.test_wecom_bot import bot, group_text, opened, signed  # noqa: F401
from tests.wecom_client_side import CORP_ID, CallbackChat, envelope, open_reply


def bot_says(client, userid, content, msgid):
    params, body = signed(group_text(userid, content, msgid))
    return opened(client.post("/wecom/bot/callback", params=params, content=body).text)


def card_event(userid, task_id, options, msgid, chat_id="CHAT1"):
    selected = {"selected_item": [{"question_key": "vote", "option_ids": {"option_id": options}}]}
    return {
        "msgid": msgid,
        "aibotid": "bot1",
        "chatid": chat_id,
        "chattype": "group",
        "from": {"userid": userid},
        "msgtype": "event",
        "event": {
            "eventtype": "template_card_event",
            "template_card_event": {
                "card_type": "vote_interaction",
                "event_key": "v",
                "task_id": task_id,
                "selected_items": selected,
            },
        },
    }


def bot_clicks(client, userid, task_id, options, msgid):
    params, body = signed(card_event(userid, task_id, options, msgid))
    return opened(client.post("/wecom/bot/callback", params=params, content=body).text)


def ballots(services):
    with services.db.read() as session:
        return session.exec(select(Ballot)).all()


def test_group_chat_bot_runs_a_vote_from_opening_to_posted_result(bot):  # noqa: F811
    services = bot.app.state.services
    first = bot_says(bot, "hulin", "@考核助手 发起推荐 先进基层党组织 限选2", "o1")
    assert first["msgtype"] == "stream_with_template_card"
    assert (
        "本群已设为第一联络组的群聊" in first["stream"]["content"]
        and "1. 市财政局机关党委" in first["stream"]["content"]
    )
    task = first["template_card"]["task_id"]
    clicked = bot_clicks(bot, "liqiang", task, ["1", "3"], "c1")
    assert clicked["response_type"] == "update_template_card" and clicked["userids"] == ["liqiang"]
    assert clicked["template_card"]["main_title"]["desc"] == "已投：1、3，截止前可改"
    assert [o["is_checked"] for o in clicked["template_card"]["checkbox"]["option_list"]] == [True, False, True, False]
    bot_says(bot, "liqiang", "@考核助手 投票 4", "t0")  # a changed ballot…
    assert bot_clicks(bot, "liqiang", task, ["1", "3"], "c1") == clicked  # …then WeCom retries c1: same answer
    refused = bot_clicks(bot, "wangfang", task, ["1"], "c2")
    assert "不能推荐本单位" in refused["template_card"]["main_title"]["desc"]
    assert "已收到您的" in bot_says(bot, "zhangmin", "@考核助手 投票 1", "t1")["stream"]["content"]
    assert len(ballots(services)) == 2
    result = bot_says(bot, "hulin", "@考核助手 结束投票", "o2")["stream"]["content"]
    assert "并列第1名（各 1 票）：市财政局机关党委、市档案局机关支部" in result  # the retry changed nothing
    assert "应到 5，实到 2" in result


def test_a_card_event_without_a_task_is_answered_empty_and_counts_nothing(bot):  # noqa: F811
    payload = card_event("liqiang", "", [], "c9")
    payload["event"]["template_card_event"] = "junk"
    params, body = signed(payload)
    answer = bot.post("/wecom/bot/callback", params=params, content=body)
    assert (answer.status_code, answer.text) == (200, "")


def test_a_click_on_an_unknown_card_says_it_has_expired(bot):  # noqa: F811
    assert "已失效" in bot_clicks(bot, "liqiang", "kaohe-vote-999-g", ["1"], "c8")["stream"]["content"]


def app_card_event_xml(userid, task_id, options, create_time, response_code="RC1"):
    ids = "".join(f"<OptionId><![CDATA[{o}]]></OptionId>" for o in options)
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[vote]]></EventKey>"
        f"<TaskId><![CDATA[{task_id}]]></TaskId><CardType><![CDATA[vote_interaction]]></CardType>"
        f"<ResponseCode><![CDATA[{response_code}]]></ResponseCode><AgentID>1000002</AgentID>"
        f"<SelectedItems><SelectedItem><QuestionKey><![CDATA[vote1]]></QuestionKey>"
        f"<OptionIds>{ids}</OptionIds></SelectedItem></SelectedItems></xml>"
    )


def test_without_a_group_bot_the_app_sends_each_voter_a_card_and_counts_clicks_and_text(app_services, fake):
    with TestClient(create_app(app_services.settings, services=app_services, sender=False)) as client:
        officer = CallbackChat(client, app_services, "hulin")
        assert "已发起第一联络组「先进基层党组织」投票" in officer.say("发起推荐 先进基层党组织 限选2")
        officer.deliver()
        (sent,) = [c.body for c in fake.calls_to("message/send") if c.body["msgtype"] == "template_card"]
        assert sorted(sent["touser"].split("|")) == ["liqiang", "liujing", "majun", "wangfang", "zhangmin"]
        task = sent["template_card"]["task_id"]
        now = int(time.time())
        params, body = envelope(app_card_event_xml("liqiang", task, ["1", "3"], now))
        answer = client.post("/wecom/callback", params=params, content=body)
        assert "已投「先进基层党组织」：1. 市财政局机关党委；3. 市统计局机关总支" in open_reply(answer.text)
        params, body = envelope(app_card_event_xml("liqiang", task, ["1", "3"], now))  # WeCom retries it
        assert open_reply(client.post("/wecom/callback", params=params, content=body).text).startswith("已投")
        officer.deliver()
        (update,) = fake.calls_to("message/update_template_card")
        assert update.body["response_code"] == "RC1" and update.body["userids"] == ["liqiang"]
        assert update.body["button"] == {"replace_name": "已投票"}
        assert "已投「先进基层党组织」：4. 市档案局机关支部" in CallbackChat(client, app_services, "zhangmin").say(
            "投票 4"
        )
        assert len(ballots(app_services)) == 2
        result = officer.say("结束投票")
        assert "第1名 市财政局机关党委：1 票" not in result and "并列第1名（各 1 票）" in result
        assert "应到 5，实到 2" in result


@pytest.mark.parametrize("selected", [5, "x", [1, None], {"selected_item": {"option_ids": 7}}, None])
def test_junk_in_a_card_events_choices_is_refused_and_counts_nothing(bot, selected):  # noqa: F811
    task = bot_says(bot, "hulin", "@考核助手 发起推荐 先进基层党组织", "j0")["template_card"]["task_id"]
    payload = card_event("liqiang", task, [], "j1")
    payload["event"]["template_card_event"]["selected_items"] = selected
    params, body = signed(payload)
    answer = opened(bot.post("/wecom/bot/callback", params=params, content=body).text)
    assert "未记录" in answer["template_card"]["main_title"]["desc"]  # an empty or unknown choice
    assert ballots(bot.app.state.services) == []
