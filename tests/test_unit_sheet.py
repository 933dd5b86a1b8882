import io
import shutil

import openpyxl
import pytest

from bot.channels.recording import RecordingTransport
from handlers.export import export_tables
from storage.clock import FixedClock
from tests.conftest import IN_SELF_CHECK, _services
from tests.test_clerk_submit import ALL_SCORES
from tests.transcript import Chat

TOP = 4  # 附件1 label, title, unit/date line, then the two header rows


@pytest.fixture(scope="module")
def book(migrated_sqlite, tmp_path_factory):
    """One export read by every test here: a workbook of 16 sheets is slow to build on a busy machine."""
    services = module_services(migrated_sqlite, tmp_path_factory)
    Chat(services, "wangfang").script(
        "党委会6次 其中1次扩大会议，党员大会1，政治学习20 集中学习", "确认", "组织建设 170.5 记录不全", "确认"
    )
    Chat(services, "liujing").script("支委会8次", "确认")
    yield openpyxl.load_workbook(io.BytesIO(export_tables(services.db, "xlsx")))
    services.close()


def module_services(migrated_sqlite, tmp_path_factory):
    path = tmp_path_factory.mktemp("book") / "kaohe.db"
    shutil.copy(migrated_sqlite, path)
    return _services(f"sqlite:///{path}", FixedClock(IN_SELF_CHECK), RecordingTransport())


def column_of(ws, name: str, row: int = TOP) -> int:
    return next(c for c in range(1, ws.max_column + 1) if ws.cell(row, c).value == name)


def merged_at(ws, row: int, col: int):
    return next(r for r in ws.merged_cells.ranges if r.min_row == row and r.min_col == col)


def table_two_top(ws) -> int:
    return next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "附件2")


def test_every_unit_has_its_own_sheet_after_the_city_wide_ones(book):
    assert book.sheetnames[:4] == ["附件1 统计表", "附件2 自查表", "考核结果", "填报说明"]
    assert book.sheetnames[4:6] == ["U01 市财政局机关党委", "U02 市教育局机关党委"] and len(book.sheetnames) == 16


def test_unit_sheet_opens_with_the_attachment_title_unit_and_date(book):
    ws = book["U01 市财政局机关党委"]
    assert (ws["A1"].value, ws["A2"].value) == ("附件1", "市直机关党建科目完成情况自查统计表（2013年度）")
    assert ws["A3"].value == "单位（盖章）：市财政局机关党委"
    assert ws.cell(3, merged_at(ws, 3, 1).max_col + 1).value.startswith("日期：")


def test_table_one_has_target_count_and_note_rows_under_the_items(book):
    ws = book["U01 市财政局机关党委"]
    c = column_of(ws, "党委会")
    assert [ws.cell(r, 1).value for r in range(TOP + 2, TOP + 5)] == ["年度目标", "完成情况", "备注"]
    assert [ws.cell(r, c).value for r in range(TOP + 2, TOP + 5)] == [6, 6, "其中1次扩大会议"]
    assert merged_at(ws, TOP, c).max_row == TOP + 1  # one item: its name spans both header rows


def test_party_congress_splits_by_org_type_with_each_target_and_the_count_in_the_units_own(book):
    ws = book["U01 市财政局机关党委"]
    c = column_of(ws, "党员大会")
    assert (merged_at(ws, TOP, c).min_col, merged_at(ws, TOP, c).max_col) == (c, c + 2)
    assert [ws.cell(TOP + 1, c + i).value for i in range(3)] == ["党委", "总支", "支部"]
    assert [ws.cell(TOP + 2, c + i).value for i in range(3)] == [1, 2, 4]
    assert [ws.cell(TOP + 3, c + i).value for i in range(3)] == [1, None, None]


def test_party_lecture_group_is_merged_over_its_two_items(book):
    ws = book["U01 市财政局机关党委"]
    c = column_of(ws, "党课")
    assert merged_at(ws, TOP, c).max_col == c + 1
    assert [ws.cell(TOP + 1, c + i).value for i in range(2)] == ["领导上党课", "其中主要领导上党课"]


def test_a_meeting_of_another_org_type_shows_a_dash_on_grey(book):
    ws = book["U04 市档案局机关支部"]
    c = column_of(ws, "党委会")
    assert (ws.cell(TOP + 2, c).value, ws.cell(TOP + 3, c).fill.fgColor.rgb) == ("—", "00D9D9D9")
    assert ws.cell(TOP + 3, column_of(ws, "支委会")).value == 8


def test_table_two_lists_categories_with_content_points_self_score_and_note(book):
    ws = book["U01 市财政局机关党委"]
    top = table_two_top(ws)
    header = top + 3
    starts = sorted(r.min_col for r in ws.merged_cells.ranges if r.min_row == header)
    assert [ws.cell(header, c).value for c in starts] == ["项目", "内容", "分值", "自查分", "备注"]
    org = [ws.cell(header + 3, c).value for c in starts]
    assert org == ["三、组织建设", "共 5 项（细则见评价标准）", 180, 170.5, "记录不全"]
    total = [ws.cell(header + 8, c).value for c in starts]
    assert total[:3] == ["合计总评", None, 1000] and total[3].startswith("=IF(COUNT(")


def test_total_of_a_unit_that_entered_nothing_is_blank_not_zero(book):
    ws = book["U02 市教育局机关党委"]
    header = table_two_top(ws) + 3
    starts = sorted(r.min_col for r in ws.merged_cells.ranges if r.min_row == header)
    col = ws.cell(header, starts[3]).column_letter
    assert (
        ws.cell(header + 8, starts[3]).value
        == f'=IF(COUNT({col}{header + 1}:{col}{header + 7})=0,"",SUM({col}{header + 1}:{col}{header + 7}))'
    )


def test_signature_line_names_the_units_clerks(book):
    ws = book["U01 市财政局机关党委"]
    values = [ws.cell(ws.max_row, c).value for c in range(1, ws.max_column + 1)]
    assert "填报单位（盖章）：" in values and "填表人：马军、王芳" in values


def test_unit_sheet_prints_on_a4_landscape_one_page_wide_with_table_two_on_its_own_page(book):
    ws = book["U01 市财政局机关党委"]
    setup = ws.page_setup
    assert (setup.paperSize, setup.orientation, setup.fitToWidth, setup.fitToHeight) == (9, "landscape", 1, 0)
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_area == f"'{ws.title}'!$A$1:$S${ws.max_row}"
    assert [b.id for b in ws.row_breaks.brk] == [table_two_top(ws) - 2]


def test_results_sheet_shows_parts_and_reasons(chat, services):
    from tests.test_scoring_chat import routine

    chat("wangfang").script(ALL_SCORES, "确认")
    routine(services, "U01", "90")
    chat("hezhiyuan").script("复核 U01 组织建设 150 记录不全", "评定 U01 较好 通报批评")
    ws = openpyxl.load_workbook(io.BytesIO(export_tables(services.db, "xlsx")))["考核结果"]
    row = [ws.cell(4, c).value for c in range(1, 13)]
    assert row[:11] == ["U01", "市财政局机关党委", "第一联络组", 955.5, 935.5, 93.55, 90, 0, 92.49, "好", "较好"]
    assert row[11] == "复核 组织建设 170→150：记录不全；评定为较好：通报批评"
    assert ws.cell(5, 12).value == "尚缺：表二未填完、无平时成绩"


def test_results_sheet_says_when_no_vote_has_closed(book):
    ws = book["考核结果"]
    assert ws.cell(ws.max_row, 1).value == "尚无已结束的民主推荐投票"
