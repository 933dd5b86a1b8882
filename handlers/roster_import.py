"""Roster import from the administrator's spreadsheets (CSV or XLSX, Chinese headers): add, update, refuse by row."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from storage import roster
from storage.models import Person, Unit, utcnow

if TYPE_CHECKING:
    from sqlmodel import Session

UNIT_COLUMNS = {
    "code": ("单位编码", "编码", "code"),
    "name": ("单位名称", "名称", "name"),
    "org_type": ("组织类型", "类型", "org_type"),
    "group": ("联络组", "group"),
}
PEOPLE_COLUMNS = {
    "userid": ("企业微信账号", "账号", "userid"),
    "name": ("姓名", "name"),
    "role": ("角色", "role"),
    "unit": ("单位编码", "unit"),
    "group": ("联络组", "group"),
}
ROLE_WORDS = {
    "填报员": "clerk",
    "党务干部": "clerk",
    "clerk": "clerk",
    "联络员": "liaison",
    "liaison": "liaison",
    "工委管理员": "admin",
    "管理员": "admin",
    "admin": "admin",
}
DEFAULT_ORG_TYPES = ("党委", "总支", "支部")
_USERID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class ImportFileError(ValueError):
    """The whole file cannot be read: not CSV/XLSX, wrong encoding, or a required column is missing."""


@dataclass
class ImportReport:
    what: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (spreadsheet row number, reason)
    deactivated: list[str] = field(default_factory=list)  # people: on the roster before, missing from this file
    reactivated: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"{self.what}：新增 {len(self.added)}，更新 {len(self.updated)}，未变 {len(self.unchanged)}，"
            f"拒绝 {len(self.refused)}"
            + (f"，停用 {len(self.deactivated)}，恢复 {len(self.reactivated)}" if self.what == "人员" else "")
        ]
        out += [f"  第 {row} 行：{reason}" for row, reason in self.refused]
        if self.deactivated:
            out.append(f"  停用（新名单中没有，不再能使用、不再收到提醒，已填内容保留）：{'、'.join(self.deactivated)}")
        if self.reactivated:
            out.append(f"  恢复（重新出现在名单中）：{'、'.join(self.reactivated)}")
        return out


def read_table(path: str | Path, columns: dict[str, tuple[str, ...]]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV or XLSX file as (row number, {column: text}); header on row 1."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: 无法读取（{exc.strerror}）") from None
    rows = _xlsx_rows(raw, path) if raw[:2] == b"PK" else _csv_rows(raw, path)
    if not rows:
        raise ImportFileError(f"{path}: 文件是空的")
    header = [str(h or "").strip().lstrip("\ufeff") for h in rows[0]]
    index = {}
    for key, names in columns.items():
        found = next((header.index(n) for n in names if n in header), None)
        if found is None and key in ("code", "name", "userid", "role"):
            raise ImportFileError(
                f"{path}: 缺少「{names[0]}」列（表头应为：{'、'.join(n[0] for n in columns.values())}）"
            )
        index[key] = found
    return [
        (n, {k: _cell(row, i) for k, i in index.items()})
        for n, row in enumerate(rows[1:], start=2)
        if any(str(c or "").strip() for c in row)
    ]


def _cell(row, i) -> str:
    return "" if i is None or i >= len(row) or row[i] is None else str(row[i]).strip()


def _csv_rows(raw: bytes, path: Path) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            return list(csv.reader(io.StringIO(raw.decode(encoding))))
        except UnicodeDecodeError:
            continue
        except csv.Error as exc:
            raise ImportFileError(f"{path}: 不是有效的 CSV（{exc}）") from None
    raise ImportFileError(f"{path}: 无法识别的文字编码，请另存为 UTF-8 的 CSV 或 XLSX")


def _xlsx_rows(raw: bytes, path: Path) -> list[list]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(raw), read_only=True, data_only=True).worksheets[0]
        return [list(r) for r in sheet.iter_rows(values_only=True)]
    # SyntaxError: a zip whose sheet XML is broken (ElementTree's ParseError, lxml's XMLSyntaxError).
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError, SyntaxError) as exc:
        raise ImportFileError(f"{path}: 不是有效的 XLSX 文件（{exc.__class__.__name__}）") from None


def import_units(*, session: Session, rows, org_types=DEFAULT_ORG_TYPES) -> ImportReport:
    report, seen = ImportReport("单位"), set()
    for n, r in rows:
        why = _unit_problem(r, seen, org_types)
        if why:
            report.refused.append((n, why))
            continue
        seen.add(r["code"])
        group, _ = roster.ensure_group(session=session, name=r["group"])
        _upsert(
            session,
            report,
            roster.unit(session=session, code=r["code"]),
            r["code"],
            Unit(code=r["code"], name=r["name"], org_type=r["org_type"], group_id=group.id),
        )
    return report


def _unit_problem(r: dict, seen: set, org_types) -> str | None:
    if not r["code"]:
        return "缺少单位编码"
    if r["code"] in seen:
        return f"单位编码 {r['code']} 重复"
    if not r["name"]:
        return f"单位 {r['code']} 缺少名称"
    if r["org_type"] not in org_types:
        return f"组织类型「{r['org_type']}」不认识，应为 {'/'.join(org_types)}"
    if not r.get("group"):
        return f"单位 {r['code']} 缺少联络组"
    return None


def import_people(*, session: Session, rows) -> ImportReport:
    report, seen = ImportReport("人员"), set()
    for n, r in rows:
        why = _person_problem(session, r, seen)
        if why:
            report.refused.append((n, why))
            continue
        seen.add(r["userid"])
        role = ROLE_WORDS[r["role"]]
        group = roster.group_by_name(session=session, name=r["group"]) if role == "liaison" else None
        person = Person(
            userid=r["userid"],
            name=r["name"],
            role=role,
            unit_code=r["unit"] if role == "clerk" else None,
            group_id=group.id if group else None,
        )
        existing = roster.person(session=session, userid=r["userid"])
        if existing is not None and not existing.active:
            report.reactivated.append(f"{r['name']}（{r['userid']}）")
        _upsert(session, report, existing, r["userid"], person)
    _deactivate_missing(session, report, listed={r["userid"] for _, r in rows})
    return report


def _deactivate_missing(session: Session, report: ImportReport, listed: set[str]) -> None:
    """People on the roster but not in this file are deactivated, never deleted (their entries and the audit
    trail keep their name). A file whose every row was refused deactivates nobody: it is a broken file, not
    an empty roster. A refused row still counts as listed: fix the row, nobody loses access meanwhile."""
    if not (report.added or report.updated or report.unchanged):
        return
    for person in roster.deactivate_missing(session=session, keep=listed, now=utcnow()):
        report.deactivated.append(f"{person.name}（{person.userid}）")


def _person_problem(session: Session, r: dict, seen: set) -> str | None:
    if not _USERID.fullmatch(r["userid"]):
        return f"企业微信账号「{r['userid']}」无效" if r["userid"] else "缺少企业微信账号"
    if r["userid"] in seen:
        return f"企业微信账号 {r['userid']} 重复"
    if not r["name"]:
        return f"{r['userid']} 缺少姓名"
    role = ROLE_WORDS.get(r["role"])
    if role is None:
        return f"角色「{r['role']}」不认识，应为 填报员/联络员/工委管理员"
    if role == "clerk" and not r.get("unit"):
        return f"填报员 {r['name']} 缺少单位编码"
    if role == "clerk" and not roster.unit(session=session, code=r["unit"]):
        return f"单位编码 {r['unit']} 不存在"
    if role == "liaison" and not (r.get("group") and roster.group_by_name(session=session, name=r["group"])):
        return f"联络员 {r['name']} 的联络组「{r.get('group') or ''}」不存在"
    return None


def _upsert(session: Session, report: ImportReport, existing, label: str, fresh) -> None:
    if existing is None:
        session.add(fresh)
        report.added.append(label)
        return
    changed = False
    for name in type(fresh).model_fields:
        if getattr(existing, name) != getattr(fresh, name):
            setattr(existing, name, getattr(fresh, name))
            changed = True
    (report.updated if changed else report.unchanged).append(label)
    session.add(existing)


def import_roster(*, session: Session, units_path, people_path, org_types=DEFAULT_ORG_TYPES) -> list[ImportReport]:
    """Read both files first (a broken file changes nothing), then apply them in the caller's transaction."""
    unit_rows = read_table(units_path, UNIT_COLUMNS)
    people_rows = read_table(people_path, PEOPLE_COLUMNS)
    units = import_units(session=session, rows=unit_rows, org_types=org_types)
    session.flush()
    return [units, import_people(session=session, rows=people_rows)]
