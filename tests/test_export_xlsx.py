import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from handlers.export import export_tables
from handlers.export_xlsx import workbook_bytes
from handlers.progress import Line, UnitProgress
from handlers.tables import questions
from storage.campaign import DEFAULT_CAMPAIGN, load_campaign
from storage.models import Unit
from tests.test_clerk_submit import fill_everything

KAOHE = Path(sys.executable).parent / "kaohe"
GREY = "00D9D9D9"


@pytest.fixture
def filled(chat, services):
    chat("wangfang").script("党委会6次 其中1次扩大会议，政治学习20 集中学习", "确认", "组织建设 170.5 记录不全", "确认")
    chat("liujing").script("支委会8次", "确认")
    return services


def workbook(services) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(export_tables(services.db, "xlsx")))


def unit_row(ws, code: str) -> int:
    return next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == code)


def item_column(ws, name: str, label: str) -> int:
    current = None
    for c in range(1, ws.max_column + 1):
        current = ws.cell(4, c).value or ws.cell(3, c).value or current
        if current == name and ws.cell(5, c).value == label:
            return c
    raise AssertionError(f"no column {name}/{label}")


def score_column(ws, name: str) -> int:
    return next(c for c in range(1, ws.max_column + 1) if str(ws.cell(2, c).value).startswith(name))


def data_codes(ws, first: int) -> list[str]:
    return [ws.cell(r, 1).value for r in range(first, ws.max_row + 1) if str(ws.cell(r, 1).value).startswith("U")]


def test_workbook_opens_with_the_two_attachments_the_results_and_the_instructions(filled):
    assert workbook(filled).sheetnames[:4] == ["附件1 统计表", "附件2 自查表", "考核结果", "填报说明"]


def test_statistics_sheet_shows_the_count_done_next_to_the_units_target_as_numbers(filled):
    ws = workbook(filled)["附件1 统计表"]
    r = unit_row(ws, "U01")
    assert ws.cell(r, item_column(ws, "党委会", "完成情况")).value == 6
    assert ws.cell(r, item_column(ws, "党委会", "年度目标")).value == 6


def test_party_congress_target_follows_the_units_org_type(filled):
    ws = workbook(filled)["附件1 统计表"]
    c = item_column(ws, "党员大会", "年度目标")
    assert [ws.cell(unit_row(ws, code), c).value for code in ("U01", "U03", "U04")] == [1, 2, 4]


def test_activity_of_another_org_type_is_blank_and_grey(filled):
    ws = workbook(filled)["附件1 统计表"]
    r = unit_row(ws, "U04")
    cells = [ws.cell(r, item_column(ws, "党委会", label)) for label in ("完成情况", "年度目标")]
    assert [(cell.value, cell.fill.fgColor.rgb) for cell in cells] == [(None, GREY), (None, GREY)]


def test_item_not_entered_is_blank_not_zero(filled):
    ws = workbook(filled)["附件1 统计表"]
    assert ws.cell(unit_row(ws, "U01"), item_column(ws, "党小组会", "完成情况")).value is None


def test_header_says_which_org_type_a_meeting_applies_to(filled):
    ws = workbook(filled)["附件1 统计表"]
    header = ws.cell(3, item_column(ws, "党委会", "完成情况"))
    assert "只适用于党委单位" in header.comment.text


def test_party_lecture_columns_sit_under_one_merged_header(filled):
    ws = workbook(filled)["附件1 统计表"]
    lecture = next(rng for rng in ws.merged_cells.ranges if ws.cell(rng.min_row, rng.min_col).value == "党课")
    first = item_column(ws, "领导上党课", "完成情况")
    last = item_column(ws, "其中主要领导上党课", "完成情况")
    assert (lecture.min_row, lecture.max_row, lecture.min_col, lecture.max_col) == (3, 3, first, last)


def test_activity_notes_are_joined_in_the_remarks_column(filled):
    ws = workbook(filled)["附件1 统计表"]
    assert ws.cell(unit_row(ws, "U01"), ws.max_column).value == "党委会：其中1次扩大会议；政治学习：集中学习"


def test_each_sheet_has_one_row_per_unit_sorted_by_group_then_code(filled):
    wb = workbook(filled)
    expected = [f"U{i:02d}" for i in range(1, 13)]
    assert data_codes(wb["附件1 统计表"], 6) == expected and data_codes(wb["附件2 自查表"], 3) == expected


