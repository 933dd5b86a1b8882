"""The filled tables for the committee: JSON and CSV in the contract's shape, XLSX in the notice's layout."""

from __future__ import annotations

import csv
import io
import json

from handlers.progress import UnitProgress, all_progress
from storage import campaigns, votes
from storage.db import Database

FORMATS = ("json", "csv", "xlsx")


class ExportError(ValueError):
    pass


def export_tables(db: Database, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ExportError(f"--format 只能是 {'、'.join(FORMATS)} 之一，不能是 {fmt!r}")
    with db.read() as session:
        campaign = campaigns.active_campaign(session=session)
        if campaign is None:
            raise ExportError("没有进行中的考核：请先运行 `kaohe campaign load FILE`")
        rows = all_progress(session=session, campaign=campaign)
        recommended = recommendations_by_unit(votes.closed_results(session=session, campaign_id=campaign.id))
    if fmt == "json":
        records = [{**unit_record(p), "recommendations": recommended.get(p.unit.code, [])} for p in rows]
        return json.dumps(records, ensure_ascii=False, indent=2).encode() + b"\n"
    if fmt == "csv":
        return _csv(rows)
    from handlers.export_xlsx import workbook_bytes

    return workbook_bytes(campaign, rows)


def unit_record(p: UnitProgress) -> dict:
    """One unit in the contract's shape, with the campaign file's keys."""
    return {
        "code": p.unit.code,
        "name": p.unit.name,
        "org_type": p.unit.org_type,
        "group": p.group_name,
        "activities": {
            line.q.key: {"count": line.value, "target": line.q.target, "note": line.note} for line in p.activities
        },
        "scores": {line.q.key: {"points": line.value, "max": line.q.target, "note": line.note} for line in p.scores},
        "submitted": p.submitted,
        "submitted_at": p.submitted_at.isoformat() if p.submitted_at else None,
    }


def recommendations_by_unit(results: list[votes.VoteResult]) -> dict[str, list[dict]]:
    """Closed votes' counts for the unit's organisation or the people it put forward (never who chose whom)."""
    found: dict[str, list[dict]] = {}
    for result in results:
        for c in result.candidates:
            if c.unit_code:
                found.setdefault(c.unit_code, []).append(
                    {
                        "kind": result.kind,
                        "title": result.title,
                        "group": result.group,
                        "candidate": c.label,
                        "votes": c.count,
                        "rank": 1 + sum(o.count > c.count for o in result.candidates),
                        "eligible": result.eligible,
                        "voted": result.voted,
                    }
                )
    return found


def _csv(rows: list[UnitProgress]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "code",
            "name",
            "org_type",
            "group",
            "table",
            "key",
            "item",
            "value",
            "target_or_max",
            "note",
            "submitted",
            "submitted_at",
        ]
    )
    for p in rows:
        for table, lines in (("activities", p.activities), ("scores", p.scores)):
            for line in lines:
                writer.writerow(
                    [
                        p.unit.code,
                        p.unit.name,
                        p.unit.org_type,
                        p.group_name,
                        table,
                        line.q.key,
                        line.q.name,
                        _cell(line.value),
                        _cell(line.q.target),
                        line.note or "",
                        "yes" if p.submitted else "no",
                        p.submitted_at.isoformat() if p.submitted_at else "",
                    ]
                )
    # UTF-8 with BOM: Excel in China opens it without garbling the Chinese.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
