import csv
import io
import zipfile

import openpyxl
import pytest

from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files
from handlers.roster_import import ImportFileError
from storage import roster
from storage.db import Database

UNITS = SAMPLE_ROSTER / "units.csv"
PEOPLE = SAMPLE_ROSTER / "people.csv"
UNIT_HEADER = ["单位编码", "单位名称", "组织类型", "联络组"]
PEOPLE_HEADER = ["企业微信账号", "姓名", "角色", "单位编码", "联络组"]


@pytest.fixture
def db(sqlite_url):
    database = Database(sqlite_url)
    yield database
    database.dispose()


def snapshot(db: Database) -> tuple:
    with db.read() as session:
        groups = {g.id: g.name for g in roster.groups(session=session)}
        units = sorted((u.code, u.name, u.org_type, groups[u.group_id]) for u in roster.units(session=session))
        people = sorted(
            (p.userid, p.name, p.role, p.unit_code, groups.get(p.group_id)) for p in roster.people(session=session)
        )
    return sorted(groups.values()), units, people


def write_csv(path, header, rows, encoding="utf-8"):
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def write_xlsx(path, rows):
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def csv_rows(path):
    return list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))


def test_sample_roster_imports_twelve_units_and_seventeen_people(db):
    units, people = import_roster_files(db, UNITS, PEOPLE)
    assert (len(units.added), len(people.added)) == (12, 17)
    assert units.refused == [] and people.refused == []
    groups, unit_rows, person_rows = snapshot(db)
    assert groups == ["第一联络组", "第三联络组", "第二联络组"]
    assert ("U01", "市财政局机关党委", "党委", "第一联络组") in unit_rows
    assert ("wangfang", "王芳", "clerk", "U01", None) in person_rows
    assert ("hulin", "胡林", "liaison", None, "第一联络组") in person_rows
    assert ("hezhiyuan", "何志远", "admin", None, None) in person_rows


def test_importing_twice_adds_nothing_and_reports_everything_unchanged(db):
    import_roster_files(db, UNITS, PEOPLE)
    before = snapshot(db)
    units, people = import_roster_files(db, UNITS, PEOPLE)
    assert (units.added, units.updated, people.added, people.updated) == ([], [], [], [])
    assert (len(units.unchanged), len(people.unchanged)) == (12, 17)
    assert snapshot(db) == before


def test_changed_name_is_reported_updated(db, tmp_path):
    import_roster_files(db, UNITS, PEOPLE)
    rows = csv_rows(PEOPLE)
    rows[1][1] = "王芳芳"
    people = import_roster_files(db, UNITS, write_csv(tmp_path / "people.csv", rows[0], rows[1:]))[1]
    assert people.updated == ["wangfang"] and len(people.unchanged) == 16
    assert ("wangfang", "王芳芳", "clerk", "U01", None) in snapshot(db)[2]


def test_refused_unit_rows_carry_their_spreadsheet_row_numbers(db, tmp_path):
    units = write_csv(
        tmp_path / "units.csv",
        UNIT_HEADER,
        [
            ["U01", "市财政局机关党委", "党委", "第一联络组"],
            ["U02", "市教育局机关党委", "机关", "第一联络组"],
            [],
            ["U01", "市财政局机关党委", "党委", "第一联络组"],
        ],
    )
    people = write_csv(tmp_path / "people.csv", PEOPLE_HEADER, [])
    report = import_roster_files(db, units, people)[0]
    assert report.added == ["U01"]
    assert [row for row, _ in report.refused] == [3, 5]
    assert "组织类型「机关」不认识" in report.refused[0][1]
    assert "U01 重复" in report.refused[1][1]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["zhangsan", "张三", "填报员", "U99", ""], "单位编码 U99 不存在"),
        (["zhangsan", "张三", "书记", "U01", ""], "角色「书记」不认识"),
        (["wangfang", "王芳", "填报员", "U01", ""], "企业微信账号 wangfang 重复"),
        (["zhangsan", "张三", "填报员", "", ""], "填报员 张三 缺少单位编码"),
        (["zhangsan", "张三", "联络员", "", "第九联络组"], "联络员 张三 的联络组「第九联络组」不存在"),
        (["zhang san", "张三", "填报员", "U01", ""], "企业微信账号「zhang san」无效"),
    ],
)
def test_refused_person_row_carries_its_row_number_and_reason(db, tmp_path, row, reason):
    people = write_csv(tmp_path / "people.csv", PEOPLE_HEADER, [["wangfang", "王芳", "填报员", "U01", ""], row])
    report = import_roster_files(db, UNITS, people)[1]
    assert report.added == ["wangfang"]
    assert len(report.refused) == 1
    assert report.refused[0][0] == 3 and reason in report.refused[0][1]
    assert f"  第 3 行：{report.refused[0][1]}" in report.lines()


