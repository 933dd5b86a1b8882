from datetime import datetime

import pytest
from sqlmodel import select

from storage import votes
from storage.models import Ballot, LiaisonGroup, Vote
from tests.conftest import SHANGHAI
from tests.vote_chat import GROUP_CHAT, GroupChat


@pytest.fixture
def group(services):
    def person(userid, chat_id=GROUP_CHAT):
        return GroupChat(services, userid, chat_id)

    return person


def open_advanced(group, limit=2):
    officer = group("hulin")
    officer.say("你好")
    return officer, officer.say(f"发起推荐 先进基层党组织 限选{limit}")


def tally(services):
    with services.db.read() as session:
        return {
            r.title: [(c.label, c.count) for c in r.candidates]
            for r in votes.closed_results(session=session, campaign_id="luoyang-2013")
        }


def test_liaison_officers_first_words_in_a_group_chat_bind_it_to_the_group(services, group):
    answer = group("hulin").say("本组进度")
    assert "本群已设为第一联络组的群聊" in answer
    with services.db.read() as session:
        assert session.exec(select(LiaisonGroup.chat_id).where(LiaisonGroup.name == "第一联络组")).one() == GROUP_CHAT
    assert "本群已设为" not in group("hulin").say("本组进度")


def test_a_clerk_cannot_open_a_vote_and_is_told_who_can(group):
    answer = group("wangfang").say("发起推荐 先进基层党组织")
    assert "只能由本组联络员（胡林）或工委管理员" in answer


def test_opening_in_the_group_chat_answers_with_numbered_candidates_and_a_vote_card(group):
    officer, answer = open_advanced(group)
    assert "1. 市财政局机关党委" in answer and "4. 市档案局机关支部" in answer
    assert "限选 2 名" in answer and "12月27日 24:00 截止" in answer
    assert "还没到分组考核" in answer  # the clock is in the self-check phase
    card = officer.cards[-1]
    assert card["card_type"] == "vote_interaction" and card["checkbox"]["mode"] == 1
    assert [o["id"] for o in card["checkbox"]["option_list"]] == ["1", "2", "3", "4"]


def test_whole_flow_open_vote_change_close_posts_counts_in_order(services, group):
    officer, _ = open_advanced(group)
    task = officer.cards[-1]["task_id"]
    assert group("wangfang").click(task, 2, 3)["main_title"]["desc"] == "已投：2、3，截止前可改"
    group("liqiang").click(task, 1, 3)
    group("zhangmin").click(task, 1)
    group("liujing").say("投票 1 2")
    group("wangfang").click(task, 3, 4)  # changed: replaces 2、3
    result = officer.say("结束投票")
    assert "第1名 市财政局机关党委：3 票\n第2名 市统计局机关总支：2 票" in result  # not 2、3 for wangfang
    assert "并列第3名（各 1 票）：市教育局机关党委、市档案局机关支部" in result
    assert "应到 5，实到 4" in result
    assert tally(services)["先进基层党组织"] == [
        ("市财政局机关党委", 3),
        ("市统计局机关总支", 2),
        ("市教育局机关党委", 1),
        ("市档案局机关支部", 1),
    ]


def test_a_text_ballot_in_the_group_chat_never_names_the_choice(group):
    open_advanced(group)
    answer = group("liqiang").say("投票 1 3")
    assert "已收到您的「先进基层党组织」投票" in answer and "市财政局" not in answer


def test_a_private_text_ballot_is_read_back_with_the_names(group):
    open_advanced(group)
    answer = group("liqiang", chat_id=None).say("投票 1 3")
    assert "已投「先进基层党组织」：1. 市财政局机关党委；3. 市统计局机关总支" in answer


@pytest.mark.parametrize(
    ("who", "ballot", "reason"),
    [
        ("liqiang", "投票 1 3 4", "本次限选 2 名，您选了 3 名"),
        ("liqiang", "投票 9", "没有 9 号候选"),
        ("liqiang", "投票 3 3", "3 号写了两次"),
        ("liqiang", "投票 甲", "「甲」不是候选编号"),
        ("wangfang", "投票 1", "不能推荐本单位（市财政局机关党委）"),
        ("chenjie", "投票 1", "不在第一联络组「先进基层党组织」的投票名单中"),
        ("hulin", "投票 1", "不在第一联络组「先进基层党组织」的投票名单中"),
        ("liqiang", "投票", "这是一张空票"),
    ],
)
def test_refused_ballots_say_why_and_record_nothing(services, group, who, ballot, reason):
    open_advanced(group)
    assert reason in group(who).say(ballot)
    with services.db.read() as session:
        assert session.exec(select(Ballot)).all() == []


def test_an_empty_card_submission_is_refused_on_the_card(services, group):
    officer, _ = open_advanced(group)
    assert "空票" in group("liqiang").click(officer.cards[-1]["task_id"])["main_title"]["desc"]
    with services.db.read() as session:
        assert session.exec(select(Ballot)).all() == []


