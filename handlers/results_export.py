"""`kaohe results`: every unit's parts, final score and grades, with the reasons for each override (JSON, CSV, text)."""

from __future__ import annotations

import csv
import io
import json

from handlers.results import UnitResult, unit_results
from storage import campaigns
from storage.db import Database

RESULT_FORMATS = ("text", "json", "csv")
CSV_HEADER = [
    "单位编码",
    "单位名称",
    "联络组",
    "表二自查分",
    "表二复核分",
    "年终考核",
    "平时考核",
    "加分",
    "总分",
    "建议等次",
    "评定等次",
    "评定理由",
    "复核说明",
    "加分说明",
    "尚缺",
]


class ResultsError(ValueError):
    pass


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def result_record(r: UnitResult) -> dict:
    """One unit's result, every figure with who set it, when and why."""
    d = r.decision
    return {
        "code": r.unit.code,
        "name": r.unit.name,
        "group": r.group_name,
        "self_total": r.self_total,
        "reviewed_total": r.reviewed_total,
        "year_end": r.year_end,
        "routine": r.routine_score,
        "routine_source": {"source": r.routine.source, "by": r.routine.updated_by, "at": _iso(r.routine.updated_at)}
        if r.routine
        else None,
        "bonus": r.bonus,
        "final": r.final,
        "proposed_grade": r.proposed_grade,
        "grade": r.grade,
        "grade_override": {"grade": d.grade, "reason": d.reason, "by": d.decided_by, "at": _iso(d.decided_at)}
        if d
        else None,
        "reviews": [
            {
                "key": c.key,
                "name": c.name,
                "self_score": c.self_score,
                "reviewed": c.points,
                "reason": c.review.reason,
                "by": c.review.set_by,
                "at": _iso(c.review.set_at),
            }  # fmt: skip
            for c in r.reviews
        ],
        "bonus_items": [
            {
                "id": b.id,
                "title": b.title,
                "points": b.points,
                "status": b.status,
                "reason": b.reason,
                "declared_by": b.declared_by,
                "declared_at": _iso(b.declared_at),
                "decided_by": b.decided_by,
                "decided_at": _iso(b.decided_at),
                "decision_reason": b.decision_reason,
            }  # fmt: skip
            for b in r.bonus_items
        ],
        "missing": r.missing,
    }


def csv_row(r: UnitResult) -> list:
    reviews = "；".join(f"{c.name} {c.self_score}→{c.points}：{c.review.reason}" for c in r.reviews)
    bonus = "；".join(f"{b.title} {b.points:g}（{_status(b.status)}）" for b in r.bonus_items)
    figures = (r.self_total, r.reviewed_total, r.year_end, r.routine_score, r.bonus, r.final)
    return [r.unit.code, r.unit.name, r.group_name, *["" if v is None else f"{v:g}" for v in figures],
            r.proposed_grade or "", r.grade or "", r.decision.reason if r.decision else "", reviews, bonus,
            "、".join(r.missing)]  # fmt: skip


def _status(status: str) -> str:
    return {"approved": "已批准", "refused": "不批准", "pending": "待审核"}.get(status, status)


def results_bytes(db: Database, fmt: str) -> bytes:
    if fmt not in RESULT_FORMATS:
        raise ResultsError(f"--format 只能是 {'、'.join(RESULT_FORMATS)} 之一，不能是 {fmt!r}")
    with db.read() as session:
        campaign = campaigns.active_campaign(session=session)
        if campaign is None:
            raise ResultsError("没有进行中的考核：请先运行 `kaohe campaign load FILE`")
        rows = unit_results(session=session, campaign=campaign)
    if fmt == "json":
        return json.dumps([result_record(r) for r in rows], ensure_ascii=False, indent=2).encode() + b"\n"
    out = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        writer.writerows(csv_row(r) for r in rows)
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    for r in rows:
        row = csv_row(r)
        out.write(
            f"{row[0]}\t{row[1]}\t年终 {row[5] or '—'}\t平时 {row[6] or '—'}\t加分 {row[7]}\t总分 {row[8] or '—'}"
        )
        out.write(f"\t建议 {row[9] or '—'}\t评定 {row[10] or '—'}{'（' + row[11] + '）' if row[11] else ''}\n")
    return out.getvalue().encode()
