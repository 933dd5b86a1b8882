import csv

import pytest
from sqlmodel import select

from bot.operations import import_roster_files
from schedules.audience import select_audience
from storage import campaigns
from storage.models import ActivityEntry, Person
from tests.conftest import SAMPLE_ROSTER
from tests.transcript import Chat


@pytest.fixture
def without(tmp_path):
    """The sample people file without the given userids."""

    def write(*userids: str):
        rows = list(csv.reader((SAMPLE_ROSTER / "people.csv").open(encoding="utf-8")))
        path = tmp_path / "people.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerows(r for r in rows if r[0] not in userids)
        return path

    return write


def reimport(services, people):
    return import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", people)[1]


def person(services, userid) -> Person:
    with services.db.read() as session:
        return session.get(Person, userid)


def test_a_person_missing_from_a_new_import_is_deactivated_not_deleted_and_the_report_says_so(services, without):
    Chat(services, "majun").script("填报", "5")
    report = reimport(services, without("majun"))
    assert report.deactivated == ["马军（majun）"]
    assert any("停用" in line and "马军（majun）" in line for line in report.lines())
    gone = person(services, "majun")
    assert gone is not None and not gone.active and gone.deactivated_at is not None
    with services.db.read() as session:
        kept = session.exec(select(ActivityEntry).where(ActivityEntry.updated_by == "majun")).all()
    assert [(e.unit_code, e.count) for e in kept] == [("U01", 5)]


def test_a_deactivated_person_is_told_politely_and_can_change_nothing(services, without):
    reimport(services, without("majun"))
    answer = Chat(services, "majun").say("填报")
    assert "名单中已没有您" in answer and "已保留" in answer
    assert "党委会" not in answer


def test_a_deactivated_clerk_gets_no_reminders(services, without):
    reimport(services, without("majun"))
    with services.db.read() as session:
        campaign = campaigns.active_campaign(session=session)
        reminder = next(r for r in campaign.reminders if r.audience == "clerks_not_submitted")
        letters = select_audience(session, campaign, reminder, services.clock.now())
    reached = {u for letter in letters for u in letter.userids}
    assert "wangfang" in reached and "majun" not in reached


def test_re_adding_a_person_reactivates_them(services, without):
    reimport(services, without("majun"))
    report = reimport(services, SAMPLE_ROSTER / "people.csv")
    assert report.reactivated == ["马军（majun）"] and report.deactivated == []
    assert person(services, "majun").active and person(services, "majun").deactivated_at is None
    assert "党委会" in Chat(services, "majun").say("填报")


def test_a_file_whose_every_row_is_refused_deactivates_nobody(services, tmp_path):
    broken = tmp_path / "people.csv"
    broken.write_text("企业微信账号,姓名,角色,单位编码,联络组\nbad id!,某人,填报员,U01,\n", encoding="utf-8")
    report = reimport(services, broken)
    assert report.refused and report.deactivated == []
    assert person(services, "wangfang").active