def test_a_closed_vote_refuses_ballots(group):
    officer, _ = open_advanced(group)
    officer.say("结束投票")
    assert "投票已经结束" in group("liqiang").say("投票 1")
    assert "投票已经结束" in group("liqiang").click(officer.cards[-1]["task_id"], 1)["main_title"]["desc"]


def test_turnout_before_closing_shows_who_has_not_voted_and_no_counts(group):
    officer, _ = open_advanced(group)
    group("liqiang").say("投票 1 3")
    answer = officer.say("投票结果")
    assert "应到 5，实到 1" in answer and "未投：马军、王芳、张敏、刘静" in answer
    assert "票数在截止或结束投票后公布" in answer and "1 票" not in answer


def test_only_the_officer_or_an_administrator_asks_for_turnout_or_closes(group):
    open_advanced(group)
    assert "只能由本组联络员（胡林）" in group("liqiang").say("投票结果")
    assert "只能由本组联络员（胡林）" in group("liqiang").say("结束投票")


def test_an_administrator_names_the_group_and_opens_for_it(services, group):
    answer = group("hezhiyuan", chat_id=None).say("发起推荐 第二联络组 先进基层党组织 截止12-27 17:00")
    assert "已发起第二联络组「先进基层党组织」投票" in answer and "12月27日 17:00 截止" in answer
    assert "请写明是哪个联络组" in group("hezhiyuan", chat_id=None).say("发起推荐 先进基层党组织")


def test_cadre_vote_needs_nominees_and_refuses_voting_for_oneself(services, group):
    officer = group("hulin", chat_id=None)
    assert "还没有候选人" in officer.say("发起推荐 优秀党务干部")
    assert "已提名 王芳（市财政局机关党委）" in officer.say("提名 王芳 U01")
    officer.say("提名 李强 市教育局机关党委")
    assert "不是第一联络组的单位" in officer.say("提名 陈杰 U05")
    assert "已经提名过了" in officer.say("提名 王芳 U01")
    assert "已发起第一联络组「优秀党务干部」投票" in officer.say("发起推荐 优秀党务干部 限选1")
    assert "不能推荐自己（王芳（市财政局机关党委））" in group("wangfang", chat_id=None).say("投票 1")
    assert "已投「优秀党务干部」：2. 李强" in group("wangfang", chat_id=None).say("投票 2")
    assert "投票已经开始，不能再提名" in officer.say("提名 张敏 U03")


def test_a_voter_with_two_open_votes_is_asked_which(group):
    officer = group("hulin", chat_id=None)
    officer.say("提名 王芳 U01")
    officer.say("发起推荐 优秀党务干部")
    officer.say("发起推荐 先进基层党组织")
    voter = group("liqiang", chat_id=None)
    assert "您有2个投票在进行中" in voter.say("投票 1")
    assert "已投「先进基层党组织」：1. 市财政局机关党委" in voter.say("2")


def test_bad_limit_and_closing_time_are_refused_and_record_nothing(services, group):
    officer = group("hulin", chat_id=None)
    assert "限选人数应在 1 到 4 之间" in officer.say("发起推荐 先进基层党组织 限选9")
    assert "已经过去" in officer.say("发起推荐 先进基层党组织 截止12-01 17:00")
    assert "没看懂截止时间" in officer.say("发起推荐 先进基层党组织 截止明天")
    with services.db.read() as session:
        assert session.exec(select(Vote)).all() == []


def test_a_second_open_of_the_same_kind_is_refused(group):
    officer, _ = open_advanced(group)
    assert "已在进行中" in officer.say("发起推荐 先进基层党组织")


def test_a_tie_for_first_is_named_as_a_tie(group):
    officer, _ = open_advanced(group, limit=1)
    group("liqiang").say("投票 1")
    group("wangfang").say("投票 2")
    result = officer.say("结束投票")
    assert "并列第1名（各 1 票）：市财政局机关党委、市教育局机关党委" in result
    assert "并列第3名（各 0 票）：市统计局机关总支、市档案局机关支部" in result  # two share 1st: next is 3rd


def test_a_retried_card_event_counts_once_and_gets_the_same_answer(services, group):
    officer, _ = open_advanced(group)
    task = officer.cards[-1]["task_id"]
    first = group("liqiang").click(task, 1, key="retry-1")
    assert group("liqiang").click(task, 1, key="retry-1") == first
    result = officer.say("结束投票")
    assert "第1名 市财政局机关党委：1 票" in result and "实到 1" in result


def test_during_group_review_locked_clerks_vote_and_the_opening_says_nothing_of_being_early(services, group):
    services.clock.at = datetime(2013, 12, 24, 10, 0, tzinfo=SHANGHAI)  # self-check over: entries locked
    officer, answer = open_advanced(group)
    assert "还没到分组考核" not in answer and "已发起第一联络组「先进基层党组织」投票" in answer
    assert "已投「先进基层党组织」：1. 市财政局机关党委" in group("liqiang", chat_id=None).say("投票 1")
    assert "投票 1 3" in group("liqiang", chat_id=None).say("帮助")
