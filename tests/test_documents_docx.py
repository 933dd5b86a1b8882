import io

import docx
import pytest

from handlers.documents import results_announcement, self_check_summary
from handlers.docx_render import cell_text, render_docx
from storage import campaigns, roster
from tests.conftest import IN_SELF_CHECK
from tests.test_clerk_submit import ALL_SCORES
from tests.test_scoring_chat import routine

YELLOW = 7  # WD_COLOR_INDEX.YELLOW


def summary(services, code="U01") -> docx.Document:
    with services.db.read() as session:
        c = campaigns.active_campaign(session=session)
        unit = roster.unit(session=session, code=code)
        doc = self_check_summary(session=session, campaign=c, unit=unit, now=IN_SELF_CHECK)
    assert doc.name == f"{code}-自查总结（草稿）.docx"
    return docx.Document(io.BytesIO(doc.data))


def announcement(services) -> docx.Document:
    with services.db.read() as session:
        c = campaigns.active_campaign(session=session)
        return docx.Document(io.BytesIO(results_announcement(session=session, campaign=c, now=IN_SELF_CHECK).data))


def texts(doc) -> list[str]:
    return [p.text for p in doc.paragraphs if p.text]


def rows(table) -> list[list[str]]:
    return [[c.text for c in r.cells] for r in table.rows]


@pytest.fixture
def entered(chat):
    chat("wangfang").script("党委会6次 其中1次扩大会议，政治学习20 集中学习", "确认", "组织建设 170.5 记录不全", "确认")


def test_summary_title_and_opening_name_the_unit_and_the_notice(services, entered):
    lines = texts(summary(services))
    assert lines[0] == "市财政局机关党委2013年度党建目标绩效考核自查总结"
    assert "《2013年市直机关党建目标绩效考核》（洛市直发〔2013〕20号）" in lines[2]


def test_summary_table_one_puts_each_count_against_its_target(services, entered):
    table = rows(summary(services).tables[0])
    assert table[0] == ["科目", "年度目标", "完成情况", "备注"]
    assert ["党委会", "6", "6", "其中1次扩大会议"] in table and ["政治学习", "24", "20（差 4）", "集中学习"] in table
    assert ["党小组会", "12", "未填", ""] in table and len(table) == 1 + 14  # a 党委 unit has 14 items


def test_summary_asks_why_targets_were_missed(services, entered):
    assert "【请说明未达到年度目标的原因：政治学习。】" in texts(summary(services))


def test_summary_table_two_has_scores_and_the_total(services, entered):
    table = rows(summary(services).tables[1])
    assert ["三、组织建设", "180", "170.5", "记录不全"] in table and table[-1][:3] == ["合计", "1000", "170.5"]


def test_summary_total_is_blank_when_nothing_was_scored(services):
    assert rows(summary(services, "U02").tables[1])[-1][:3] == ["合计", "1000", ""]


def test_summary_has_a_heading_and_a_place_to_write_for_each_key_work_item_and_topic(services):
    doc = summary(services)
    lines = texts(doc)
    assert "（一）第二批党的群众路线教育实践活动准备情况，党员领导干部民主生活会情况" in lines
    assert "（五）党建信息调研" in lines and "先进典型" in lines
    marked = [p.text for p in doc.paragraphs if any(r.font.highlight_color == YELLOW for r in p.runs)]
    assert "【请填写本单位在机关道德讲堂方面的做法和成效。】" in marked and len(marked) >= 12


def test_party_committee_is_reminded_to_evaluate_its_subordinate_organisations_first(services):
    assert any("所属基层党组织党建目标进行年度考核" in t for t in texts(summary(services, "U01")))
    assert not any("所属基层党组织党建目标进行年度考核" in t for t in texts(summary(services, "U04")))


def test_summary_ends_with_the_stamp_filler_and_date_lines(services):
    assert texts(summary(services))[-3:] == [
        "填报单位（盖章）：市财政局机关党委",
        "填表人：马军、王芳",
        "2013年12月12日",
    ]


def test_summary_is_a4(services):
    section = summary(services).sections[0]
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)


def test_a_note_with_a_bar_stays_in_its_cell(services, chat):
    chat("wangfang").script("党委会6次 甲|乙", "确认")
    assert ["党委会", "6", "6", "甲｜乙"] in rows(summary(services).tables[0])


def test_announcement_lists_units_by_decided_grade_and_their_figures(services, chat):
    chat("wangfang").script(ALL_SCORES, "确认")
    routine(services, "U01", "90")
    chat("hezhiyuan").say("评定 U01 较好 通报批评")
    doc = announcement(services)
    lines = texts(doc)
    assert lines[lines.index("较好（1 个）") + 1] == "市财政局机关党委" and "好（0 个）" in lines
    assert "年终集中考核占 70%，平时考核占 30%" in lines[3]
    assert rows(doc.tables[0])[1] == ["市财政局机关党委", "95.55", "90", "0", "93.89", "较好"]


def test_announcement_says_recommendations_wait_for_the_votes(services):
    assert any("民主推荐投票尚未结束" in t for t in texts(announcement(services)))


def test_cell_text_removes_bars_and_line_breaks():
    assert cell_text("a|b\nc") == "a｜b c" and cell_text(None) == ""


def test_markup_lines_become_title_headings_tables_and_marked_places():
    doc = docx.Document(io.BytesIO(render_docx("# 题\n## 一、节\n| a | b |\n| 1 | 2 |\n> 【写】\n= 右")))
    assert texts(doc) == ["题", "一、节", "【写】", "右"] and rows(doc.tables[0]) == [["a", "b"], ["1", "2"]]
