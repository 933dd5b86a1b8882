"""benchmarks/turn_instructions.py: what runs under callgrind really answers turns, and its totals are read right."""

import argparse
import json

import pytest
from sqlalchemy import func, select

from benchmarks.callbacks import prepare
from benchmarks.turn_instructions import _Copies, child, totals
from storage.db import Database
from storage.models import ProcessedMessage


def test_the_totals_line_of_a_callgrind_file_is_read_in_either_spelling(tmp_path):
    summary, old = tmp_path / "a", tmp_path / "b"
    summary.write_text("# callgrind format\nversion: 1\nevents: Ir\nsummary: 6083123730\nfl=x\n")
    old.write_text("events: Ir\nfn=main\n1 5\ntotals: 42\n")
    assert totals(summary) == 6083123730 and totals(old) == 42


def test_a_file_without_totals_is_refused_rather_than_read_as_none(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"\xff\xfe not a callgrind file\nsummary:\n")
    with pytest.raises(ValueError, match="no summary or totals"):
        totals(junk)


def test_the_measured_process_warms_up_on_every_clerks_form_then_answers_the_turns_asked(tmp_path):
    url = f"sqlite:///{tmp_path}/bench.db"
    clerks = prepare(url, argparse.Namespace(units=3, clerks_per_unit=2))
    (tmp_path / "clerks.json").write_text(json.dumps([(c.userid, c.questions) for c in clerks]))
    warm = sum(c.questions + 1 for c in clerks)
    copies = _Copies(url, tmp_path)

    def answered(copy: str) -> int:
        db = Database(copy)
        with db.read() as session:
            count = session.execute(select(func.count()).select_from(ProcessedMessage)).scalar_one()
        db.dispose()
        return count

    baseline, measured = copies.fresh("run0"), copies.fresh("run7")
    child(baseline, str(tmp_path / "clerks.json"), 0, 4)
    child(measured, str(tmp_path / "clerks.json"), 7, 4)
    assert (answered(url), answered(baseline), answered(measured)) == (0, warm, warm + 7)
