import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from storage.calendar import current_phase, days_left, is_open, next_phase, open_phases, reminder_state, window
from storage.campaign import DEFAULT_CAMPAIGN, load_campaign

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = UTC


@pytest.fixture(scope="module")
def campaign():
    return load_campaign(DEFAULT_CAMPAIGN)


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Shanghai"])
def host_zone(request, monkeypatch):
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def local(*args):
    return datetime(*args, tzinfo=SHANGHAI)


def reminder(campaign, key):
    return next(r for r in campaign.reminders if r.key == key)


def test_the_last_second_of_a_phase_is_inside_it(campaign):
    assert is_open(campaign, "self_check", local(2013, 12, 22, 23, 59, 59))
    assert current_phase(campaign, local(2013, 12, 22, 23, 59, 59)).phase.key == "self_check"


def test_midnight_after_the_last_day_closes_the_phase_and_opens_the_next(campaign):
    assert not is_open(campaign, "self_check", local(2013, 12, 23))
    assert current_phase(campaign, local(2013, 12, 23)).phase.key == "group_review"


def test_a_phase_opens_at_local_midnight_of_its_first_day(campaign):
    assert open_phases(campaign, local(2013, 12, 8, 23, 59, 59)) == []
    assert {w.phase.key for w in open_phases(campaign, local(2013, 12, 9))} == {"evaluation", "self_check"}


def test_the_most_specific_open_phase_is_current(campaign):
    assert current_phase(campaign, local(2013, 12, 30, 12)).phase.key == "committee"


def test_nothing_is_open_after_the_campaign(campaign):
    assert current_phase(campaign, local(2014, 1, 1)) is None
    assert next_phase(campaign, local(2014, 1, 1)) is None


def test_next_phase_is_the_next_to_open(campaign):
    assert next_phase(campaign, local(2013, 12, 20)).phase.key == "group_review"


def test_phase_window_is_local_midnight_to_local_midnight(campaign):
    w = window(campaign, "self_check")
    assert w.start == datetime(2013, 12, 8, 16, tzinfo=UTC)
    assert w.end == datetime(2013, 12, 22, 16, tzinfo=UTC)


def test_shanghai_midnight_gives_the_same_answers_whatever_the_hosts_zone(campaign, host_zone):
    assert is_open(campaign, "self_check", datetime(2013, 12, 22, 15, 59, 59, tzinfo=UTC))
    assert current_phase(campaign, datetime(2013, 12, 22, 16, tzinfo=UTC)).phase.key == "group_review"
    assert not is_open(campaign, "self_check", datetime(2013, 12, 22, 16, tzinfo=UTC))


def test_days_left_counts_the_shanghai_day_not_the_hosts(campaign, host_zone):
    # 00:30 on the 22nd in Shanghai is still the 21st in UTC and New York: the last day all the same.
    assert days_left(campaign, "self_check", datetime(2013, 12, 21, 16, 30, tzinfo=UTC)) == 1
    assert days_left(campaign, "self_check", datetime(2013, 12, 21, 15, 59, 59, tzinfo=UTC)) == 2


def test_days_left_on_the_first_and_last_day(campaign):
    assert days_left(campaign, "self_check", local(2013, 12, 9)) == 14
    assert days_left(campaign, "self_check", local(2013, 12, 22)) == 1
    assert days_left(campaign, "self_check", local(2013, 12, 22, 23, 59, 59)) == 1


def test_days_left_before_a_phase_is_its_length_and_after_it_zero(campaign):
    assert days_left(campaign, "group_review", local(2013, 12, 1)) == 5
    assert days_left(campaign, "self_check", local(2013, 12, 23)) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda c, now: open_phases(c, now),
        lambda c, now: current_phase(c, now),
        lambda c, now: next_phase(c, now),
        lambda c, now: is_open(c, "self_check", now),
        lambda c, now: days_left(c, "self_check", now),
        lambda c, now: reminder_state(c, c.reminders[0], now),
    ],
)
def test_a_naive_now_is_refused(campaign, call):
    with pytest.raises(ValueError, match="timezone-aware"):
        call(campaign, datetime(2013, 12, 12, 10))


def test_a_reminders_time_is_local_to_the_campaign(campaign):
    assert campaign.reminder_time(reminder(campaign, "opening")) == datetime(2013, 12, 9, 1, 10, tzinfo=UTC)


def test_a_reminder_is_future_then_due_until_its_phase_ends_then_expired(campaign):
    week = reminder(campaign, "self_check_week")
    assert reminder_state(campaign, week, local(2013, 12, 16, 9, 9, 59)) == "future"
    assert reminder_state(campaign, week, local(2013, 12, 16, 9, 10)) == "due"
    assert reminder_state(campaign, week, local(2013, 12, 22, 23, 59, 59)) == "due"
    assert reminder_state(campaign, week, local(2013, 12, 23)) == "expired"


def test_a_reminder_state_is_the_same_whatever_the_hosts_zone(campaign, host_zone):
    week = reminder(campaign, "self_check_week")
    assert reminder_state(campaign, week, datetime(2013, 12, 16, 1, 10, tzinfo=UTC)) == "due"
    assert reminder_state(campaign, week, datetime(2013, 12, 22, 16, tzinfo=UTC)) == "expired"
