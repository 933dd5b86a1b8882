import io
import json

import docx
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from bot.app import create_app
from bot.channels.wecom_transport import WeComTransport
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services, stored_file_loader
from bot.settings import load_settings
from storage import files
from storage.campaign import DEFAULT_CAMPAIGN
from storage.models import Outbox, StoredFile
from tests.transcript import Chat


def file_rows(services) -> list[Outbox]:
    with services.db.read() as session:
        return list(session.exec(select(Outbox).where(Outbox.msgtype == "file")))


def stored(services, row: Outbox) -> StoredFile:
    with services.db.read() as session:
        return files.by_id(session=session, file_id=json.loads(row.content)["file_id"])


def test_clerk_gets_the_self_check_summary_as_a_word_file(chat, services):
    answer = chat("wangfang").say("自查总结")
    assert answer.startswith("自查总结（草稿）已生成：U01-自查总结（草稿）.docx")
    [row] = file_rows(services)
    assert row.recipients == ["wangfang"] and json.loads(row.content)["name"] == "U01-自查总结（草稿）.docx"
    assert docx.Document(io.BytesIO(stored(services, row).data)).paragraphs[0].text.startswith("市财政局机关党委")


def test_administrators_export_is_the_workbook_as_a_file(chat, services):
    chat("hezhiyuan").say("导出")
    [row] = file_rows(services)
    book = openpyxl.load_workbook(io.BytesIO(stored(services, row).data))
    assert (
        book.sheetnames[:4] == ["附件1 统计表", "附件2 自查表", "考核结果", "填报说明"] and len(book.sheetnames) == 16
    )


def test_liaison_officers_export_holds_only_the_groups_units(chat, services):
    assert "第一联络组考核表已生成" in chat("hulin").say("本组导出")
    book = openpyxl.load_workbook(io.BytesIO(stored(services, file_rows(services)[0]).data))
    assert book.sheetnames[4:] == [
        "U01 市财政局机关党委",
        "U02 市教育局机关党委",
        "U03 市统计局机关总支",
        "U04 市档案局机关支部",
    ]


def test_administrator_gets_the_results_announcement_draft(chat, services):
    chat("hezhiyuan").say("结果通报")
    row = file_rows(services)[0]
    assert docx.Document(io.BytesIO(stored(services, row).data)).paragraphs[0].text.startswith("关于2013年度")


def test_outbox_carries_a_reference_not_the_bytes(chat, services):
    chat("wangfang").say("自查总结")
    row = file_rows(services)[0]
    assert set(json.loads(row.content)) == {"file_id", "token", "name", "size"} and len(row.content) < 300


@pytest.fixture
def wecom(sqlite_url, clock, fake):
    settings = load_settings(
        database_url=sqlite_url, corp_id="wwcorp", secret="s3cret", agent_id=1, api_base=fake.base_url, _env_file=None
    )
    services = build_services(settings, clock=clock)
    services.sender.transport = WeComTransport(settings, timeout=2, files=stored_file_loader(services.db))
    load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    yield services
    services.close()


def test_file_is_uploaded_then_sent_as_a_file_message(wecom, fake):
    Chat(wecom, "wangfang").say("自查总结")
    wecom.sender.drain()
    [upload] = fake.calls_to("media/upload")
    [send] = [c for c in fake.calls_to("message/send") if c.body["msgtype"] == "file"]
    media = fake.media[send.body["file"]["media_id"]]
    assert upload.params["type"] == "file" and media.filename == "U01-自查总结（草稿）.docx"
    assert media.data == stored(wecom, file_rows(wecom)[0]).data and send.body["touser"] == "wangfang"
    assert file_rows(wecom)[0].status == "sent"


def test_a_busy_upload_is_retried_later(wecom, fake):
    fake.fail_next("media/upload", 45009)
    Chat(wecom, "wangfang").say("自查总结")
    wecom.sender.drain()
    row = file_rows(wecom)[0]
    assert (row.status, row.attempts, "media/upload 45009" in row.last_error) == ("pending", 1, True)


def test_a_file_whose_bytes_are_gone_fails_for_good(wecom, fake):
    Chat(wecom, "wangfang").say("自查总结")
    with wecom.db.write() as session:
        for row in session.exec(select(StoredFile)):
            session.delete(row)
    wecom.sender.drain()
    row = file_rows(wecom)[0]
    assert (row.status, "gone" in row.last_error, fake.calls_to("media/upload")) == ("failed", True, [])


def test_fake_wecom_refuses_a_file_message_with_unknown_media(fake):
    from bot.channels.wecom_api import WeComClient, WeComError

    client = WeComClient(fake.base_url, "c", "s", 1)
    with pytest.raises(WeComError) as err:
        client.send_message(["u"], {"msgtype": "file", "file": {"media_id": "nope"}})
    assert err.value.errcode == 40007


def test_upload_refuses_an_empty_file_before_calling_wecom(fake):
    from bot.channels.wecom_api import WeComClient

    with pytest.raises(ValueError, match="5 bytes"):
        WeComClient(fake.base_url, "c", "s", 1).upload_media("file", "a.txt", b"")
    assert fake.calls_to("media/upload") == []


@pytest.fixture
def sim(services):
    return TestClient(create_app(services.settings, services=services, sender=False))


def test_simulator_shows_a_download_link_that_returns_the_file(chat, services, sim):
    chat("wangfang").say("自查总结")
    [message] = [m for m in sim.get("/api/sim/messages").json() if m["file"]]
    assert message["text"] == "[文件] U01-自查总结（草稿）.docx" and message["file"]["url"].startswith("sim/files/")
    answer = sim.get("/" + message["file"]["url"])
    assert answer.status_code == 200 and answer.content == stored(services, file_rows(services)[0]).data
    assert "filename*=UTF-8''U01-" in answer.headers["content-disposition"]


@pytest.mark.parametrize(("token", "status"), [("x" * 32, 404), ("short", 422), ("y" * 65, 422)])
def test_simulator_download_of_an_unknown_or_malformed_token_is_a_4xx(sim, token, status):
    assert sim.get(f"/sim/files/{token}").status_code == status
