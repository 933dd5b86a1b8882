from pathlib import Path

import pytest
from sqlmodel import select

from handlers import scoring
from handlers.errors import InputError
from handlers.results import rounded, unit_results
from storage import roster
from storage.campaign import DEFAULT_CAMPAIGN, CampaignError, parse_campaign
from storage.models import AuditEntry, RoutineScore
from tests.conftest import IN_SELF_CHECK
from tests.test_clerk_submit import ALL_SCORES

BASE_TEXT = Path(DEFAULT_CAMPAIGN).read_text(encoding="utf-8")


def campaign_with(extra: str = "", weights: str | None = None):
    text = BASE_TEXT if weights is None else BASE_TEXT.replace("year_end = 0.70\nroutine = 0.30", weights)
    return parse_campaign(text + "\n" + extra)


@pytest.fixture
def scored(chat, services):
    """U01 self-scores 955.5 of 1000 (year-end 95.55); routine 90."""
    chat("wangfang").script(ALL_SCORES, "确认")
    with services.db.write() as session:
        c = campaign_with()
        scoring.import_routine_scores(
            session=session, campaign=c, rows=[(2, {"code": "U01", "name": "90"})], actor="t", source="f", now=NOW
        )
    return services


NOW = IN_SELF_CHECK


def result(services, code="U01", campaign=None):
    with services.db.read() as session:
        unit = roster.unit(session=session, code=code)
        return unit_results(session=session, campaign=campaign or campaign_with(), units=[unit])[0]


def act(services, fn, **kwargs):
    with services.db.write() as session:
        return fn(session=session, campaign=kwargs.pop("campaign", campaign_with()), now=NOW, **kwargs)


def test_final_is_year_end_times_weight_plus_routine_times_weight_plus_approved_bonus(scored):
    item = act(scored, scoring.declare_bonus, unit_code="U01", title="市级表彰", points=2, reason="文件", actor="w")
    act(scored, scoring.decide_bonus, item_id=item.id, approve=True, reason="属实", actor="hezhiyuan")
    r = result(scored)
    assert (r.year_end, r.routine_score, r.bonus, r.final) == (95.55, 90, 2, 95.89)  # 66.885 + 27 + 2


def test_rounding_is_half_up_not_bankers():
    assert (rounded(84.125, 2), rounded(2.5, 0), rounded(93.885, 2)) == (84.13, 3, 93.89)


def test_rounding_follows_the_campaigns_precision(scored):
    assert result(scored, campaign=campaign_with("[scoring]\nprecision = 1")).final == 93.9


def test_weights_come_from_the_campaign_file(scored):
    c = campaign_with(weights="year_end = 0.6\nroutine = 0.4")
    assert result(scored, campaign=c).final == 93.33  # 57.33 + 36


def test_year_end_scale_comes_from_the_campaign_file(scored):
    r = result(scored, campaign=campaign_with("[scoring]\nyear_end_scale = 1000"))
    assert r.year_end == 955.5


def test_reviewed_score_replaces_the_self_score_in_the_year_end_part(scored):
    act(scored, scoring.set_reviewed_score, unit_code="U01", key="organisation", points=150, reason="记录不全",
        actor="hezhiyuan")  # fmt: skip
    r = result(scored)
    assert (r.self_total, r.reviewed_total, r.year_end) == (955.5, 935.5, 93.55)
    assert [(c.name, c.self_score, c.points, c.review.reason) for c in r.reviews] == [
        ("三、组织建设", 170, 150, "记录不全")
    ]


def test_pending_and_refused_bonus_items_do_not_count(scored):
    act(scored, scoring.declare_bonus, unit_code="U01", title="甲", points=3, reason="a", actor="w")
    refused = act(scored, scoring.declare_bonus, unit_code="U01", title="乙", points=4, reason="b", actor="w")
    act(scored, scoring.decide_bonus, item_id=refused.id, approve=False, reason="无文件", actor="hezhiyuan")
    r = result(scored)
    assert (r.bonus, len(r.pending), r.final) == (0, 1, 93.89)


def test_approved_bonus_is_capped_by_the_campaign(scored):
    for points in (3, 4):
        item = act(scored, scoring.declare_bonus, unit_code="U01", title="奖", points=points, reason="a", actor="w")
        act(scored, scoring.decide_bonus, item_id=item.id, approve=True, reason="", actor="hezhiyuan")
    assert result(scored, campaign=campaign_with("[scoring]\nbonus_max = 5")).bonus == 5


def test_proposed_grade_comes_from_the_thresholds(scored):
    assert result(scored).proposed_grade == "好"
    stricter = parse_campaign(BASE_TEXT.replace("min_score = 90.0", "min_score = 95.0"))
    assert result(scored, campaign=stricter).proposed_grade == "较好"


def test_grade_override_is_the_decided_grade_and_keeps_the_proposed_one(scored):
    act(scored, scoring.override_grade, unit_code="U01", grade="较好", reason="群众反映", actor="hezhiyuan")
    r = result(scored)
    assert (r.proposed_grade, r.grade, r.decision.reason, r.decision.decided_by) == (
        "好",
        "较好",
        "群众反映",
        "hezhiyuan",
    )


def test_without_a_routine_score_there_is_no_final_and_it_says_why(chat, services):
    chat("wangfang").script(ALL_SCORES, "确认")
    r = result(services)
    assert (r.year_end, r.final, r.proposed_grade, r.missing) == (95.55, None, None, ["无平时成绩"])


