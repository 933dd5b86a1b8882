from pathlib import Path

import pytest
from sqlmodel import select

from storage.campaign import DEFAULT_CAMPAIGN, CampaignError, load_campaign
from storage.db import Database
from storage.models import CampaignRow

SHARED_CAMPAIGN = Path(__file__).resolve().parents[2] / "shared" / "campaigns" / "luoyang-2013.toml"
REFERENCE_CAMPAIGN = SHARED_CAMPAIGN if SHARED_CAMPAIGN.exists() else DEFAULT_CAMPAIGN
SHIPPED = DEFAULT_CAMPAIGN.read_text(encoding="utf-8")


def edited(old: str, new: str, count: int = 1) -> str:
    assert SHIPPED.count(old) >= count, f"the shipped campaign no longer contains {old!r}"
    return SHIPPED.replace(old, new, count)


BROKEN = {
    "missing_title": (edited('title = "2013年市直机关党建目标绩效考核"\n', ""), "campaign.title", "缺少这一项"),
    "unknown_org_type": (
        edited('targets = { "党委" = 6 }', 'targets = { "党委" = 6, "机关" = 3 }'),
        "activities[0](dangweihui).targets",
        "未列出的单位类型 '机关'",
    ),
    "reminder_outside": (
        edited('at = "2013-12-28T09:10"', 'at = "2014-01-05T09:10"'),
        "reminders[7](committee_opens).at",
        "不在考核期间内（2013-12-09 至 2013-12-31）",
    ),
    "phase_backwards": (
        edited('start = "2013-12-23"\nend = "2013-12-27"', 'start = "2013-12-23"\nend = "2013-12-20"'),
        "phases[2](group_review)",
        "结束日（2013-12-20）早于开始日（2013-12-23）",
    ),
    "unknown_audience": (
        edited('audience = "admins"', 'audience = "everyone"'),
        "reminders[7](committee_opens).audience",
        "应为以下之一：'clerks_not_submitted', 'clerks_all', 'liaison_officers', 'voters_not_voted', 'admins'",
    ),
    "toml_syntax": (edited("[weights]", "[weights"), "(syntax)", "TOML 格式错误，第 24 行第 9 列（Expected ']'"),
    "unknown_key": (edited('issuer = "', 'isuer = "'), "campaign.isuer", "不认识这一项"),
    "points_not_positive": (edited("points = 120", "points = -5"), "categories[0](leadership).points", "应大于 0"),
    "subitems_as_words": (edited("subitems = 3", 'subitems = "三"'), "categories[0](leadership).subitems", "应为整数"),
    "duplicate_activity": (
        edited('key = "zongzhihui"', 'key = "dangweihui"'),
        "activities",
        "key 重复：'dangweihui'",
    ),
}


@pytest.mark.parametrize("path", [DEFAULT_CAMPAIGN, REFERENCE_CAMPAIGN], ids=["shipped", "reference"])
def test_campaign_file_loads_with_both_tables(path):
    c = load_campaign(path)
    assert len(c.activities) == 16
    assert len(c.categories) == 7 and c.total_points == 1000
    assert [p.key for p in c.phases] == ["evaluation", "self_check", "group_review", "committee"]


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_mistake_is_refused_with_file_key_and_reason(tmp_path, case):
    text, key, reason = BROKEN[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignError) as refused:
        load_campaign(path)
    assert refused.value.file == str(path)
    assert refused.value.key == key
    assert reason in refused.value.reason
    assert str(refused.value).startswith(f"{path}: {key}: ")


def test_a_reason_reads_as_the_file_was_written(tmp_path):
    # pydantic's bound is a float (0.0); the person wrote points, so it reads 应大于 0
    path = tmp_path / "zero.toml"
    path.write_text(edited("points = 120", "points = 0"), encoding="utf-8")
    with pytest.raises(CampaignError) as refused:
        load_campaign(path)
    assert refused.value.reason == "应大于 0"


def test_missing_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(CampaignError) as refused:
        load_campaign(path)
    assert (refused.value.file, refused.value.key) == (str(path), "(file)")
    assert refused.value.reason == "无法读取：找不到这个文件"


def test_file_not_in_utf8_is_refused(tmp_path):
    path = tmp_path / "gbk.toml"
    path.write_bytes(SHIPPED.encode("gb18030"))
    with pytest.raises(CampaignError) as refused:
        load_campaign(path)
    assert (refused.value.file, refused.value.key) == (str(path), "(file)")
    assert "不是 UTF-8 编码" in refused.value.reason


def test_binary_junk_is_refused(tmp_path):
    path = tmp_path / "junk.toml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(CampaignError):
        load_campaign(path)


def test_cli_refuses_a_broken_file_and_keeps_the_active_campaign(kaohe, tmp_path, cli_db_url):
    assert kaohe("db", "upgrade").returncode == 0
    assert kaohe("campaign", "load", DEFAULT_CAMPAIGN).returncode == 0
    broken = tmp_path / "broken.toml"
    broken.write_text(
        edited('id = "luoyang-2013"', 'id = "luoyang-2014"').replace('audience = "admins"', 'audience = "everyone"'),
        encoding="utf-8",
    )
    result = kaohe("campaign", "load", broken)
    assert result.returncode != 0
    assert str(broken) in result.stderr and "reminders[7](committee_opens).audience" in result.stderr
    db = Database(cli_db_url)
    with db.read() as session:
        rows = session.exec(select(CampaignRow)).all()
    db.dispose()
    assert [(r.id, r.active) for r in rows] == [("luoyang-2013", True)]
    assert "2013年市直机关党建目标绩效考核" in kaohe("campaign", "show").stdout
