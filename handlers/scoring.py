"""The scoring service the chat, the CLI and the dashboard share: every input checked, refused in Chinese, audited."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from handlers.errors import InputError
from handlers.results import UnitResult, rounded, unit_result, unit_results
from handlers.roster_import import ImportReport, read_table
from storage import roster, scoring
from storage.campaign import Campaign
from storage.models import BonusItem, GradeDecision, ReviewedScore, Unit
from storage.render import fmt_number as _n

if TYPE_CHECKING:
    from sqlmodel import Session

__all__ = [
    "UnitResult",
    "decide_bonus",
    "declare_bonus",
    "import_routine_scores",
    "override_grade",
    "pending_bonus",
    "read_routine_file",
    "set_reviewed_score",
    "unit_result",
    "unit_results",
]
ROUTINE_COLUMNS = {"code": ("单位编码", "编码", "code"), "score": ("平时成绩", "平时", "score")}
MAX_TITLE, MAX_REASON = 100, 500


def _unit(session: Session, code: str) -> Unit:
    unit = roster.unit(session=session, code=code.strip().upper()) if code and code.strip() else None
    if unit is None:
        raise InputError(f"没有编码为「{code}」的单位")
    return unit


def _reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InputError(f"{what}需要写明理由")
    if len(reason) > MAX_REASON:
        raise InputError(f"理由太长（最多 {MAX_REASON} 字）")
    return reason


def _number(value, lowest: float, highest: float, what: str, *, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InputError(f"{what}应是数字")
    if value < lowest or (open_low and value == lowest) or value > highest:
        low = f"大于 {_n(lowest)}" if open_low else f"不小于 {_n(lowest)}"
        raise InputError(f"{what}应{low}、不大于 {_n(highest)}，不能是 {_n(value)}")
    return float(value)


# ---- routine (平时) scores ----


def read_routine_file(path: str | Path) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV (UTF-8 or GBK) or XLSX file with 单位编码, 平时成绩; ImportFileError for a broken file."""
    # read_table insists on the columns keyed "code" and "name"; the score sits under "name" so it is required too.
    return read_table(path, {"code": ROUTINE_COLUMNS["code"], "name": ROUTINE_COLUMNS["score"]})


def import_routine_scores(
    *, session: Session, campaign: Campaign, rows, actor: str, source: str, now: datetime
) -> ImportReport:
    """All or nothing: every row is checked first; one refused row means nothing is written."""
    report, good, seen = ImportReport("平时成绩"), [], set()
    for n, row in rows:
        try:
            good.append(_routine_row(session, campaign, row, seen))
        except InputError as exc:
            report.refused.append((n, exc.reason))
    if report.refused:
        return report
    for code, score in good:
        changed = scoring.set_routine_score(
            session=session, campaign_id=campaign.id, unit_code=code, score=score, source=source, actor=actor, now=now
        )
        {"added": report.added, "updated": report.updated, None: report.unchanged}[changed].append(code)
    return report


def _routine_row(session: Session, campaign: Campaign, row: dict, seen: set) -> tuple[str, float]:
    code, text = row["code"].strip().upper(), row["name"].strip()
    unit = _unit(session, code)
    if unit.code in seen:
        raise InputError(f"单位编码 {unit.code} 重复")
    seen.add(unit.code)
    try:
        score = float(text)
    except ValueError:
        raise InputError(f"{unit.code} 的平时成绩「{text}」不是数字" if text else f"{unit.code} 缺少平时成绩") from None
    return unit.code, _number(score, 0, campaign.scoring.routine_max, f"{unit.code} 的平时成绩")


# ---- bonus items (加分项目) ----


def declare_bonus(
    *, session: Session, campaign: Campaign, unit_code: str, title: str, points, reason: str, actor: str, now: datetime
) -> BonusItem:
    unit = _unit(session, unit_code)
    title = (title or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise InputError("请写明加分事由，如「市级表彰」" if not title else f"事由太长（最多 {MAX_TITLE} 字）")
    highest = campaign.scoring.bonus_max or campaign.scoring.year_end_scale
    points = _number(points, 0, highest, "加分分值", open_low=True)
    return scoring.add_bonus(
        session=session,
        campaign_id=campaign.id,
        unit_code=unit.code,
        title=title,
        points=points,
        reason=_reason(reason, "申报加分"),
        actor=actor,
        now=now,
    )


def pending_bonus(*, session: Session, campaign: Campaign) -> list[BonusItem]:
    return scoring.bonus_items(session=session, campaign_id=campaign.id, status="pending")


def decide_bonus(
    *, session: Session, campaign: Campaign, item_id: int, approve: bool, reason: str | None, actor: str, now: datetime
) -> BonusItem:
    """Approve or refuse a pending item; a refusal needs a reason, an approval records 同意 when given none."""
    item = scoring.bonus_item(session=session, item_id=item_id)
    if item is None or item.campaign_id != campaign.id:
        raise InputError(f"没有第 {item_id} 号加分申报")
    if item.status != "pending":
        raise InputError(f"第 {item_id} 号加分申报已{'批准' if item.status == 'approved' else '不批准'}，不能再审核")
    reason = (reason or "").strip() or ("同意" if approve else "")
    return scoring.decide_bonus(
        session=session, item=item, approve=approve, reason=_reason(reason, "不批准"), actor=actor, now=now
    )


# ---- reviewed scores and grades ----


def set_reviewed_score(
    *, session: Session, campaign: Campaign, unit_code: str, key: str, points, reason: str, actor: str, now: datetime
) -> ReviewedScore:
    unit = _unit(session, unit_code)
    category = next((c for c in campaign.categories if c.key == key), None)
    if category is None:
        raise InputError(f"表二没有「{key}」这一类")
    points = _number(points, 0, category.points, f"{category.name}的复核分")
    if points * 2 != int(points * 2):
        raise InputError("复核分最多精确到半分")
    before = unit_result(session=session, campaign=campaign, unit=unit)
    old = next(c.points for c in before.categories if c.key == key)
    return scoring.set_reviewed(
        session=session,
        campaign_id=campaign.id,
        unit_code=unit.code,
        key=key,
        points=points,
        reason=_reason(reason, "复核改分"),
        actor=actor,
        old_points=old,
        now=now,
    )


def override_grade(
    *, session: Session, campaign: Campaign, unit_code: str, grade: str, reason: str, actor: str, now: datetime
) -> GradeDecision:
    unit = _unit(session, unit_code)
    names = [g.name for g in campaign.grades]
    if grade not in names:
        raise InputError(f"等次「{grade}」不在本次考核的等次中（{'、'.join(names) or '未设等次'}）")
    before = unit_result(session=session, campaign=campaign, unit=unit)
    return scoring.set_grade(
        session=session,
        campaign_id=campaign.id,
        unit_code=unit.code,
        grade=grade,
        reason=_reason(reason, "评定等次"),
        actor=actor,
        old_grade=before.grade,
        now=now,
    )


def weighting_line(campaign: Campaign) -> str:
    """How the final score is made, in the campaign's own numbers, for every page that shows one."""
    w, s = campaign.weights, campaign.scoring
    return (
        f"总分 = 年终考核（表二复核分折合 {_n(s.year_end_scale)} 分）× {_n(rounded(w.year_end * 100, 2))}% "
        f"+ 平时考核 × {_n(rounded(w.routine * 100, 2))}% + 批准的加分"
    )
