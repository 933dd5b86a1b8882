import traceback
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError

from bot.operations import load_campaign_file
from bot.services import build_services
from handlers.errors import InputError
from handlers.parsing import parse_answer
from storage.campaign import DEFAULT_CAMPAIGN
from storage.render import TEMPLATES, _compiled, environment, render
from tests.conftest import _services
from tests.transcript import Chat

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def two(any_db_url, clock, transport):
    """Two processes' worth of services on one database: the first loads campaigns, the second chats."""
    first = _services(any_db_url, clock, transport)
    second = build_services(first.settings, clock=clock, transport=transport)
    yield first, second
    second.close()
    first.close()


def _reload(first, tmp_path, old: str, new: str) -> None:
    text = DEFAULT_CAMPAIGN.read_text(encoding="utf-8")
    assert text.count(old) == 1
    changed = tmp_path / "campaign.toml"
    changed.write_text(text.replace(old, new), encoding="utf-8")
    load_campaign_file(first.db, changed)


def test_a_reloaded_campaign_locks_entries_at_its_own_end_of_self_check(two, tmp_path, clock):
    first, second = two
    clock.at = datetime(2013, 12, 23, 10, 0, tzinfo=SHANGHAI)
    clerk = Chat(second, "wangfang")
    assert "自查阶段已于 12月22日 结束" in clerk.say("填报")
    _reload(first, tmp_path, 'end = "2013-12-22"', 'end = "2013-12-24"')
    assert "开始填写统计表" in clerk.say("填报")
    _reload(first, tmp_path, 'end = "2013-12-22"', 'end = "2013-12-22"')
    assert "自查阶段已于 12月22日 结束" in clerk.say("6")


def test_a_reloaded_campaign_checks_of_which_against_its_own_parent(two, tmp_path):
    first, second = two
    clerk = Chat(second, "wangfang")
    clerk.script("填报", *["1"] * 5, "3")  # … 领导上党课 = 3
    assert "不能多于领导上党课（领导上党课填的是 3 次）" in clerk.say("4")
    _reload(first, tmp_path, 'name = "领导上党课"', 'name = "领导讲党课"')
    assert "不能多于领导讲党课（领导讲党课填的是 3 次）" in clerk.script("取消", "填报", "4")
    _reload(first, tmp_path, 'at_most = "lingdao_shang_dangke"', "")
    assert "已记录：其中主要领导上党课 4 次" in clerk.script("取消", "填报", "4")


def test_a_value_missing_from_a_chat_text_fails_at_its_line_in_the_template():
    with pytest.raises(UndefinedError) as failed:
        render("form_retry.txt", reason="不是数字", value=None, hint=False)  # no q: line 2 names it
    frames = [f for f in traceback.extract_tb(failed.tb) if f.filename.endswith("form_retry.txt")]
    assert frames and frames[-1].lineno == 2


def test_every_template_is_rendered_with_the_globals_jinja_gives_it():
    names = sorted(p.name for p in TEMPLATES.iterdir() if p.is_file())
    assert "form_question.txt" in names
    for name in names:
        assert _compiled(name)[1] == dict(environment().get_template(name).globals), name


def test_the_same_short_answer_is_judged_by_each_tables_own_rule_for_halves():
    assert parse_answer("2.5", allow_half=True) == (2.5, None)
    with pytest.raises(InputError):
        parse_answer("2.5")
    assert parse_answer("2.5", allow_half=True) == (2.5, None)
    assert parse_answer("6 其中两次线上") == (6, "其中两次线上")
