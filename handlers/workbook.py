"""The committee's workbook: the city-wide matrices, the results, the instructions, then one sheet per unit."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import Workbook

from handlers.export_xlsx import (
    README_SHEET,
    SCORE_SHEET,
    WRAP,
    activity_sheet,
    heading,
    ordered,
    readme_sheet,
    score_sheet,
    text,
)
from handlers.progress import UnitProgress
from handlers.results import UnitResult
from handlers.results_sheet import RESULTS_SHEET, results_sheet
from handlers.unit_sheet import sheet_title, unit_sheet
from storage.campaign import Campaign

# One sheet per unit costs about 15 ms to build and write with openpyxl (benchmarks/documents.py); past a few
# hundred units a city-wide workbook of thousands of tabs helps nobody, so those come per liaison group.
UNIT_SHEETS_MAX = 300


def full_workbook(
    campaign: Campaign,
    rows: list[UnitProgress],
    results: list[UnitResult],
    *,
    votes: list | None = None,
    fillers: dict[str, str] | None = None,
    now: datetime | None = None,
    unit_sheets: bool | None = None,
) -> bytes:
    """附件1/附件2 matrices, 考核结果, 填报说明 and each unit's own 附件1 and 附件2: always with `unit_sheets`,
    never without, and by default while there are at most UNIT_SHEETS_MAX units."""
    now, rows, fillers = now or datetime.now(UTC), ordered(rows), fillers or {}
    if unit_sheets is None:
        unit_sheets = len(rows) <= UNIT_SHEETS_MAX
    wb = Workbook()
    activity_sheet(wb.active, campaign, rows)
    score_sheet(wb.create_sheet(SCORE_SHEET), campaign, rows)
    results_sheet(wb.create_sheet(RESULTS_SHEET), campaign, results, votes or [])
    readme = wb.create_sheet(README_SHEET)
    readme_sheet(readme, campaign, rows, now)
    note_unit_sheets(readme, len(rows), unit_sheets)
    if unit_sheets:
        taken = {name.lower() for name in wb.sheetnames}
        for p in rows:
            day = campaign.local(p.submitted_at or now).date()
            unit_sheet(wb.create_sheet(sheet_title(p, taken)), campaign, p, day, fillers.get(p.unit.code, ""))
    wb.properties.title, wb.properties.creator = campaign.campaign.title, "kaohe"
    wb.calculation.fullCalcOnLoad = True
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def note_unit_sheets(ws, units: int, included: bool) -> None:
    r = ws.max_row + 1
    heading(ws.cell(r, 1), "单位附件")
    if included:
        line = "其后每个单位一张表：附件1 统计表和附件2 自查表，按通知原表格式，可直接打印盖章"
    else:
        line = f"共 {units} 个单位，未逐一附表；各单位的附件1、附件2请按联络组导出（联络员回复「本组导出」）"
    text(ws.cell(r, 2), line).alignment = WRAP
