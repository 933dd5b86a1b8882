"""The filled tables as an XLSX workbook in the layout of the notice's two attachments (附件1, 附件2)."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.comments import Comment
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from handlers.progress import Line, UnitProgress
from handlers.xlsx_style import Styler, merge
from storage.campaign import Activity, Campaign
from storage.render import fmt_number

ACTIVITY_SHEET, SCORE_SHEET, README_SHEET = "附件1 统计表", "附件2 自查表", "填报说明"
UNIT_COLUMNS = (("编码", 7), ("单位", 24), ("组织类型", 9), ("联络组", 12))
DONE, TARGET = "完成情况", "年度目标"
FIRST_ITEM = len(UNIT_COLUMNS) + 1
# 附件1: title, note, three header rows (group or item, item, 完成情况/年度目标), then one row per unit.
A_TITLE, A_NOTE, A_HEAD, A_DATA = 1, 2, 3, 6
# 附件2: title, one header row, one row per unit, then 满分.
S_TITLE, S_HEAD, S_DATA = 1, 2, 3

_SIDE = Side(style="thin", color="808080")
BORDER = Border(left=_SIDE, right=_SIDE, top=_SIDE, bottom=_SIDE)
GREY = PatternFill("solid", fgColor="D9D9D9")
HEAD_FILL = PatternFill("solid", fgColor="EEF3F8")
CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
WRAP = Alignment(vertical="top", wrap_text=True)
SHORT_FONT = Font(color="C00000", bold=True)
TARGET_FONT = Font(color="595959")
TIME_FORMAT = "yyyy-mm-dd hh:mm"
STYLES = Styler(
    {
        "heading": {"font": Font(bold=True), "alignment": CENTRE, "border": BORDER, "fill": HEAD_FILL},
        "data": {"border": BORDER, "alignment": Alignment(vertical="top")},
        "data_wrap": {"border": BORDER, "alignment": WRAP},
        "grey": {"fill": GREY, "border": BORDER, "alignment": Alignment(vertical="top")},
        "target": {"font": TARGET_FONT, "border": BORDER, "alignment": Alignment(vertical="top")},
    }
)


@dataclass(frozen=True)
class ItemColumn:
    activity: Activity
    is_target: bool  # False: 完成情况 (the unit's count); True: 年度目标 (its org type's target)


def workbook_bytes(campaign: Campaign, rows: list[UnitProgress], *, now: datetime | None = None) -> bytes:
    """附件1, 附件2 and a 填报说明 sheet, one row per unit, sorted by liaison group then unit code."""
    rows = ordered(rows)
    wb = Workbook()
    activity_sheet(wb.active, campaign, rows)
    score_sheet(wb.create_sheet(SCORE_SHEET), campaign, rows)
    readme_sheet(wb.create_sheet(README_SHEET), campaign, rows, now or datetime.now(UTC))
    wb.properties.title, wb.properties.creator = campaign.campaign.title, "kaohe"
    wb.calculation.fullCalcOnLoad = True  # openpyxl stores no cached results: have 合计 computed on opening
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def ordered(rows: list[UnitProgress]) -> list[UnitProgress]:
    """Groups in the order of their first unit code (第一, 第二, 第三…, which a text sort gets wrong), then by code."""
    first: dict[str, str] = {}
    for p in sorted(rows, key=lambda p: p.unit.code):
        first.setdefault(p.group_name, p.unit.code)
    return sorted(rows, key=lambda p: (not p.group_name, first[p.group_name], p.unit.code))


# ---- 附件1 统计表 ----


def item_columns(campaign: Campaign) -> list[ItemColumn]:
    """Each activity's 完成情况, and its 年度目标 when the notice gives it one (其中主要领导上党课 has none)."""
    return [
        ItemColumn(a, is_target)
        for a in campaign.activities
        for is_target in (False, True)
        if not is_target or a.targets
    ]


