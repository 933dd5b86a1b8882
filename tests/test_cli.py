import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.operations import setup_demo
from storage import roster
from storage.campaign import DEFAULT_CAMPAIGN, load_campaign
from storage.db import Database

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The contract's fields, exactly, plus what later issues added beside them (votes: recommendations).
EXPORT_KEYS = {"code", "name", "org_type", "group", "activities", "scores", "submitted", "submitted_at"} | {
    "recommendations"
}


@pytest.fixture
def demo_db(cli_db_url, tmp_path):
    db = Database(cli_db_url)
    setup_demo(db, tmp_path / "demo.toml", datetime.now(UTC))
    db.dispose()
    return cli_db_url


def test_campaign_show_prints_title_and_phases(kaohe):
    kaohe("db", "upgrade")
    kaohe("campaign", "load", DEFAULT_CAMPAIGN)
    result = kaohe("campaign", "show")
    assert result.returncode == 0, result.stderr
    assert "2013年市直机关党建目标绩效考核" in result.stdout
    assert "self_check  自查总结  2013-12-09 ~ 2013-12-22" in result.stdout
    assert "group_review  分组考核  2013-12-23 ~ 2013-12-27" in result.stdout


def test_campaign_show_without_a_campaign_says_how_to_load_one(kaohe):
    kaohe("db", "upgrade")
    result = kaohe("campaign", "show")
    assert result.returncode != 0
    assert "kaohe campaign load" in result.stderr


def test_command_on_an_unmigrated_database_asks_for_db_upgrade_in_one_line(kaohe, tmp_path):
    (tmp_path / "cli.db").touch()
    result = kaohe("campaign", "show")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["kaohe：数据库结构不是最新的：请先运行 `kaohe db upgrade`"]


def test_demo_moves_self_check_over_today_with_a_reminder_minutes_away(kaohe, tmp_path):
    before = datetime.now(UTC)
    result = kaohe("demo", "--campaign-out", tmp_path / "demo.toml")
    assert result.returncode == 0, result.stderr
    campaign = load_campaign(tmp_path / "demo.toml")
    self_check = campaign.phase("self_check")
    assert self_check.start <= datetime.now(SHANGHAI).date() <= self_check.end
    ahead = [campaign.reminder_time(r) - before for r in campaign.reminders]
    assert any(timedelta(0) < delta <= timedelta(minutes=5) for delta in ahead)


def test_demo_imports_the_sample_roster(kaohe, tmp_path, cli_db_url):
    result = kaohe("demo", "--campaign-out", tmp_path / "demo.toml")
    assert "单位：新增 12" in result.stdout and "人员：新增 17" in result.stdout
    db = Database(cli_db_url)
    with db.read() as session:
        assert len(roster.units(session=session)) == 12 and len(roster.people(session=session)) == 17
    db.dispose()


def test_chat_answers_help_as_a_clerk(kaohe, demo_db):
    result = kaohe("chat", "--as", "wangfang", input="帮助\n")
    assert result.returncode == 0, result.stderr
    assert "王芳您好" in result.stdout and "填报 —— 逐项填写统计表" in result.stdout


def test_chat_as_someone_not_on_the_roster_is_refused_in_one_line(kaohe, demo_db):
    result = kaohe("chat", "--as", "nobody", input="帮助\n")
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "kaohe：名单里没有 nobody：请用名单里的企业微信账号（如 wangfang），或先运行 `kaohe roster import`"
    ]


def test_export_json_prints_one_object_per_unit_in_the_contract_shape(kaohe, demo_db):
    result = kaohe("export", "--format", "json")
    assert result.returncode == 0, result.stderr
    units = json.loads(result.stdout)
    assert len(units) == 12
    assert all(set(u) == EXPORT_KEYS for u in units)
    assert units[0]["activities"]["dangweihui"] == {"count": None, "target": 6, "note": None}


def test_export_in_an_unknown_format_names_the_choices(kaohe, demo_db):
    result = kaohe("export", "--format", "pdf")
    assert result.returncode != 0
    assert "--format" in result.stderr and "json、csv、xlsx" in result.stderr
    assert result.stdout == ""
