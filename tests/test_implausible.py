import pytest

from storage.campaign import DEFAULT_CAMPAIGN, CampaignError, parse_campaign
from storage.campaigns import load_campaign_file
from tests.test_clerk_sentences import saved


def test_a_count_far_beyond_its_target_is_read_back_with_the_target_as_a_question(chat, services):
    c = chat("wangfang")
    answer = c.say("党委会120次")
    assert "党委会 120 次，年度目标 6 次，确认无误吗？" in answer
    assert saved(services) == ({}, {})
    c.say("确认")
    assert saved(services)[0] == {"dangweihui": 120}


def test_a_count_within_the_threshold_is_read_back_plainly(chat):
    answer = chat("wangfang").say("党委会30次")
    assert "党委会：30 次" in answer and "确认无误吗" not in answer


def test_in_a_form_an_implausible_count_is_asked_about_before_it_is_saved(chat, services):
    c = chat("wangfang")
    c.say("填报")
    assert "党委会 120 次，年度目标 6 次，确认无误吗？" in c.say("120")
    assert saved(services) == ({}, {})
    assert "【2/14】" in c.say("确认")
    assert saved(services)[0] == {"dangweihui": 120}


def test_in_a_form_a_corrected_number_replaces_the_implausible_one(chat, services):
    c = chat("wangfang")
    c.script("填报", "120")
    assert "已记录：党委会 12 次" in c.say("12")
    assert saved(services)[0] == {"dangweihui": 12}


def test_in_a_form_a_confirmation_covers_only_the_answer_just_questioned(chat, services):
    c = chat("wangfang")
    c.script("填报", "120", "上一步")
    c.say("确认")
    assert saved(services)[0] == {}


def test_the_hard_limit_still_refuses(chat):
    assert "366" in chat("wangfang").say("党委会400次")


def _with_checks(extra: str) -> str:
    text = DEFAULT_CAMPAIGN.read_text(encoding="utf-8")
    return text.replace("[weights]", extra + "\n[weights]", 1)


def test_the_threshold_comes_from_the_campaign_file():
    campaign = parse_campaign(_with_checks("[checks]\nconfirm_over_target = 10\n"))
    assert campaign.checks.confirm_over_target == 10
    assert parse_campaign(DEFAULT_CAMPAIGN.read_text(encoding="utf-8")).checks.confirm_over_target == 5


@pytest.mark.parametrize("value", ["1", "0.5", '"many"'])
def test_a_threshold_that_would_question_every_count_is_refused(value):
    with pytest.raises(CampaignError) as refused:
        parse_campaign(_with_checks(f"[checks]\nconfirm_over_target = {value}\n"), "c.toml")
    assert refused.value.key == "checks.confirm_over_target"


def test_a_lower_threshold_in_the_campaign_questions_smaller_counts(services, chat, tmp_path):
    target = tmp_path / "strict.toml"
    target.write_text(_with_checks("[checks]\nconfirm_over_target = 2\n"), encoding="utf-8")
    load_campaign_file(services.db, target)
    assert "确认无误吗" in chat("wangfang").say("党委会13次")