def activity_sheet(ws: Worksheet, campaign: Campaign, rows: list[UnitProgress]) -> None:
    ws.title = ACTIVITY_SHEET
    columns = item_columns(campaign)
    notes_col = FIRST_ITEM + len(columns)
    title(ws, A_TITLE, notes_col, f"市直机关党建科目完成情况自查统计表（{campaign.campaign.year}年度）")
    note_row(ws, notes_col, activity_note(campaign))
    activity_header(ws, campaign, notes_col)
    for r, p in enumerate(rows, start=A_DATA):
        activity_row(ws, r, p, columns)
    last = A_DATA + len(rows) - 1
    mark_short(ws, columns, last)
    finish(ws, (A_HEAD, A_HEAD + 2), last, notes_col, [w for _, w in UNIT_COLUMNS] + [7] * len(columns) + [40])
    ws.row_dimensions[A_HEAD + 1].height = 48


def activity_note(campaign: Campaign) -> str:
    only = [a.name for a in campaign.activities if a.targets and set(a.targets) != set(campaign.campaign.org_types)]
    return (
        f"说明：每项活动分“{DONE}”“{TARGET}”两列，年度目标按本单位的组织类型；{'、'.join(only)}只适用于对应"
        "组织类型的单位，不适用的格子为灰色空白；完成情况少于年度目标的显示为红色；空白表示未填报。"
    )


def activity_header(ws: Worksheet, campaign: Campaign, notes_col: int) -> None:
    for c, (name, _) in enumerate(UNIT_COLUMNS, start=1):
        merged(ws, A_HEAD, c, A_HEAD + 2, c, name)
    col = FIRST_ITEM
    for group, members in itertools.groupby(campaign.activities, key=lambda a: a.group):
        start = col
        for a in members:
            col = activity_heading(ws, campaign, a, col)
        if group:
            merged(ws, A_HEAD, start, A_HEAD, col - 1, group)
    merged(ws, A_HEAD, notes_col, A_HEAD + 2, notes_col, "备注")


def activity_heading(ws: Worksheet, campaign: Campaign, a: Activity, col: int) -> int:
    """One activity's name over its 完成情况/年度目标 columns; returns the next free column."""
    span = 2 if a.targets else 1
    top = A_HEAD + 1 if a.group else A_HEAD
    cell = merged(ws, top, col, A_HEAD + 1, col + span - 1, a.name)
    remark = applicability(campaign, a)
    if remark:
        cell.comment = Comment(remark, "kaohe", width=240, height=90)
    for i, label in enumerate((DONE, TARGET)[:span]):
        heading(ws.cell(A_HEAD + 2, col + i), label)
    return col + span


def applicability(campaign: Campaign, a: Activity) -> str | None:
    """Why an activity's column is grey for some units, or why its target differs from unit to unit."""
    if a.targets and set(a.targets) != set(campaign.campaign.org_types):
        return f"{a.name}只适用于{'、'.join(a.targets)}单位；其他单位此列为灰色空白。"
    if len(set(a.targets.values())) > 1:
        by_type = "、".join(f"{org}{n}次" for org, n in a.targets.items())
        return (
            f"年度目标按组织类型：{by_type}。通知原表按党委、总支、支部分列，每个单位只有一种组织类型，此处合为一列。"
        )
    return None


def activity_row(ws: Worksheet, r: int, p: UnitProgress, columns: list[ItemColumn]) -> None:
    unit_cells(ws, r, p)
    lines = {line.q.key: line for line in p.activities}
    for c, column in enumerate(columns, start=FIRST_ITEM):
        cell = ws.cell(r, c)
        line = lines.get(column.activity.key)
        if line is None:
            STYLES.apply(cell, "grey")
            continue
        cell.value = number(line.q.target if column.is_target else line.value)
        if column.is_target:
            STYLES.apply(cell, "target")
    text(ws.cell(r, FIRST_ITEM + len(columns)), joined_notes(p.activities))


