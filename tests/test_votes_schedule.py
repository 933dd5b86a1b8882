from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from bot.operations import load_campaign_file
from schedules.audience import select_audience
from schedules.runner import ReminderScheduler
from schedules.votes import close_due_votes
from storage import campaigns, votes
from storage.campaign import DEFAULT_CAMPAIGN
from storage.models import Outbox
from tests.conftest import SHANGHAI
from tests.vote_chat import GROUP_CHAT, GroupChat

CLOSES = datetime(2013, 12, 12, 17, 0, tzinfo=SHANGHAI)


@pytest.fixture
def opened(services):
    officer = GroupChat(services, "hulin")
    officer.say("你好")  # binds the group chat
    officer.say("发起推荐 先进基层党组织 限选1 截止12-12 17:00")
    GroupChat(services, "liqiang").say("投票 1")
    GroupChat(services, "wangfang").say("投票 3")
    return services


def result_rows(services):
    with services.db.read() as session:
        return list(session.exec(select(Outbox).where(Outbox.source == "vote-result")))


def status(services):
    with services.db.read() as session:
        return [v.status for v in votes.votes(session=session, campaign_id="luoyang-2013")]


def test_the_scheduler_closes_a_vote_at_its_time_once_and_posts_the_result(opened):
    scheduler = ReminderScheduler(opened).start(paused=True)
    try:
        scheduler.sync(CLOSES - timedelta(seconds=1))
        assert status(opened) == ["open"]
        scheduler.sync(CLOSES)
        scheduler.sync(CLOSES + timedelta(minutes=1))
    finally:
        scheduler.stop()
    assert status(opened) == ["closed"]
    rows = result_rows(opened)
    assert [(r.chat_id, r.recipients) for r in rows] == [(GROUP_CHAT, []), (None, ["hulin", "hezhiyuan"])]
    assert "并列第1名（各 1 票）：市财政局机关党委、市统计局机关总支" in rows[0].content
    assert "应到 5，实到 2" in rows[0].content


def test_a_vote_its_officer_closed_is_not_closed_again_by_the_scheduler(opened):
    GroupChat(opened, "hulin").say("结束投票")
    assert close_due_votes(opened.db, opened.keyring, CLOSES) == []
    assert result_rows(opened) == []


def test_after_its_closing_time_a_ballot_is_refused_even_before_the_scheduler_runs(opened):
    opened.clock.at = CLOSES
    assert "投票已经结束" in GroupChat(opened, "zhangmin").say("投票 1")


def voters_letters(services, now, keyring="service"):
    with services.db.read() as session:
        campaign = campaigns.active_campaign(session=session)
        reminder = next(r for r in campaign.reminders if r.audience == "voters_not_voted")
        ring = services.keyring if keyring == "service" else keyring
        return select_audience(session, campaign, reminder, now, keyring=ring)


def test_voters_not_voted_names_exactly_those_without_a_ballot_with_the_vote_and_its_closing(opened):
    (letter,) = voters_letters(opened, CLOSES - timedelta(hours=1))
    assert sorted(letter.userids) == ["liujing", "majun", "zhangmin"]
    assert "第一联络组「先进基层党组织」" in letter.text and "12月12日 17:00 截止" in letter.text


def test_voters_not_voted_selects_nobody_once_the_vote_has_closed(opened):
    assert voters_letters(opened, CLOSES) == []
    assert voters_letters(opened, CLOSES - timedelta(hours=1), keyring=None) == []


def test_with_one_ballot_per_unit_any_clerk_of_the_unit_casts_and_replaces_it(services, tmp_path):
    path = tmp_path / "per-unit.toml"
    text = DEFAULT_CAMPAIGN.read_text(encoding="utf-8")
    path.write_text(text.replace('candidates = "units_of_group"', 'candidates = "units_of_group"\nballot_per = "unit"'))
    load_campaign_file(services.db, path)
    GroupChat(services, "hulin", chat_id=None).say("发起推荐 先进基层党组织 截止12-12 17:00")
    assert "本单位已投" in GroupChat(services, "wangfang", chat_id=None).say("投票 2")
    assert "已替换之前的票" in GroupChat(services, "majun", chat_id=None).say("投票 3")  # same unit U01
    (letter,) = voters_letters(services, CLOSES - timedelta(hours=1))
    assert sorted(letter.userids) == ["liqiang", "liujing", "zhangmin"]
    assert "应到 4，实到 1" in GroupChat(services, "hulin", chat_id=None).say("投票结果")


def test_a_second_close_of_the_same_vote_changes_nothing(opened):
    with opened.db.read() as session:
        (vote,) = votes.votes(session=session, campaign_id="luoyang-2013")

    def close(by, counts):
        with opened.db.write() as session:
            return votes.close(session=session, vote_id=vote.id, by=by, now=CLOSES, counts=counts, eligible=5, voted=2)

    assert close("x", {1: 9}) is True
    assert close("y", {1: 7}) is False
    with opened.db.read() as session:
        assert votes.candidates(session=session, vote_id=vote.id)[0].count == 9
        assert votes.vote(session=session, vote_id=vote.id).closed_by == "x"
