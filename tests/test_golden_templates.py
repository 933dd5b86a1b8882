import os
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from handlers.docx_render import cell_text
from handlers.progress import Line, UnitProgress
from handlers.results import CategoryScore, UnitResult, compute
from handlers.scoring import weighting_line
from handlers.summaries import GroupLine, UnitLine
from handlers.tables import questions
from storage.campaign import DEFAULT_CAMPAIGN, load_campaign
from storage.models import BonusItem, GradeDecision, ReviewedScore, RoutineScore, Submission, Unit
from storage.render import render

GOLDEN = Path(__file__).parent / "golden"
C = load_campaign(DEFAULT_CAMPAIGN)
AT = datetime(2013, 12, 28, 2, 0, tzinfo=UTC)
UNIT = Unit(code="U01", name="市财政局机关党委", org_type="党委", group_id=1)


def progress() -> UnitProgress:
    counts = {"dangweihui": (6, "其中1次扩大会议"), "zhengzhi_xuexi": (20, None)}
    acts = [Line(q, *counts.get(q.key, (None, None))) for q in questions(C, "activity", "党委")]
    scores = [Line(q, 170.5 if q.key == "organisation" else None, "记录不全" if q.key == "organisation" else None)
              for q in questions(C, "score", "")]  # fmt: skip
    sub = Submission(campaign_id=C.id, unit_code="U01", submitted=True, submitted_at=AT, submitted_by="wangfang")
    return UnitProgress(unit=UNIT, group_name="第一联络组", activities=acts, scores=scores, submission=sub)


def result() -> UnitResult:
    review = ReviewedScore(campaign_id=C.id, unit_code="U01", key="organisation", points=150, reason="记录不全",
                           set_by="hezhiyuan", set_at=AT)  # fmt: skip
    cats = [CategoryScore(c.key, c.name, c.points, c.points - 5, review if c.key == "organisation" else None)
            for c in C.categories]  # fmt: skip
    bonus = [BonusItem(id=1, campaign_id=C.id, unit_code="U01", title="市级表彰", points=2, reason="文件",
                       status="approved", declared_by="wangfang", decided_by="hezhiyuan", decided_at=AT,
                       decision_reason="属实"),
             BonusItem(id=2, campaign_id=C.id, unit_code="U01", title="省级表彰", points=3, reason="待核",
                       declared_by="wangfang")]  # fmt: skip
    routine = RoutineScore(campaign_id=C.id, unit_code="U01", score=90, source="平时.csv", updated_by="hezhiyuan",
                           updated_at=AT)  # fmt: skip
    decision = GradeDecision(campaign_id=C.id, unit_code="U01", grade="较好", reason="通报批评",
                             decided_by="hezhiyuan", decided_at=AT)  # fmt: skip
    return compute(C, UnitResult(UNIT, "第一联络组", cats, routine, bonus, decision))


def unit_lines() -> list[UnitLine]:
    a = UnitLine("U02", "市教育局机关党委", "第一联络组", 14, 7, 3, 2, 0, 0, False, ["李强"])
    b = UnitLine("U01", "市财政局机关党委", "第一联络组", 14, 7, 14, 13, 7, 955.5, True, ["王芳"])
    return [a, b]


FIGURES = {"total": 2, "submitted": 1, "acts": 28, "filled": 17, "reached": 15, "scored": 1, "mean": 955.5, "days": 3}
VOTE = {
    "group": "第一联络组",
    "title": "先进基层党组织",
    "eligible": 4,
    "voted": 4,
    "picks": ["市财政局机关党委（3票）"],
}
ITEM = BonusItem(id=7, campaign_id=C.id, unit_code="U01", title="市级表彰", points=5, reason="市文明委12号文件",
                 status="refused", declared_by="wangfang", decision_reason="无表彰文件")  # fmt: skip
NAMES = {"hezhiyuan": "何志远"}
CASES = {
    "scoring_refused": ("scoring_refused.txt", {"reason": "分值「abc」不是数字", "usage": "加分 市级表彰 5 依据"}),
    "bonus_ask_reason": ("bonus_ask_reason.txt", {"title": "市级表彰", "points": 5.0}),
    "bonus_declared": ("bonus_declared.txt", {"item": ITEM}),
    "bonus_new_admin": ("bonus_new_admin.txt", {"item": ITEM, "unit": UNIT, "by": "王芳"}),
    "bonus_pending": ("bonus_pending.txt", {"items": [ITEM], "units": {"U01": UNIT}}),
    "bonus_pending_none": ("bonus_pending.txt", {"items": [], "units": {}}),
    "bonus_decided": ("bonus_decided.txt", {"item": ITEM, "unit": UNIT}),
    "bonus_decision_clerk": ("bonus_decision_clerk.txt", {"item": ITEM, "by": "何志远"}),
    "reviewed_set": ("reviewed_set.txt", {"unit": UNIT, "category": C.category("organisation"),
                                          "row": NS(points=150.0, reason="记录不全")}),
    "grade_set": ("grade_set.txt", {"unit": UNIT, "row": NS(grade="较好", reason="通报批评")}),
    "unit_result": ("unit_result.txt", {"r": result(), "c": C, "names": NAMES, "formula": weighting_line(C),
                                        "at": lambda m: f"{C.local(m):%m-%d %H:%M}"}),
    "file_sent": ("file_sent.txt", {"what": "自查总结（草稿）", "name": "U01-自查总结（草稿）.docx", "size_kb": 38}),
    "no_group": ("no_group.txt", {"name": "胡林"}),
    "submitted": ("submitted.txt", {"p": progress(), "liaison": ["胡林"], "by": "王芳", "at": "2013-12-28 10:00",
                                    "short": [ln for ln in progress().activities if ln.short_by]}),
    "group_progress": ("group_progress.txt", {**FIGURES, "name": "第一联络组", "shown": unit_lines()[:1], "hidden": 1,
                                              "votes": [VOTE]}),
    "city_progress": ("city_progress.txt", {**FIGURES, "name": "全市", "groups": [GroupLine("第一联络组", unit_lines())],
                                            "hidden": 2, "behind": unit_lines()[:1],
                                            "votes": {"先进基层党组织": {"groups": 1, "picks": 1}}}),
    "self_check_summary": ("self_check_summary.docx.txt", {"p": progress(), "c": C, "filler": "王芳、马军",
                                                           "day": date(2013, 12, 20), "cell": cell_text,
                                                           "short": [ln for ln in progress().activities if ln.short_by]}),
    "announcement": ("announcement.docx.txt", {"c": C, "grades": [{"name": "好", "units": []},
                                                                  {"name": "较好", "units": [result()]}],
                                               "ungraded": [], "results": [result()], "day": date(2013, 12, 31),
                                               "recommended": {"先进基层党组织": [{"group": "第一联络组",
                                                               "names": ["市财政局机关党委"], "eligible": 4, "voted": 4}]}}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_template_renders_its_golden_file(case):
    template, values = CASES[case]
    text = render(template, **values) + "\n"
    golden = GOLDEN / f"{case}.txt"
    if os.environ.get("KAOHE_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", ["group_progress", "city_progress", "submitted", "unit_result", "bonus_pending"])
def test_chat_summary_fits_a_phone(case):
    template, values = CASES[case]
    assert len(render(template, **values).encode()) < 2048