def mark_short(ws: Worksheet, columns: list[ItemColumn], last: int) -> None:
    """A 完成情况 below its 年度目标 turns red, and stays right when someone edits the numbers."""
    for c, column in enumerate(columns, start=FIRST_ITEM):
        if column.is_target or not column.activity.targets or last < A_DATA:
            continue
        done, target = get_column_letter(c), get_column_letter(c + 1)
        formula = f"AND(ISNUMBER({done}{A_DATA}),ISNUMBER({target}{A_DATA}),{done}{A_DATA}<{target}{A_DATA})"
        ws.conditional_formatting.add(f"{done}{A_DATA}:{done}{last}", FormulaRule(formula=[formula], font=SHORT_FONT))


# ---- 附件2 自查表 ----


def score_sheet(ws: Worksheet, campaign: Campaign, rows: list[UnitProgress]) -> None:
    cats = campaign.categories
    total_col = FIRST_ITEM + len(cats)
    headers = [name for name, _ in UNIT_COLUMNS] + [
        f"{c.name}（满分 {fmt_number(c.points)} 分，{c.subitems} 项）" for c in cats
    ]
    headers += [f"合计（{fmt_number(campaign.total_points)}）", "已提交", "提交时间", "备注"]
    title(ws, S_TITLE, len(headers), f"洛阳市直机关{campaign.campaign.year}年度党的建设评价标准自查表")
    for c, name in enumerate(headers, start=1):
        heading(ws.cell(S_HEAD, c), name)
    for r, p in enumerate(rows, start=S_DATA):
        score_row(ws, r, campaign, p, total_col)
    full_marks_row(ws, S_DATA + len(rows), campaign, total_col)
    widths = [w for _, w in UNIT_COLUMNS] + [14] * len(cats) + [11, 7, 17, 40]
    finish(ws, (S_HEAD, S_HEAD), S_DATA + len(rows) - 1, len(headers), widths)
    ws.row_dimensions[S_HEAD].height = 60


def score_row(ws: Worksheet, r: int, campaign: Campaign, p: UnitProgress, total_col: int) -> None:
    unit_cells(ws, r, p)
    for c, line in enumerate(p.scores, start=FIRST_ITEM):
        ws.cell(r, c, number(line.value))
    ws.cell(r, total_col, sum_formula(r, total_col))
    ws.cell(r, total_col + 1, "是" if p.submitted else "否")
    if p.submitted_at:
        stamp = ws.cell(r, total_col + 2, campaign.local(p.submitted_at).replace(tzinfo=None))
        STYLES.apply(stamp, "data").number_format = TIME_FORMAT
    text(ws.cell(r, total_col + 3), joined_notes(p.scores))


def full_marks_row(ws: Worksheet, r: int, campaign: Campaign, total_col: int) -> None:
    merged(ws, r, 1, r, len(UNIT_COLUMNS), "满分")
    for c, category in enumerate(campaign.categories, start=FIRST_ITEM):
        heading(ws.cell(r, c, number(category.points)), None)
    heading(ws.cell(r, total_col, sum_formula(r, total_col)), None)
    for c in range(total_col + 1, total_col + 4):
        heading(ws.cell(r, c), None)


def sum_formula(r: int, total_col: int) -> str:
    return f"=SUM({get_column_letter(FIRST_ITEM)}{r}:{get_column_letter(total_col - 1)}{r})"


# ---- 填报说明 ----


def readme_sheet(ws: Worksheet, campaign: Campaign, rows: list[UnitProgress], now: datetime) -> None:
    title(ws, 1, 2, "填报说明")
    for r, (label, value) in enumerate(readme_lines(campaign, rows, now), start=2):
        heading(ws.cell(r, 1, label), None)
        text(ws.cell(r, 2), value).alignment, ws.cell(r, 2).border = WRAP, BORDER
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = 14, 80


