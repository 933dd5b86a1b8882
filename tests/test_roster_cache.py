from sqlalchemy import event, text

from bot.demo import SAMPLE_ROSTER
from bot.operations import import_roster_files, load_campaign_file
from storage.campaign import DEFAULT_CAMPAIGN
from tests.transcript import Chat


def test_a_person_imported_by_another_process_is_known_at_the_next_turn(two, tmp_path):
    first, second = two
    assert "还不在本次考核的名单中" in Chat(second, "xinren01").say("帮助")
    people = tmp_path / "people.csv"
    people.write_text((SAMPLE_ROSTER / "people.csv").read_text(encoding="utf-8") + "xinren01,辛仁,填报员,U01,\n")
    import_roster_files(first.db, SAMPLE_ROSTER / "units.csv", people)
    assert "开始填写统计表" in Chat(second, "xinren01").say("填报")


def test_a_campaign_loaded_by_another_process_is_used_at_the_next_turn(two, tmp_path):
    first, second = two
    clerk = Chat(second, "wangfang")
    assert "年度目标：6 次" in clerk.say("填报")
    moved = tmp_path / "campaign.toml"
    moved.write_text(
        DEFAULT_CAMPAIGN.read_text(encoding="utf-8").replace('targets = { "党委" = 6 }', 'targets = { "党委" = 9 }')
    )
    load_campaign_file(first.db, moved)
    assert "年度目标：9 次" in clerk.script("取消", "填报")


def test_a_roster_row_changed_by_plain_sql_shows_at_the_next_turn(two):
    first, second = two
    assert "王芳" in Chat(second, "wangfang").say("帮助")
    with first.db.write() as session:
        session.execute(text("UPDATE person SET name = '王芳芳' WHERE userid = 'wangfang'"))
    assert "王芳芳" in Chat(second, "wangfang").say("帮助")


def test_while_the_stamp_stands_a_turn_reads_no_roster_or_campaign_rows(services):
    clerk = Chat(services, "wangfang")
    clerk.say("填报")
    seen = []
    event.listen(services.db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    assert "已记录" in clerk.say("6")
    read = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert not [s for s in read if any(f"FROM {t}" in s for t in ("person", "unit", "campaign", "liaison_group"))]
    # the stamp, once: inside the claim of the message key (its RETURNING), not a statement of its own
    stamped = [s for s in seen if "FROM data_stamp" in s]
    assert len(stamped) == 1 and stamped[0].lstrip().upper().startswith("INSERT INTO PROCESSED_MESSAGE"), stamped
