from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from storage import outbox
from storage.campaign import DEFAULT_CAMPAIGN
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Outbox, ReminderSend

NOW = datetime.now(UTC)


@pytest.fixture
def cli(cli_db_url):
    """The command in-process (each subprocess costs seconds on a loaded machine); one test runs it for real."""

    def run(*args):
        return CliRunner().invoke(app, ["outbox", *args], env={"KAOHE_DATABASE_URL": cli_db_url})

    return run


def seeded(kaohe, cli_db_url) -> Database:
    upgrade(cli_db_url)
    db = Database(cli_db_url)
    load_campaign_file(db, DEFAULT_CAMPAIGN)
    import_roster_files(db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    with db.write() as session:
        for key, status, error in [("a", "sent", None), ("b", "failed", "message/send 60020 not allow to access")]:
            row = outbox.enqueue(session=session, key=key, content=key, recipients=["wangfang"], now=NOW)
            row.status, row.last_error, row.attempts = status, error, 1
        refused = outbox.enqueue(session=session, key="c", content="c", recipients=["wangfang", "ghost"], now=NOW)
        refused.status, refused.rejected, refused.sent_at = "sent", ["ghost"], NOW
        expired = outbox.enqueue(session=session, key="d", content="d", recipients=["liqiang"], now=NOW)
        expired.status, expired.last_error = "expired", "message/send 45009 api freq out of limit"
        session.add(ReminderSend(campaign_id="x", reminder_key="r", userid="ghost", outbox_id=3, error="invaliduser"))
    return db


def status(db, key) -> str:
    with db.read() as session:
        return session.exec(select(Outbox).where(Outbox.key == key)).one().status


def test_kaohe_outbox_lists_each_message_with_status_and_last_error(kaohe, cli_db_url):
    seeded(kaohe, cli_db_url).dispose()
    result = kaohe("outbox")
    assert result.returncode == 0, result.stderr
    assert "已送达 2，失败 1，已过期 1" in result.stdout
    assert "#2  失败  reply  王芳  尝试 1 次" in result.stdout and "60020" in result.stdout
    assert "企业微信不认识、未送达：ghost" in result.stdout and "kaohe outbox retry" in result.stdout
    only = kaohe("outbox", "--status", "expired")
    assert "#4  已过期" in only.stdout and "#2 " not in only.stdout


def test_kaohe_outbox_retry_failed_requeues_them_for_another_day(kaohe, cli, cli_db_url):
    db = seeded(kaohe, cli_db_url)
    result = cli("retry", "--failed")
    assert result.exit_code == 0, result.stderr
    assert "已重新排队 #2" in result.stdout
    with db.read() as session:
        row = session.exec(select(Outbox).where(Outbox.key == "b")).one()
    assert row.status == "pending" and row.attempts == 0 and row.expires_at > NOW + timedelta(hours=23)
    assert status(db, "d") == "expired"  # expired ones only by id: resending them is a choice
    db.dispose()


def test_kaohe_outbox_retry_of_a_delivered_message_resends_to_those_wecom_refused(kaohe, cli, cli_db_url):
    db = seeded(kaohe, cli_db_url)
    result = cli("retry", "3", "#4")
    assert result.exit_code == 0, result.stderr
    assert "已重新排队 #3 中未送达的 1 人，新消息 #5" in result.stdout and "已重新排队 #4" in result.stdout
    with db.read() as session:
        again = session.get(Outbox, 5)
        record = session.exec(select(ReminderSend)).one()
    assert again.recipients == ["ghost"] and again.status == "pending"
    assert record.outbox_id == 5 and record.error is None
    db.dispose()


@pytest.mark.parametrize(
    "args",
    [
        ("retry",),
        ("retry", "abc"),
        ("retry", "１"),
        ("retry", "1", "--failed"),
        ("retry", "99"),
        ("retry", "1"),
        ("--status", "bogus"),
        ("--limit", "0"),
        ("--limit", "x"),
    ],
)
def test_kaohe_outbox_refuses_junk_with_one_line(kaohe, cli, cli_db_url, args):
    seeded(kaohe, cli_db_url).dispose()
    result = cli(*args)
    assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_delivered_message_with_refused_people_points_to_retry(cli_db_url):
    from bot.outbox_admin import outbox_listing

    upgrade(cli_db_url)
    db = Database(cli_db_url)
    with db.write() as session:
        row = outbox.enqueue(session=session, key="r", content="r", recipients=["wangfang", "ghost"], now=NOW)
        row.status, row.rejected, row.sent_at = "sent", ["ghost"], NOW
    listing = outbox_listing(db)
    db.dispose()
    assert "企业微信不认识、未送达：ghost" in listing and "kaohe outbox retry ID" in listing