def readme_lines(campaign: Campaign, rows: list[UnitProgress], now: datetime) -> list[tuple[str, str]]:
    info, submitted = campaign.campaign, sum(p.submitted for p in rows)
    return [
        ("考核", f"{info.title}（{info.doc_no}）" if info.doc_no else info.title),
        ("发文单位", info.issuer),
        ("导出时间", f"{campaign.local(now):%Y-%m-%d %H:%M}（{info.timezone}）"),
        ("单位", f"共 {len(rows)} 个，已提交自查 {submitted} 个，未提交 {len(rows) - submitted} 个"),
        ("空白单元格", "表示“未填报”，不是 0"),
        ("灰色单元格", "该项不适用于本单位的组织类型（如支部单位的党委会）"),
        (ACTIVITY_SHEET, f"每项活动分“{DONE}”“{TARGET}”两列，年度目标按本单位组织类型；少于目标的显示为红色"),
        (SCORE_SHEET, "“合计”是公式，修改自查分后自动重算；最后一行为各项满分"),
    ]


# ---- shared pieces ----


def title(ws: Worksheet, r: int, last_col: int, value: str) -> None:
    cell = ws.cell(r, 1, value)
    cell.font, cell.alignment = Font(bold=True, size=14), CENTRE
    ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=last_col)
    ws.row_dimensions[r].height = 28


def note_row(ws: Worksheet, last_col: int, value: str) -> None:
    cell = ws.cell(A_NOTE, 1, value)
    cell.alignment, cell.font = Alignment(vertical="center", wrap_text=True), Font(size=9, color="595959")
    ws.merge_cells(start_row=A_NOTE, start_column=1, end_row=A_NOTE, end_column=last_col)
    ws.row_dimensions[A_NOTE].height = 30


def heading(cell: Cell, value: str | None) -> Cell:
    if value is not None:
        cell.value = value
    return STYLES.apply(cell, "heading")


def merged(ws: Worksheet, r1: int, c1: int, r2: int, c2: int, value: str) -> Cell:
    """A bold centred heading over a block; every cell of the block gets the border, so it prints whole."""
    for r in range(r1, r2 + 1):
        for c in range(c1, c2 + 1):
            heading(ws.cell(r, c), None)
    if (r1, c1) != (r2, c2):
        merge(ws, r1, c1, r2, c2)
    return heading(ws.cell(r1, c1), value)


def unit_cells(ws: Worksheet, r: int, p: UnitProgress) -> None:
    for c, value in enumerate((p.unit.code, p.unit.name, p.unit.org_type, p.group_name), start=1):
        text(ws.cell(r, c), value)


def text(cell: Cell, value: str | None) -> Cell:
    """User text stays text: never a formula (a note starting with "="), never a character Excel refuses."""
    if value:
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.data_type = "s"
    return cell


def joined_notes(lines: list[Line]) -> str:
    """ "党委会：xxx；政治学习：yyy" — category names without their ordinal (三、组织建设 → 组织建设)."""
    return "；".join(
        f"{line.q.name.split('、', 1)[-1] if line.q.kind == 'score' else line.q.name}：{line.note}"
        for line in lines
        if line.note
    )


def finish(ws: Worksheet, head: tuple[int, int], data_last: int, last_col: int, widths: list[int]) -> None:
    """Borders on the data, frozen header and unit columns, a filter, widths, and landscape printing."""
    head_first, head_last = head
    for row in ws.iter_rows(min_row=head_last + 1, max_row=max(data_last, head_last), max_col=last_col):
        for cell in row:
            if not cell.has_style:  # grey, target and time cells got their whole style already
                STYLES.apply(cell, "data_wrap" if cell.column == last_col else "data")
    ws.freeze_panes = ws.cell(head_last + 1, FIRST_ITEM)
    ws.auto_filter.ref = f"A{head_last}:{get_column_letter(last_col)}{max(data_last, head_last)}"
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = width
    ws.page_setup.orientation, ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = "landscape", 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{head_first}:{head_last}"


def number(value) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)
