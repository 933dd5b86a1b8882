import csv
import io
import json

import pytest

from handlers.export import ExportError, export_tables
from tests.test_clerk_submit import fill_everything


def test_json_export_shows_exactly_what_was_entered(chat, services):
    c = chat("wangfang")
    c.script("党委会6次 其中1次扩大会议，政治学习20", "确认", "组织建设 170.5 记录不全", "确认")
    units = json.loads(export_tables(services.db, "json"))
    assert len(units) == 12
    u01 = next(u for u in units if u["code"] == "U01")
    contract = {"code", "name", "org_type", "group", "activities", "scores", "submitted", "submitted_at"}
    assert set(u01) == contract | {"recommendations"}  # a field added for votes beside the contract's
    assert u01["recommendations"] == []
    assert u01["activities"]["dangweihui"] == {"count": 6, "target": 6, "note": "其中1次扩大会议"}
    assert u01["activities"]["zhengzhi_xuexi"] == {"count": 20, "target": 24, "note": None}
    assert u01["activities"]["zhuyao_lingdao_shang_dangke"] == {"count": None, "target": None, "note": None}
    assert "zhiweihui" not in u01["activities"]
    assert u01["scores"]["organisation"] == {"points": 170.5, "max": 180, "note": "记录不全"}
    assert (u01["submitted"], u01["submitted_at"]) == (False, None)


def test_json_export_marks_a_submitted_unit_with_its_time(chat, services):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    u01 = next(u for u in json.loads(export_tables(services.db, "json")) if u["code"] == "U01")
    assert u01["submitted"] is True and u01["submitted_at"].startswith("2013-12-12T02:00")


def test_csv_export_has_one_row_per_unit_and_item_and_opens_in_excel(chat, services):
    chat("wangfang").script("党委会6次", "确认")
    data = export_tables(services.db, "csv")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 12 * 7 + 12 * 14
    row = next(r for r in rows if r["code"] == "U01" and r["key"] == "dangweihui")
    assert (row["value"], row["target_or_max"], row["item"]) == ("6", "6", "党委会")


def test_unknown_format_is_refused(services):
    with pytest.raises(ExportError, match="--format"):
        export_tables(services.db, "pdf")
