from tests.test_clerk_submit import fill_everything


def test_liaison_officer_sees_the_groups_units_and_what_they_lack(chat):
    chat("wangfang").script("党委会6次", "确认")
    answer = chat("hulin").say("本组进度")
    assert "第一联络组" in answer and "市财政局机关党委：表一缺 13 项，表二缺 7 类" in answer
    assert "市民政局机关党委" not in answer


def test_liaison_officer_sees_a_submitted_unit_as_submitted(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    assert "市财政局机关党委：已提交 ✓" in chat("hulin").say("本组进度")


def test_administrator_sees_the_city_wide_picture(chat):
    c = chat("wangfang")
    fill_everything(c)
    c.script("提交", "确认")
    answer = chat("hezhiyuan").say("全市进度")
    assert "1/12 个单位已提交" in answer and "第一联络组：1/4 已提交" in answer and "第三联络组：0/4" in answer


def test_clerk_keywords_mean_nothing_to_a_liaison_officer(chat):
    assert "没听懂" in chat("hulin").say("党委会6次")