def test_xlsx_with_the_same_chinese_headers_imports_the_same(db, tmp_path, migrated_sqlite):
    units = write_xlsx(tmp_path / "units.xlsx", csv_rows(UNITS))
    people = write_xlsx(tmp_path / "people.xlsx", csv_rows(PEOPLE))
    reports = import_roster_files(db, units, people)
    assert [len(r.added) for r in reports] == [12, 17]
    (tmp_path / "reference.db").write_bytes(migrated_sqlite.read_bytes())
    reference = Database(f"sqlite:///{tmp_path / 'reference.db'}")
    import_roster_files(reference, UNITS, PEOPLE)
    assert snapshot(db) == snapshot(reference)
    reference.dispose()


def test_gbk_encoded_csv_from_excel_imports(db, tmp_path):
    rows = csv_rows(PEOPLE)
    people = write_csv(tmp_path / "people-gbk.csv", rows[0], rows[1:], encoding="gbk")
    units_rows = csv_rows(UNITS)
    units = write_csv(tmp_path / "units-gbk.csv", units_rows[0], units_rows[1:], encoding="gbk")
    reports = import_roster_files(db, units, people)
    assert [len(r.added) for r in reports] == [12, 17]
    assert ("wangfang", "王芳", "clerk", "U01", None) in snapshot(db)[2]


def broken_sheet_xml(path):
    good = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(PEOPLE_HEADER)
    book.save(good)
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            target.writestr(name, b"<worksheet><sheetData><row><c" if "worksheets/" in name else source.read(name))
    return path


JUNK = {
    "binary": lambda p: p.write_bytes(bytes(range(256)) * 8),
    "empty": lambda p: p.write_bytes(b""),
    "no_userid_column": lambda p: p.write_text("姓名,角色,单位编码\n王芳,填报员,U01\n", encoding="utf-8"),
    "broken_zip": lambda p: p.write_bytes(b"PK\x03\x04" + b"not really a workbook" * 20),
    "zip_without_workbook": lambda p: zipfile.ZipFile(p, "w").close(),
    "broken_sheet_xml": broken_sheet_xml,
}


@pytest.mark.parametrize("junk", sorted(JUNK))
def test_junk_people_file_is_refused_in_chinese_and_nothing_is_written(db, tmp_path, junk):
    import_roster_files(db, UNITS, PEOPLE)
    before = snapshot(db)
    changed_units = write_csv(tmp_path / "units.csv", UNIT_HEADER, [["U13", "市新单位机关支部", "支部", "第四联络组"]])
    path = tmp_path / "people.xlsx"
    JUNK[junk](path)
    with pytest.raises(ImportFileError) as refused:
        import_roster_files(db, changed_units, path)
    assert str(path) in str(refused.value)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(refused.value))
    assert snapshot(db) == before


def test_missing_file_is_refused_in_chinese(db, tmp_path):
    with pytest.raises(ImportFileError, match="无法读取"):
        import_roster_files(db, tmp_path / "nowhere.csv", PEOPLE)
    assert snapshot(db) == ([], [], [])


def test_cli_prints_the_report_with_row_numbers(kaohe, tmp_path):
    assert kaohe("db", "upgrade").returncode == 0
    people = write_csv(
        tmp_path / "people.csv", PEOPLE_HEADER, csv_rows(PEOPLE)[1:] + [["x1", "某人", "书记", "U01", ""]]
    )
    result = kaohe("roster", "import", UNITS, people)
    assert result.returncode == 0, result.stderr
    assert "单位：新增 12，更新 0，未变 0，拒绝 0" in result.stdout
    assert "人员：新增 17，更新 0，未变 0，拒绝 1" in result.stdout
    assert "第 19 行：角色「书记」不认识" in result.stdout


def test_cli_refuses_a_junk_file_with_a_chinese_line(kaohe, tmp_path):
    assert kaohe("db", "upgrade").returncode == 0
    junk = tmp_path / "people.csv"
    junk.write_bytes(bytes(range(256)))
    result = kaohe("roster", "import", UNITS, junk)
    assert result.returncode != 0
    assert result.stderr.startswith("kaohe：导入失败：") and "Traceback" not in result.stderr