def test_unfinished_table_two_has_no_year_end_part(services):
    assert result(services).missing == ["表二未填完", "无平时成绩"]


@pytest.mark.parametrize(
    ("fn", "kwargs", "reason"),
    [
        (scoring.override_grade, {"unit_code": "U01", "grade": "优秀", "reason": "x"}, "不在本次考核的等次中"),
        (scoring.override_grade, {"unit_code": "U01", "grade": "好", "reason": " "}, "需要写明理由"),
        (scoring.override_grade, {"unit_code": "U99", "grade": "好", "reason": "x"}, "没有编码为「U99」的单位"),
        (
            scoring.set_reviewed_score,
            {"unit_code": "U01", "key": "organisation", "points": 181, "reason": "x"},
            "不大于 180",
        ),
        (
            scoring.set_reviewed_score,
            {"unit_code": "U01", "key": "organisation", "points": -1, "reason": "x"},
            "不小于 0",
        ),
        (scoring.set_reviewed_score, {"unit_code": "U01", "key": "organisation", "points": 1.3, "reason": "x"}, "半分"),
        (scoring.set_reviewed_score, {"unit_code": "U01", "key": "nope", "points": 1, "reason": "x"}, "没有「nope」"),
        (scoring.set_reviewed_score, {"unit_code": "U01", "key": "organisation", "points": 100, "reason": ""}, "理由"),
        (scoring.declare_bonus, {"unit_code": "U01", "title": "奖", "points": 0, "reason": "x"}, "大于 0"),
        (scoring.declare_bonus, {"unit_code": "U01", "title": "奖", "points": float("nan"), "reason": "x"}, "数字"),
        (scoring.declare_bonus, {"unit_code": "U01", "title": "", "points": 1, "reason": "x"}, "事由"),
        (scoring.decide_bonus, {"item_id": 999, "approve": True, "reason": "x"}, "没有第 999 号"),
    ],
)
def test_impossible_inputs_are_refused_with_a_reason_and_write_nothing(scored, fn, kwargs, reason):
    with pytest.raises(InputError, match=reason):
        act(scored, fn, actor="hezhiyuan", **kwargs)
    with scored.db.read() as session:
        assert not session.exec(select(AuditEntry).where(AuditEntry.actor == "hezhiyuan")).all()


def test_refusing_a_bonus_needs_a_reason_and_a_decided_one_cannot_be_decided_again(scored):
    item = act(scored, scoring.declare_bonus, unit_code="U01", title="奖", points=1, reason="a", actor="w")
    with pytest.raises(InputError, match="不批准需要写明理由"):
        act(scored, scoring.decide_bonus, item_id=item.id, approve=False, reason="", actor="h")
    act(scored, scoring.decide_bonus, item_id=item.id, approve=True, reason=None, actor="h")
    with pytest.raises(InputError, match="已批准"):
        act(scored, scoring.decide_bonus, item_id=item.id, approve=False, reason="x", actor="h")


def audit_rows(services, entity: str) -> list[tuple]:
    with services.db.read() as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id))
        return [(a.actor, a.unit_code, a.key, a.field, a.old, a.new) for a in rows]


def test_every_scoring_input_is_in_the_audit_trail(scored):
    item = act(scored, scoring.declare_bonus, unit_code="U01", title="奖", points=1.5, reason="文件", actor="wangfang")
    act(scored, scoring.decide_bonus, item_id=item.id, approve=True, reason=None, actor="hezhiyuan")
    act(scored, scoring.set_reviewed_score, unit_code="U01", key="organisation", points=160, reason="缺记录",
        actor="hezhiyuan")  # fmt: skip
    act(scored, scoring.override_grade, unit_code="U01", grade="一般", reason="通报批评", actor="hezhiyuan")
    assert audit_rows(scored, "routine") == [("t", "U01", "U01", "score", None, "90.0")]
    assert audit_rows(scored, "bonus") == [
        ("wangfang", "U01", str(item.id), "declared", None, "奖 1.5 分：文件"),
        ("hezhiyuan", "U01", str(item.id), "status", "pending", "approved：同意"),
    ]
    assert audit_rows(scored, "reviewed") == [("hezhiyuan", "U01", "organisation", "points", "170.0", "160：缺记录")]
    assert audit_rows(scored, "grade") == [("hezhiyuan", "U01", "U01", "grade", "好", "一般：通报批评")]


def test_luoyang_campaign_loads_with_default_scoring():
    s = campaign_with().scoring
    assert (s.year_end_scale, s.routine_max, s.precision, s.bonus_max) == (100, 100, 2, None)


@pytest.mark.parametrize(
    ("extra", "key"),
    [("[scoring]\nprecision = 9", "scoring.precision"), ("[scoring]\nbogus = 1", "scoring.bogus")],
)
def test_bad_scoring_keys_are_refused_naming_the_key(extra, key):
    with pytest.raises(CampaignError) as err:
        campaign_with(extra)
    assert err.value.key == key


def test_duplicate_grade_names_are_refused():
    with pytest.raises(CampaignError, match="等次名称重复"):
        campaign_with('[[grades]]\nname = "好"\nmin_score = 95.0')


def test_routine_rows_write_routine_scores(scored):
    with scored.db.read() as session:
        assert [(r.unit_code, r.score, r.source) for r in session.exec(select(RoutineScore))] == [("U01", 90, "f")]
