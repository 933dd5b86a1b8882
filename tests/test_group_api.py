import pytest
from fastapi.testclient import TestClient

from bot.app import create_app


@pytest.fixture
def client(services):
    with TestClient(create_app(services.settings, services=services, sender=False)) as c:
        yield c


def test_the_group_api_opens_a_vote_returns_the_card_and_takes_a_click(client):
    opened = client.post(
        "/api/sim/group/send",
        json={"userid": "hulin", "chat_id": "sim-chat-group-1", "text": "@考核助手 发起推荐 先进基层党组织"},
    ).json()["replies"]
    assert [r["kind"] for r in opened] == ["text", "card"] and "本群已设为第一联络组的群聊" in opened[0]["text"]
    task = opened[1]["card"]["task_id"]
    click = {"userid": "liqiang", "chat_id": "sim-chat-group-1", "task_id": task, "options": ["1"]}
    (update,) = client.post("/api/sim/group/click", json=click).json()["replies"]
    assert update["kind"] == "update" and update["card"]["main_title"]["desc"] == "已投：1，截止前可改"
    assert client.get("/api/sim/groups").json()[0] == {
        "id": 1,
        "name": "第一联络组",
        "chat_id": "sim-chat-group-1",
        "bound": True,
    }


def test_posts_to_the_group_chat_are_listed_for_that_chat_only(client):
    client.post("/api/sim/send", json={"userid": "hulin", "text": "发起推荐 先进基层党组织"})  # no chat bound yet
    client.post("/api/sim/group/send", json={"userid": "hulin", "chat_id": "sim-chat-group-1", "text": "投票结果"})
    client.post("/api/sim/send", json={"userid": "hulin", "text": "结束投票"})
    posts = client.get("/api/sim/group/messages", params={"chat_id": "sim-chat-group-1"}).json()["posts"]
    assert len(posts) == 1 and "民主推荐结果" in posts[0]["text"]
    assert client.get("/api/sim/group/messages", params={"chat_id": "other"}).json()["posts"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/sim/group/send", {"userid": "hulin", "chat_id": "c", "text": "\x00"}),
        ("/api/sim/group/send", {"userid": "hulin", "chat_id": "", "text": "帮助"}),
        ("/api/sim/group/send", {"userid": "hulin", "text": "帮助"}),
        ("/api/sim/group/click", {"userid": "liqiang", "chat_id": "c", "task_id": "bad id!", "options": []}),
        ("/api/sim/group/click", {"userid": "liqiang", "chat_id": "c", "task_id": "t", "options": ["1"] * 21}),
        ("/api/sim/group/click", {"userid": "liqiang", "chat_id": "c", "task_id": "t", "options": "1"}),
    ],
)
def test_junk_to_the_group_api_is_refused_with_422(client, path, body):
    assert client.post(path, json=body).status_code == 422


def test_a_click_from_someone_not_on_the_roster_gets_the_roster_answer(client):
    click = {"userid": "stranger", "chat_id": "c", "task_id": "kaohe-vote-1-g", "options": ["1"]}
    (reply,) = client.post("/api/sim/group/click", json=click).json()["replies"]
    assert reply["kind"] == "text" and "名单" in reply["text"]
