from storage import roster
from tests.bulk_roster import add_roster
from tests.test_clerk_submit import fill_everything


def test_receipt_after_submitting_gives_time_who_and_both_tables(chat):
    c = chat("wangfang")
    fill_everything(c)
    answer = c.script("提交", "确认")
    assert answer.startswith("【提交回执】市财政局机关党委已提交自查\n提交时间：2013-12-12 10:00　提交人：王芳")
    assert "达标 13 项；未达标：文体活动 1/2" in answer and "自查总分 955.5/1000 分" in answer


def test_group_progress_lists_the_unit_furthest_behind_first_with_its_clerks(chat):
    chat("zhangmin").script("总支会8次，党小组会12", "确认")
    answer = chat("hulin").say("本组进度")
    lines = [line for line in answer.splitlines() if line.startswith("· ")]
    assert lines[0].startswith("· 市财政局机关党委：表一缺 14 项，表二缺 7 类（王芳、马军）")
    assert lines[-1] == "· 市统计局机关总支：表一缺 12 项，表二缺 7 类（张敏）"


def test_group_progress_counts_table_one_against_targets(chat):
    chat("wangfang").script("党委会6次，政治学习20", "确认")
    assert "表一：已填 2/56 项，达标 1 项" in chat("hulin").say("本组进度")


def test_a_group_too_big_for_a_phone_is_cut_and_says_how_many_are_left_out(chat, services):
    add_roster(services.db, units=300, clerks_per_unit=1, groups=1, prefix="G")
    with services.db.write() as session:
        big = roster.group_by_name(session=session, name="G联络组1")
        roster.person(session=session, userid="hulin").group_id = big.id
    answer = chat("hulin").say("本组进度")
    assert len(answer.encode()) <= 2048 and "个单位，回复「本组导出」查看全部" in answer


def test_city_progress_for_many_groups_fits_a_phone(chat, services):
    add_roster(services.db, units=800, clerks_per_unit=1, groups=80, prefix="C")
    answer = chat("hezhiyuan").say("全市进度")
    assert len(answer.encode()) <= 2048 and "个联络组，回复「导出」查看全部" in answer and "进度最慢：" in answer


def test_liaison_without_a_group_is_told_so(chat, services):
    with services.db.write() as session:
        roster.person(session=session, userid="hulin").group_id = None
    assert "还没有分到联络组" in chat("hulin").say("本组进度")
