"""The 考核结果 sheet: every unit's parts, final score and grades with the reasons, then the recommendations."""

from __future__ import annotations

from openpyxl.worksheet.worksheet import Worksheet

from handlers.export_xlsx import BORDER, WRAP, heading, number, text, title
from handlers.results import UnitResult
from handlers.vote_results import recommended
from storage.campaign import Campaign
from storage.render import fmt_number

RESULTS_SHEET = "考核结果"
HEADERS = (
    ("编码", 7),
    ("单位", 24),
    ("联络组", 12),
    ("表二自查分", 10),
    ("表二复核分", 10),
    ("年终考核", 9),
    ("平时考核", 9),
    ("加分", 7),
    ("总分", 9),
    ("建议等次", 8),
    ("评定等次", 8),
    ("说明（复核、加分、评定的理由）", 50),
)
HEAD = 3


def results_sheet(ws: Worksheet, campaign: Campaign, results: list[UnitResult], votes: list) -> None:
    title(ws, 1, len(HEADERS), f"{campaign.campaign.title}结果")
    ws.cell(2, 1, weighting(campaign))
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(HEADERS))
    for c, (name, width) in enumerate(HEADERS, start=1):
        heading(ws.cell(HEAD, c), name)
        ws.column_dimensions[ws.cell(HEAD, c).column_letter].width = width
    for r, result in enumerate(results, start=HEAD + 1):
        result_row(ws, r, result)
    last = HEAD + len(results)
    recommendations(ws, last + 2, votes)
    ws.freeze_panes = ws.cell(HEAD + 1, 3)
    ws.print_title_rows = f"{HEAD}:{HEAD}"
    ws.page_setup.paperSize, ws.page_setup.orientation = ws.PAPERSIZE_A4, "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def weighting(campaign: Campaign) -> str:
    w, s = campaign.weights, campaign.scoring
    return (
        f"总分 = 年终考核 × {fmt_number(w.year_end)} + 平时考核 × {fmt_number(w.routine)} + 批准的加分；"
        f"年终考核为表二复核分折合 {fmt_number(s.year_end_scale)} 分；保留 {s.precision} 位小数（四舍五入）；"
        "空白表示尚无该项。"
    )


def result_row(ws: Worksheet, r: int, res: UnitResult) -> None:
    for c, value in enumerate((res.unit.code, res.unit.name, res.group_name), start=1):
        text(ws.cell(r, c), value)
    figures = (res.self_total, res.reviewed_total, res.year_end, res.routine_score, res.bonus, res.final)
    for c, value in enumerate(figures, start=4):
        ws.cell(r, c, number(value))
    text(ws.cell(r, 10), res.proposed_grade)
    text(ws.cell(r, 11), res.grade)
    text(ws.cell(r, 12), explanation(res))
    for c in range(1, len(HEADERS) + 1):
        ws.cell(r, c).border = BORDER
    ws.cell(r, 12).alignment = WRAP


def explanation(res: UnitResult) -> str:
    parts = [f"复核 {c.name.split('、', 1)[-1]} {fmt_number(c.self_score)}→{fmt_number(c.points)}：{c.review.reason}"
             for c in res.reviews]  # fmt: skip
    parts += [f"加分 {b.title} +{fmt_number(b.points)}：{b.decision_reason}" for b in res.approved]
    if res.pending:
        parts.append(f"加分待审核 {len(res.pending)} 项")
    if res.decision:
        parts.append(f"评定为{res.decision.grade}：{res.decision.reason}")
    parts += [f"尚缺：{'、'.join(res.missing)}"] if res.missing else []
    return "；".join(parts)


def recommendations(ws: Worksheet, r: int, votes: list) -> None:
    """民主推荐 by liaison group: what each closed vote recommends, with its turnout; a line when none closed."""
    heading(ws.cell(r, 1), "民主推荐")
    ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=3)
    if not votes:
        text(ws.cell(r + 1, 1), "尚无已结束的民主推荐投票")
        return
    for i, v in enumerate(votes, start=r + 1):
        text(ws.cell(i, 1), v.group)
        text(ws.cell(i, 2), v.title)
        text(ws.cell(i, 3), f"应到 {v.eligible}，实到 {v.voted}")
        picks = "、".join(f"{c.label}（{c.count} 票）" for c in recommended(v))
        text(ws.cell(i, 4), picks or "无")
        ws.merge_cells(start_row=i, start_column=4, end_row=i, end_column=len(HEADERS))
