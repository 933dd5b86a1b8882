"""One unit's sheet in the notice's own layout: 附件1 (targets, counts, notes) above 附件2 (项目/内容/分值/自查分/备注)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date

from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from handlers.progress import UnitProgress
from handlers.xlsx_style import Styler, merge
from storage.campaign import Activity, Campaign
from storage.render import fmt_number

_SIDE = Side(style="thin", color="000000")
BORDER = Border(left=_SIDE, right=_SIDE, top=_SIDE, bottom=_SIDE)
GREY = PatternFill("solid", fgColor="D9D9D9")
CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
LEFT = Alignment(horizontal="left", vertical="center", wrap_text=True)
BOLD, TITLE = Font(bold=True), Font(bold=True, size=15)
LABEL_WIDTH, ITEM_WIDTH = 10, 7.5
NOT_APPLICABLE = "—"
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")
STYLES = Styler(
    {
        "box": {"border": BORDER, "alignment": CENTRE},
        "box_left": {"border": BORDER, "alignment": LEFT},
        "box_bold": {"border": BORDER, "alignment": CENTRE, "font": BOLD},
        "box_bold_left": {"border": BORDER, "alignment": LEFT, "font": BOLD},
        "grey": {"border": BORDER, "alignment": CENTRE, "fill": GREY},
        "grey_left": {"border": BORDER, "alignment": LEFT, "fill": GREY},
        "title": {"font": TITLE, "alignment": CENTRE},
        "bold": {"font": BOLD},
        "line": {"alignment": LEFT},
    }
)


@dataclass(frozen=True)
class SubColumn:
    activity: Activity
    org_type: str | None  # 党员大会 splits into 党委/总支/支部 (each its own target), as in the notice


def sub_columns(campaign: Campaign) -> list[SubColumn]:
    """The notice's table-1 columns: one per activity, or one per org type where targets differ by type."""
    return [
        SubColumn(a, org)
        for a in campaign.activities
        for org in (list(a.targets) if len(set(a.targets.values())) > 1 else [None])
    ]


def sheet_title(p: UnitProgress, taken: set[str]) -> str:
    """`U01 市财政局机关党委`, within Excel's 31 characters and without the characters it refuses."""
    base = _BAD_TITLE.sub("", f"{p.unit.code} {p.unit.name}")[:31].strip("'")
    title, n = base, 2
    while title.lower() in taken:
        title, n = f"{base[: 31 - len(str(n)) - 1]}~{n}", n + 1
    taken.add(title.lower())
    return title


def unit_sheet(ws: Worksheet, campaign: Campaign, p: UnitProgress, day: date, filler: str) -> None:
    columns = sub_columns(campaign)
    last = 1 + len(columns)
    row = table_one(ws, campaign, p, columns, last, day)
    ws.row_breaks.append(Break(id=row))  # 附件2 starts on its own page
    row = table_two(ws, campaign, p, last, row + 2, day)
    sign_lines(ws, row + 1, last, filler, day)
    page_setup(ws, last, row + 1)


def heading_lines(ws: Worksheet, r: int, last: int, attachment: str, title: str, unit: str, day: date) -> int:
    STYLES.apply(ws.cell(r, 1, attachment), "bold")
    _merge(ws, r + 1, 1, r + 1, last, title, TITLE, CENTRE, border=False)
    ws.row_dimensions[r + 1].height = 30
    half = last // 2
    _merge(ws, r + 2, 1, r + 2, half, f"单位（盖章）：{unit}", None, LEFT, border=False)
    _merge(ws, r + 2, half + 1, r + 2, last, f"日期：{day.year}年{day.month}月{day.day}日", None, LEFT, border=False)
    return r + 3


def table_one(ws: Worksheet, campaign: Campaign, p: UnitProgress, columns: list[SubColumn], last, day) -> int:
    title = f"市直机关党建科目完成情况自查统计表（{campaign.campaign.year}年度）"
    top = heading_lines(ws, 1, last, "附件1", title, p.unit.name, day)
    _merge(ws, top, 1, top + 1, 1, "项目", BOLD, CENTRE)
    col = 2
    for _, members in itertools.groupby(columns, key=lambda s: s.activity.group or s.activity.key):
        col = _item_heading(ws, top, col, list(members))
    ws.row_dimensions[top].height, ws.row_dimensions[top + 1].height = 45, 45
    lines = {line.q.key: line for line in p.activities}
    for r, label in enumerate(("年度目标", "完成情况", "备注"), start=top + 2):
        _box(ws.cell(r, 1, label), BOLD)
        for c, sub in enumerate(columns, start=2):
            _item_cell(ws.cell(r, c), label, sub, p.unit.org_type, lines.get(sub.activity.key))
    ws.row_dimensions[top + 2].height = ws.row_dimensions[top + 3].height = 24
    ws.row_dimensions[top + 4].height = 60
    return top + 4


def _item_heading(ws: Worksheet, top: int, col: int, members: list[SubColumn]) -> int:
    """An activity over two header rows; or a group (党课) or a split activity (党员大会) over its parts."""
    first = members[0].activity
    if len(members) == 1 and not first.group:
        _merge(ws, top, col, top + 1, col, first.name, BOLD, CENTRE)
        return col + 1
    _merge(ws, top, col, top, col + len(members) - 1, first.group or first.name, BOLD, CENTRE)
    for i, m in enumerate(members):
        label = m.org_type if not first.group else m.activity.name + (f"（{m.org_type}）" if m.org_type else "")
        _box(ws.cell(top + 1, col + i, label), BOLD)
    return col + len(members)


