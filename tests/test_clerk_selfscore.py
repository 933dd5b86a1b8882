import pytest
from sqlmodel import select

from storage.models import ScoreEntry
from tests.transcript import Chat


def scores(services):
    with services.db.read() as session:
        return {e.key: (e.points, e.note) for e in session.exec(select(ScoreEntry))}


def test_self_score_asks_each_category_with_its_maximum_and_subitems(chat):
    answer = chat("wangfang").say("自评")
    assert "【1/7】一、领导重视情况" in answer and "满分 120 分" in answer and "3 个子项" in answer


def test_half_points_and_a_note_are_accepted(any_services):
    # on PostgreSQL too: its float column once had no result processor the prepared path could find
    # (every 自评 there answered 500; found trying the service on PostgreSQL as a clerk)
    c = Chat(any_services, "wangfang")
    answer = c.script("自评", "115 组织生活会记录不全扣5分", "112.5", "上一步")
    assert "【2/7】二、思想建设" in answer and "112.5" in answer
    assert scores(any_services) == {"leadership": (115, "组织生活会记录不全扣5分"), "ideology": (112.5, None)}


@pytest.mark.parametrize(
    "junk, reason",
    [
        ("130", "满分 120 分"),
        ("-1", "负数"),
        ("112.3", "半分"),
        ("很好", "数字"),
    ],
)
def test_impossible_score_gets_a_reason_and_the_same_question(chat, services, junk, reason):
    c = chat("wangfang")
    c.say("自评")
    answer = c.say(junk)
    assert reason in answer and "一、领导重视情况" in answer
    assert scores(services) == {}


def test_going_back_to_a_filled_category_shows_its_score(chat):
    c = chat("wangfang")
    c.script("自评", "100", "取消")
    assert "【2/7】" in c.say("自评")
    answer = c.say("上一步")
    assert "【1/7】一、领导重视情况" in answer and "已填：100 分" in answer
