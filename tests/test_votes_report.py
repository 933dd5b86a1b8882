import json

import pytest

from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from bot.services import build_services
from bot.settings import load_settings
from handlers.export import export_tables
from storage.campaign import DEFAULT_CAMPAIGN
from storage.clock import FixedClock
from storage.migrate import upgrade
from tests.conftest import IN_SELF_CHECK
from tests.vote_chat import GroupChat

CONTRACT_KEYS = {"code", "name", "org_type", "group", "activities", "scores", "submitted", "submitted_at"}


def run_a_vote(services):
    officer = GroupChat(services, "hulin", chat_id=None)
    officer.say("发起推荐 先进基层党组织 限选2")
    GroupChat(services, "liqiang", chat_id=None).say("投票 1 3")
    GroupChat(services, "zhangmin", chat_id=None).say("投票 1")
    officer.say("结束投票")
    officer.say("提名 王芳 U01")
    officer.say("发起推荐 优秀党务干部")
    GroupChat(services, "liqiang", chat_id=None).say("投票 1")


def test_export_json_keeps_the_contract_fields_and_adds_the_recommendation_counts(services):
    run_a_vote(services)
    units = {u["code"]: u for u in json.loads(export_tables(services.db, "json"))}
    assert set(units["U01"]) == CONTRACT_KEYS | {"recommendations"}
    assert units["U01"]["recommendations"] == [
        {
            "kind": "advanced_org",
            "title": "先进基层党组织",
            "group": "第一联络组",
            "candidate": "市财政局机关党委",
            "votes": 2,
            "rank": 1,
            "eligible": 5,
            "voted": 2,
        }
    ]
    assert units["U03"]["recommendations"][0]["rank"] == 2  # the open cadre vote is not there yet
    assert units["U05"]["recommendations"] == []


@pytest.fixture
def cli_services(cli_db_url):
    upgrade(cli_db_url)
    services = build_services(load_settings(database_url=cli_db_url, _env_file=None), clock=FixedClock(IN_SELF_CHECK))
    load_campaign_file(services.db, DEFAULT_CAMPAIGN)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    yield services
    services.close()


def test_kaohe_votes_json_lists_turnout_and_counts_only_once_closed(kaohe, cli_services):
    run_a_vote(cli_services)
    result = kaohe("votes", "--format", "json")
    assert result.returncode == 0, result.stderr
    closed, cadre = json.loads(result.stdout)
    assert (closed["group"], closed["kind"], closed["status"]) == ("第一联络组", "advanced_org", "closed")
    assert (closed["eligible"], closed["voted"]) == (5, 2)
    assert [c["count"] for c in closed["candidates"]] == [2, 0, 1, 0]
    assert (cadre["status"], cadre["voted"]) == ("open", 1)
    assert [c["count"] for c in cadre["candidates"]] == [None]  # sealed until closed
    assert "liqiang" not in result.stdout and "zhangmin" not in result.stdout


def test_kaohe_votes_text_and_a_bad_format(kaohe, cli_services):
    run_a_vote(cli_services)
    text = kaohe("votes").stdout
    assert "第一联络组 先进基层党组织（advanced_org）: 已结束，应到 5，实到 2" in text
    assert "1. 市财政局机关党委: 2 票" in text and "进行中" in text
    bad = kaohe("votes", "--format", "xml")
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "--format 只能是 text 或 json" in bad.stderr


def test_kaohe_reminders_names_exactly_the_voters_without_a_ballot(kaohe, cli_services):
    GroupChat(cli_services, "hulin", chat_id=None).say("发起推荐 先进基层党组织 截止12-27 17:00")
    GroupChat(cli_services, "liqiang", chat_id=None).say("投票 1")
    out = kaohe("reminders", "--at", "2013-12-26T09:10+08:00").stdout
    pending = out[out.index("votes_pending") :].split("votes_last_day")[0]
    assert all(name in pending for name in ("王芳", "马军", "张敏", "刘静")) and "李强" not in pending