def test_self_score_keeps_half_points(filled):
    ws = workbook(filled)["附件2 自查表"]
    assert ws.cell(unit_row(ws, "U01"), score_column(ws, "三、组织建设")).value == 170.5


def test_category_header_gives_full_marks_and_subitems(filled):
    ws = workbook(filled)["附件2 自查表"]
    assert ws.cell(2, score_column(ws, "三、组织建设")).value == "三、组织建设（满分 180 分，5 项）"


def test_total_is_a_sum_formula_over_the_units_category_cells(filled):
    ws = workbook(filled)["附件2 自查表"]
    r = unit_row(ws, "U01")
    first = ws.cell(2, score_column(ws, "一、")).column_letter
    last = ws.cell(2, score_column(ws, "七、")).column_letter
    assert ws.cell(r, score_column(ws, "合计（1000）")).value == f"=SUM({first}{r}:{last}{r})"


def test_full_marks_row_closes_the_self_check_table(filled):
    ws = workbook(filled)["附件2 自查表"]
    row = [ws.cell(ws.max_row, c).value for c in range(1, score_column(ws, "合计") + 1)]
    assert row == ["满分", None, None, None, 120, 150, 180, 150, 100, 100, 200, "=SUM(E15:K15)"]


def test_score_notes_are_joined_without_the_ordinal(filled):
    ws = workbook(filled)["附件2 自查表"]
    assert ws.cell(unit_row(ws, "U01"), score_column(ws, "备注")).value == "组织建设：记录不全"


def test_submitted_unit_shows_yes_and_local_submission_time(chat, services):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    ws = workbook(services)["附件2 自查表"]
    r = unit_row(ws, "U01")
    submitted = ws.cell(r, score_column(ws, "已提交")).value, ws.cell(r, score_column(ws, "提交时间")).value
    assert submitted == ("是", datetime(2013, 12, 12, 10, 0))


def readme_values(now=None) -> list:
    data = workbook_bytes(load_campaign(DEFAULT_CAMPAIGN), [], now=now)
    return [v for row in openpyxl.load_workbook(io.BytesIO(data))["填报说明"].values for v in row if v]


def test_instructions_give_the_export_time_in_the_campaigns_timezone():
    assert "2013-12-20 09:30（Asia/Shanghai）" in readme_values(datetime(2013, 12, 20, 1, 30, tzinfo=UTC))


def test_instructions_name_the_campaign_and_its_document_number():
    assert "2013年市直机关党建目标绩效考核（洛市直发〔2013〕20号）" in readme_values()


def test_instructions_count_the_submitted_units(chat, services):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    values = [v for row in workbook(services)["填报说明"].values for v in row if v]
    assert "共 12 个，已提交自查 1 个，未提交 11 个" in values


def test_user_text_starting_with_equals_is_never_a_formula():
    campaign = load_campaign(DEFAULT_CAMPAIGN)
    unit = Unit(code="U99", name='=HYPERLINK("http://x")', org_type="支部", group_id=1)
    acts = [Line(q, None, None) for q in questions(campaign, "activity", "支部")]
    row = UnitProgress(unit=unit, group_name="第一联络组", activities=acts, scores=[])
    ws = openpyxl.load_workbook(io.BytesIO(workbook_bytes(campaign, [row])))["附件1 统计表"]
    assert ws.cell(6, 2).data_type == "s"


@pytest.fixture
def demo_env(tmp_path):
    env = {**os.environ, "KAOHE_DATABASE_URL": f"sqlite:///{tmp_path / 'kaohe.db'}"}
    subprocess.run(
        [KAOHE, "demo", "--campaign-out", tmp_path / "demo.toml"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    return env


def test_cli_writes_an_xlsx_file_openpyxl_reads(demo_env, tmp_path):
    done = subprocess.run(
        [KAOHE, "export", "--format", "xlsx", "-o", "out.xlsx"],
        env=demo_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "已写入：out.xlsx"
    assert openpyxl.load_workbook(tmp_path / "out.xlsx").sheetnames[:2] == ["附件1 统计表", "附件2 自查表"]


def test_cli_refuses_xlsx_to_the_terminal_with_a_clear_message(demo_env, tmp_path):
    done = subprocess.run(
        [KAOHE, "export", "--format", "xlsx"], env=demo_env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode != 0 and "-o FILE" in done.stderr and done.stdout == ""