def _item_cell(cell, label: str, sub: SubColumn, org_type: str, line) -> None:
    """A split column shows its org type's target to everyone (as the notice does) and the count only in the
    unit's own; an activity that does not apply to the unit is grey, its target a dash."""
    own = line is not None and sub.org_type in (None, org_type)
    if label == "年度目标":
        target = sub.activity.targets.get(sub.org_type or org_type) if line or sub.org_type else None
        cell.value = _number(target) if target is not None else (None if line or sub.org_type else NOT_APPLICABLE)
        grey = line is None and not sub.org_type
    else:
        if own:
            cell.value = _number(line.value) if label == "完成情况" else (line.note or None)
        grey = not own
    _box(cell, None, LEFT if label == "备注" else CENTRE, grey)
    if label == "备注" and cell.value:
        cell.data_type = "s"  # a note is text, even one starting with "="


def table_two(ws: Worksheet, campaign: Campaign, p: UnitProgress, last: int, r: int, day: date) -> int:
    title = f"洛阳市直机关{campaign.campaign.year}年度党的建设评价标准自查表"
    r = heading_lines(ws, r, last, "附件2", title, p.unit.name, day)
    spans = score_spans(last)
    _score_row(ws, r, spans, ("项目", "内容", "分值", "自查分", "备注"), BOLD)
    for i, line in enumerate(p.scores, start=1):
        content = f"共 {line.q.subitems} 项（细则见评价标准）"
        _score_row(ws, r + i, spans, (line.q.name, content, _number(line.q.target), _number(line.value), line.note))
    total = r + len(p.scores) + 1
    first, end = get_column_letter(spans[3][0]), r + len(p.scores)
    # Blank, not 0, for a unit that entered nothing; still a formula, so a corrected score re-totals.
    formula = f'=IF(COUNT({first}{r + 1}:{first}{end})=0,"",SUM({first}{r + 1}:{first}{end}))'
    _score_row(ws, total, spans, ("合计总评", "", _number(campaign.total_points), formula, None), BOLD)
    return total


def score_spans(last: int) -> list[tuple[int, int]]:
    """The five columns of 附件2 laid over table 1's narrow ones: 项目 ¼, 内容 ⅓, 分值, 自查分, 备注 the rest."""
    widths = [max(2, last * 22 // 100), max(3, last * 33 // 100), 2, 2]
    spans, col = [], 1
    for w in widths:
        spans.append((col, col + w - 1))
        col += w
    return [*spans, (col, last)]


def _score_row(ws: Worksheet, r: int, spans, values, font=None) -> None:
    for (c1, c2), value in zip(spans, values, strict=True):
        align = CENTRE if c1 > spans[1][1] or font else LEFT
        cell = _merge(ws, r, c1, r, c2, value, font, align)
        if isinstance(value, str) and c1 >= spans[4][0]:
            cell.data_type = "s"
    ws.row_dimensions[r].height = 32


def sign_lines(ws: Worksheet, r: int, last: int, filler: str, day: date) -> None:
    third = last // 3
    parts = (
        (1, third, "填报单位（盖章）："),
        (third + 1, 2 * third, f"填表人：{filler}"),
        (2 * third + 1, last, f"日期：{day.year}年{day.month}月{day.day}日"),
    )
    for c1, c2, text in parts:
        _merge(ws, r, c1, r, c2, text, None, LEFT, border=False)
    ws.row_dimensions[r].height = 28


def page_setup(ws: Worksheet, last: int, last_row: int) -> None:
    """A4 landscape, one page wide, centred; the print area is the two tables and the signature line."""
    ws.column_dimensions["A"].width = LABEL_WIDTH
    for c in range(2, last + 1):
        ws.column_dimensions[get_column_letter(c)].width = ITEM_WIDTH
    ws.page_setup.paperSize, ws.page_setup.orientation = ws.PAPERSIZE_A4, "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.print_area = f"A1:{get_column_letter(last)}{last_row}"


def _merge(ws: Worksheet, r1, c1, r2, c2, value, font, align, border: bool = True):
    style = _style_name(font, align, border)
    for r in range(r1, r2 + 1):
        for c in range(c1, c2 + 1):
            STYLES.apply(ws.cell(r, c), style)
    if (r1, c1) != (r2, c2):
        merge(ws, r1, c1, r2, c2)
    cell = ws.cell(r1, c1, value)
    return cell


def _style_name(font, align, border: bool, grey: bool = False) -> str:
    if not border:
        return "title" if font is TITLE else ("bold" if font else "line")
    return ("grey" if grey else "box") + ("_bold" if font else "") + ("_left" if align is LEFT else "")


def _box(cell, font=None, align=CENTRE, grey: bool = False):
    return STYLES.apply(cell, _style_name(font, align, True, grey))


def _number(value):
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def describe(campaign: Campaign) -> str:
    return f"每个单位一张表：附件1（{len(sub_columns(campaign))} 列）和附件2（{fmt_number(campaign.total_points)} 分）"
