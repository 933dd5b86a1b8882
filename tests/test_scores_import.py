import json

import openpyxl
import pytest
from sqlmodel import select

from bot.operations import import_routine_file
from handlers.roster_import import ImportFileError
from storage.models import AuditEntry, RoutineScore


def scores(services) -> dict:
    with services.db.read() as session:
        return {r.unit_code: r.score for r in session.exec(select(RoutineScore))}


def write_csv(tmp_path, text: str, encoding="utf-8"):
    path = tmp_path / "routine.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_utf8_csv_sets_each_units_routine_score(services, tmp_path):
    report = import_routine_file(services.db, write_csv(tmp_path, "单位编码,平时成绩\nU01,90\nu02,85.5\n"))
    assert scores(services) == {"U01": 90, "U02": 85.5} and report.refused == []


def test_gbk_csv_from_excel_is_read(services, tmp_path):
    import_routine_file(services.db, write_csv(tmp_path, "单位编码,平时成绩\nU03,77\n", "gbk"))
    assert scores(services) == {"U03": 77}


def test_xlsx_is_read(services, tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["单位编码", "平时成绩"])
    wb.active.append(["U04", 88])
    wb.save(tmp_path / "r.xlsx")
    import_routine_file(services.db, tmp_path / "r.xlsx")
    assert scores(services) == {"U04": 88}


def test_importing_the_same_file_again_changes_nothing(services, tmp_path):
    path = write_csv(tmp_path, "单位编码,平时成绩\nU01,90\n")
    import_routine_file(services.db, path)
    report = import_routine_file(services.db, path)
    with services.db.read() as session:
        audits = session.exec(select(AuditEntry).where(AuditEntry.entity == "routine")).all()
    assert report.unchanged == ["U01"] and len(audits) == 1


def test_one_refused_row_writes_nothing_and_every_bad_row_is_named(services, tmp_path):
    text = "单位编码,平时成绩\nU01,90\nU99,80\nU02,abc\nU03,101\nU01,70\nU04,\nU05,-1\n"
    report = import_routine_file(services.db, write_csv(tmp_path, text))
    assert report.refused == [
        (3, "没有编码为「U99」的单位"),
        (4, "U02 的平时成绩「abc」不是数字"),
        (5, "U03 的平时成绩应不小于 0、不大于 100，不能是 101"),
        (6, "单位编码 U01 重复"),
        (7, "U04 缺少平时成绩"),
        (8, "U05 的平时成绩应不小于 0、不大于 100，不能是 -1"),
    ]
    assert scores(services) == {}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "文件是空的"),
        (b"PK\x03\x04garbage", "不是有效的 XLSX"),
        ("单位编码,分数\nU01,90\n".encode(), "缺少「平时成绩」列"),
        (b"\xff\xfe\x00\x81\x82\x83", "无法识别的文字编码"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(services, tmp_path, content, reason):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=reason):
        import_routine_file(services.db, path)


def test_nan_and_infinity_are_not_scores(services, tmp_path):
    report = import_routine_file(services.db, write_csv(tmp_path, "单位编码,平时成绩\nU01,nan\nU02,inf\n"))
    assert [row for row, _ in report.refused] == [2, 3] and scores(services) == {}


@pytest.fixture
def cli_ready(kaohe, tmp_path):
    from bot.demo import SAMPLE_ROSTER
    from storage.campaign import DEFAULT_CAMPAIGN

    for args in (("db", "upgrade"), ("campaign", "load", DEFAULT_CAMPAIGN),
                 ("roster", "import", SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")):  # fmt: skip
        assert kaohe(*args).returncode == 0
    return kaohe


def test_cli_imports_scores_and_prints_results(cli_ready, tmp_path):
    (tmp_path / "ok.csv").write_text("单位编码,平时成绩\nU01,90\n", encoding="utf-8")
    done = cli_ready("scores", "import", "ok.csv")
    assert done.returncode == 0 and "新增 1" in done.stdout
    records = json.loads(cli_ready("results", "--format", "json").stdout)
    first = records[0]
    assert (first["code"], first["routine"], first["final"], first["missing"]) == ("U01", 90, None, ["表二未填完"])
    csv_out = cli_ready("results", "--format", "csv").stdout
    assert csv_out.splitlines()[0].lstrip("\ufeff").startswith("单位编码,单位名称,联络组,表二自查分")


def test_cli_refused_rows_exit_non_zero_with_row_numbers(cli_ready, tmp_path):
    (tmp_path / "bad.csv").write_text("单位编码,平时成绩\nU01,90\nU77,1\n", encoding="utf-8")
    done = cli_ready("scores", "import", "bad.csv")
    assert (
        done.returncode == 1 and "第 3 行：没有编码为「U77」的单位" in done.stdout and "未导入任何成绩" in done.stderr
    )


def test_cli_unreadable_file_is_one_line_not_a_traceback(cli_ready):
    done = cli_ready("scores", "import", "missing.csv")
    assert done.returncode == 2 and done.stderr.startswith("kaohe：导入失败：") and "Traceback" not in done.stderr
