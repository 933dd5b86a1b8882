from sqlmodel import select

from storage.models import ProcessedMessage
from tests.wecom_bot_side import bot_opened, bot_signed, bot_text
from tests.wecom_client_side import envelope, open_reply, text_xml


def app_say(client, userid, text, msg_id):
    params, body = envelope(text_xml(userid, text, msg_id))
    return open_reply(client.post("/wecom/callback", params=params, content=body).text)


def bot_say(client, userid, text, msgid):
    params, body = bot_signed(bot_text(userid, text, msgid, chattype="single"))
    return bot_opened(client.post("/wecom/bot/callback", params=params, content=body).text)["stream"]["content"]


def keys(services) -> list[str]:
    with services.db.read() as session:
        return sorted(r.key for r in session.exec(select(ProcessedMessage)))


def test_two_people_sharing_a_msgid_on_the_app_each_get_their_own_answer(edge, both_services):
    first = app_say(edge, "wangfang", "填报", 77)
    second = app_say(edge, "hezhiyuan", "全市进度", 77)
    assert "党委会" in first and first != second
    assert "U12" in second or "全市" in second
    assert keys(both_services) == ["app:msg:hezhiyuan:77", "app:msg:wangfang:77"]


def test_two_people_sharing_a_msgid_on_the_bot_each_get_their_own_answer(edge, both_services):
    first = bot_say(edge, "wangfang", "填报", "same")
    second = bot_say(edge, "hezhiyuan", "全市进度", "same")
    assert "党委会" in first and first != second
    assert keys(both_services) == ["bot:hezhiyuan:same", "bot:wangfang:same"]


def test_one_persons_redelivered_msgid_still_gets_the_stored_answer(edge, both_services):
    assert app_say(edge, "wangfang", "填报", 78) == app_say(edge, "wangfang", "填报", 78)
    assert keys(both_services) == ["app:msg:wangfang:78"]
