"""Vietnamese working days: weekends, public holidays (Tết included), configured swaps."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import CALENDAR_TABLE, DEFAULT_CALENDAR, FIRST_YEAR, LAST_YEAR, VIETNAM_TZ, WorkingCalendar
from scripts.vietnam_calendar import TABLE_PATH, exceptions_to_the_week

CAL = DEFAULT_CALENDAR
TET_2026_OFF = [date(2026, 2, d) for d in range(14, 23)]  # Sat 14 .. Sun 22 February


def test_ten_working_days_across_tet_2026():
    # Tue 10 Feb: 11, 12, 13 count; 14-22 Feb is Tết (with its weekends); then 23-27 Feb, 2 and 3 Mar.
    assert CAL.add_working_days(date(2026, 2, 10), 10) == date(2026, 3, 3)


def test_tet_2026_days_are_not_working_days():
    for day in TET_2026_OFF:
        assert not CAL.is_working_day(day), day
    assert CAL.is_working_day(date(2026, 2, 13))
    assert CAL.is_working_day(date(2026, 2, 23))


def test_the_working_days_across_tet_are_exactly_these():
    start = date(2026, 2, 10)
    expected = [date(2026, 2, d) for d in (11, 12, 13, 23, 24, 25, 26, 27)] + [
        date(2026, 3, 2),
        date(2026, 3, 3),
    ]
    assert [CAL.add_working_days(start, n) for n in range(1, 11)] == expected


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (date(2026, 3, 6), 1, date(2026, 3, 9)),  # Friday -> Monday
        (date(2026, 3, 7), 1, date(2026, 3, 9)),  # from a Saturday
        (date(2026, 3, 8), 1, date(2026, 3, 9)),  # from a Sunday
        (date(2026, 3, 2), 5, date(2026, 3, 9)),
        (date(2026, 3, 2), 10, date(2026, 3, 16)),
        (date(2026, 4, 29), 1, date(2026, 5, 4)),  # 30/4 and 1/5 fall on Thursday and Friday
        (date(2026, 4, 24), 1, date(2026, 4, 28)),  # Hùng Kings' day (26/4, Sunday) observed Monday 27/4
        (date(2025, 12, 31), 1, date(2026, 1, 2)),  # New Year's Day
        (date(2026, 8, 28), 1, date(2026, 9, 3)),  # 31/8 (swapped day off), 1/9 and 2/9 National Day
    ],
)
def test_weekends_and_public_holidays_are_skipped(start, count, expected):
    assert CAL.add_working_days(start, count) == expected


@pytest.mark.parametrize("day", [date(2026, 3, 7), date(2026, 3, 8), date(2026, 9, 2), date(2026, 1, 1)])
def test_weekend_days_and_holidays_are_not_working_days(day):
    assert not CAL.is_working_day(day)


def test_zero_days_is_the_start_and_negative_is_refused():
    assert CAL.add_working_days(date(2026, 2, 17), 0) == date(2026, 2, 17)
    with pytest.raises(ValueError):
        CAL.add_working_days(date(2026, 2, 10), -1)


def test_a_makeup_working_day_counts():
    saturday = date(2026, 3, 7)
    cal = WorkingCalendar(makeup_working_days=frozenset({saturday}))
    assert cal.is_working_day(saturday)
    assert cal.add_working_days(date(2026, 3, 6), 1) == saturday
    assert cal.add_working_days(date(2026, 3, 2), 10) == date(2026, 3, 13)
    assert CAL.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 9)  # the default is unchanged


def test_a_makeup_working_day_can_override_a_holiday():
    cal = WorkingCalendar(makeup_working_days=frozenset({date(2026, 2, 20)}))
    assert cal.add_working_days(date(2026, 2, 10), 4) == date(2026, 2, 20)
    assert cal.add_working_days(date(2026, 2, 10), 10) == date(2026, 3, 2)


def test_an_extra_day_off_does_not_count():
    bridge = date(2026, 1, 2)  # a Friday the Government might give off after New Year
    cal = WorkingCalendar(extra_days_off=frozenset({bridge}))
    assert not cal.is_working_day(bridge)
    assert cal.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 5)
    assert CAL.add_working_days(date(2025, 12, 31), 1) == bridge


def test_a_swap_moves_a_working_day_to_a_saturday():
    # The usual decision: a weekday becomes a day off and is worked back on a Saturday.
    cal = WorkingCalendar(
        extra_days_off=frozenset({date(2026, 4, 29)}), makeup_working_days=frozenset({date(2026, 5, 9)})
    )
    assert cal.add_working_days(date(2026, 4, 28), 1) == date(2026, 5, 4)
    assert cal.add_working_days(date(2026, 5, 8), 1) == date(2026, 5, 9)
    start = date(2026, 4, 20)
    end = date(2026, 5, 15)
    assert _working_days_between(cal, start, end) == _working_days_between(CAL, start, end)


def _working_days_between(cal: WorkingCalendar, start: date, end: date) -> int:
    return sum(cal.is_working_day(start + timedelta(days=i)) for i in range(1, (end - start).days + 1))


# --- deadlines -----------------------------------------------------------------------------------


def test_deadline_is_midnight_vietnam_time_after_the_last_working_day():
    start = datetime(2026, 2, 10, 9, 30, tzinfo=VIETNAM_TZ)
    deadline = CAL.deadline_after(start, 10)
    assert deadline == datetime(2026, 3, 4, 0, 0, tzinfo=VIETNAM_TZ)
    assert deadline.utcoffset() == timedelta(hours=7)
    assert deadline.astimezone(UTC) == datetime(2026, 3, 3, 17, 0, tzinfo=UTC)


def test_deadline_counts_from_the_vietnamese_date_of_a_utc_start():
    # 20:00 UTC on 9 Feb is 03:00 on 10 Feb in Hà Nội.
    assert CAL.deadline_after(datetime(2026, 2, 9, 20, 0, tzinfo=UTC), 10) == datetime(2026, 3, 4, tzinfo=VIETNAM_TZ)
    # 18:00 UTC on 10 Feb is already 11 Feb in Hà Nội: one working day later.
    assert CAL.deadline_after(datetime(2026, 2, 10, 18, 0, tzinfo=UTC), 10) == datetime(2026, 3, 5, tzinfo=VIETNAM_TZ)


def test_deadline_respects_the_calendar_configuration():
    cal = WorkingCalendar(extra_days_off=frozenset({date(2026, 3, 3)}))
    start = datetime(2026, 2, 10, 8, 0, tzinfo=VIETNAM_TZ)
    assert cal.deadline_after(start, 10) == datetime(2026, 3, 5, tzinfo=VIETNAM_TZ)


# --- counting back: reminders before a deadline (policy 2026.01) --------------------------------


def test_counting_back_across_tet_2026():
    assert CAL.subtract_working_days(date(2026, 2, 23), 1) == date(2026, 2, 13)
    assert CAL.subtract_working_days(date(2026, 3, 3), 10) == date(2026, 2, 10)
    assert CAL.subtract_working_days(date(2026, 3, 9), 1) == date(2026, 3, 6)  # Monday -> Friday


def test_counting_back_zero_days_is_the_end_and_negative_is_refused():
    assert CAL.subtract_working_days(date(2026, 2, 17), 0) == date(2026, 2, 17)
    with pytest.raises(ValueError):
        CAL.subtract_working_days(date(2026, 2, 10), -1)


def test_counting_back_respects_the_calendar_configuration():
    cal = WorkingCalendar(
        extra_days_off=frozenset({date(2026, 3, 6)}), makeup_working_days=frozenset({date(2026, 3, 7)})
    )
    assert cal.subtract_working_days(date(2026, 3, 9), 1) == date(2026, 3, 7)
    assert cal.subtract_working_days(date(2026, 3, 9), 2) == date(2026, 3, 5)


def test_a_reminder_is_at_eight_in_hanoi_working_days_before_the_deadlines_last_day():
    deadline = datetime(2026, 3, 4, tzinfo=VIETNAM_TZ)  # the end of Tuesday 3 March
    assert CAL.deadline_before(deadline, 0) == datetime(2026, 3, 3, 8, 0, tzinfo=VIETNAM_TZ)
    assert CAL.deadline_before(deadline, 2) == datetime(2026, 2, 27, 8, 0, tzinfo=VIETNAM_TZ)
    assert CAL.deadline_before(deadline, 3) == datetime(2026, 2, 26, 8, 0, tzinfo=VIETNAM_TZ)
    # The same instant given in UTC; and a deadline during a day counts that day as the last one.
    assert CAL.deadline_before(datetime(2026, 3, 3, 17, 0, tzinfo=UTC), 2) == CAL.deadline_before(deadline, 2)
    assert CAL.deadline_before(datetime(2026, 3, 4, 10, 0, tzinfo=VIETNAM_TZ), 2) == datetime(
        2026, 3, 2, 8, 0, tzinfo=VIETNAM_TZ
    )


# --- properties ----------------------------------------------------------------------------------

DATES = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))


@settings(max_examples=300, deadline=None)
@given(start=DATES, n=st.integers(0, 40))
def test_add_working_days_is_strictly_increasing_and_lands_on_working_days(start, n):
    a = CAL.add_working_days(start, n)
    b = CAL.add_working_days(start, n + 1)
    assert a < b
    assert CAL.is_working_day(b)
    if n > 0:
        assert CAL.is_working_day(a)
    # Exactly n working days after the start, and none between a and b.
    assert _working_days_between(CAL, start, a) == n
    assert _working_days_between(CAL, a, b) == 1


@settings(max_examples=200, deadline=None)
@given(
    start=DATES,
    n=st.integers(1, 30),
    off=st.frozensets(DATES, max_size=10),
    makeup=st.frozensets(DATES, max_size=10),
)
def test_a_configured_calendar_keeps_the_same_properties(start, n, off, makeup):
    cal = WorkingCalendar(extra_days_off=off, makeup_working_days=makeup)
    days = [cal.add_working_days(start, k) for k in range(n + 1)]
    assert all(x < y for x, y in pairwise(days))
    assert all(cal.is_working_day(d) for d in days[1:])
    assert all(cal.is_working_day(d) for d in makeup)
    assert not any(cal.is_working_day(d) for d in off - makeup)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    n=st.integers(1, 25),
)
def test_a_deadline_is_always_a_vietnamese_midnight_after_a_working_day(start, n):
    deadline = CAL.deadline_after(start, n)
    assert deadline.utcoffset() == timedelta(hours=7)
    assert (deadline.hour, deadline.minute, deadline.second) == (0, 0, 0)
    assert CAL.is_working_day(deadline.date() - timedelta(days=1))
    assert deadline > start


@settings(max_examples=200, deadline=None)
@given(end=DATES, n=st.integers(1, 30))
def test_counting_back_from_a_working_day_undoes_counting_forward(end, n):
    if not CAL.is_working_day(end):
        end = CAL.add_working_days(end, 1)
    start = CAL.subtract_working_days(end, n)
    assert start < end
    assert CAL.is_working_day(start)
    assert _working_days_between(CAL, start, end) == n
    assert CAL.add_working_days(start, n) == end


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    n=st.integers(2, 25),
    data=st.data(),
)
def test_a_reminder_falls_on_a_working_day_with_the_promised_days_left(start, n, data):
    before = data.draw(st.integers(0, n - 1))
    deadline = CAL.deadline_after(start, n)
    remind_at = CAL.deadline_before(deadline, before)
    assert remind_at.utcoffset() == timedelta(hours=7)
    assert (remind_at.hour, remind_at.minute) == (8, 0)
    assert CAL.is_working_day(remind_at.date())
    assert start.astimezone(VIETNAM_TZ).date() < remind_at.date() < deadline.date()
    last_day = deadline.date() - timedelta(days=1)
    assert _working_days_between(CAL, remind_at.date(), last_day) == before


# --- holds: a deadline resumes with the working days it had left -------------------------------------------


def at_nine(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=VIETNAM_TZ)


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=VIETNAM_TZ) + timedelta(days=1)


def test_a_hold_from_monday_to_wednesday_moves_a_friday_deadline_two_working_days():
    # June 2027 has no public holiday: Monday 14 to Wednesday 16 covers Monday and Tuesday.
    friday = end_of(date(2027, 6, 18))
    moved = CAL.resume_after_hold(friday, at_nine(date(2027, 6, 14)), at_nine(date(2027, 6, 16)))
    assert moved == end_of(date(2027, 6, 22))  # Tuesday: Saturday and Sunday are not working days


def test_a_hold_over_a_weekend_or_within_a_day_moves_nothing():
    friday = end_of(date(2027, 6, 18))
    assert CAL.resume_after_hold(friday, at_nine(date(2027, 6, 12)), at_nine(date(2027, 6, 14))) == friday
    assert CAL.resume_after_hold(
        friday, at_nine(date(2027, 6, 14)), at_nine(date(2027, 6, 14)) + timedelta(hours=5)
    ) == (friday)


def test_a_hold_across_tet_counts_only_the_working_days_it_covered():
    # Held from Thursday 12 February 2026 to Thursday 26 February: Tết 2026 is off (see the tests above).
    since, until = at_nine(date(2026, 2, 12)), at_nine(date(2026, 2, 26))
    held = CAL.working_days_held(since, until)
    days = [date(2026, 2, 12) + timedelta(days=i) for i in range(14)]
    assert held == sum(CAL.is_working_day(d) for d in days) and 0 < held < 10
    deadline = end_of(date(2026, 2, 27))
    assert CAL.resume_after_hold(deadline, since, until) == CAL.deadline_after(
        deadline - timedelta(microseconds=1), held
    )


def working_days_after(first: date, last: date) -> int:
    """Working days in (first, last]."""
    return sum(CAL.is_working_day(first + timedelta(days=i)) for i in range(1, (last - first).days + 1))


@given(st.dates(date(2026, 1, 1), date(2030, 12, 31)), st.integers(0, 60), st.integers(1, 40))
@settings(max_examples=300)
def test_a_resumed_deadline_keeps_the_working_days_that_were_left(start: date, held_days: int, left: int):
    since = at_nine(start)
    until = since + timedelta(days=held_days)
    deadline = CAL.deadline_after(since, left)
    resumed = CAL.resume_after_hold(deadline, since, until)
    last_day = (resumed - timedelta(days=1)).date()
    assert resumed >= deadline and last_day >= until.date()
    # Whole days: the hold's first day counts as held when it was a working day, the release day as left.
    expected_left = left + CAL.is_working_day(since.date()) - CAL.is_working_day(until.date())
    assert working_days_after(until.date(), last_day) == expected_left


def test_the_shipped_table_is_what_the_holidays_package_computes():
    """The table is `holidays`' calendar for the years it covers: regenerated after an upgrade of the package
    (python -m scripts.vietnam_calendar), or this fails."""
    shipped = json.loads(CALENDAR_TABLE.read_text(encoding="utf-8"))
    assert TABLE_PATH == CALENDAR_TABLE
    assert (shipped["first_year"], shipped["last_year"]) == (FIRST_YEAR, LAST_YEAR) == (2000, 2100)
    computed = exceptions_to_the_week(FIRST_YEAR, LAST_YEAR)
    assert shipped["exceptions"] == [day.isoformat() for day in computed]
    assert date(2026, 2, 16) in computed  # a Monday of Tết 2026
    assert len(computed) > 1_000
