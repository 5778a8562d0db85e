"""Vietnam's working days: weekends and public holidays (lunar Tết included) from the `holidays`
package (through a table made from it), plus configurable extra days off and make-up working days (the
Government swaps days yearly)."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

# Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact.
VIETNAM_TZ = timezone(timedelta(hours=7), name="ICT")
TIME_FORMAT_VI = "%H:%M ngày %d/%m/%Y"


def local_time_vi(moment: datetime) -> str:
    """A moment as staff read it: Vietnam's time, "08:30 ngày 20/12/2026". One at the calendar's very end (an
    extension to 9999-12-31 23:59 UTC is accepted as a deadline) has no Vietnam-time date: it is shown as given
    (UTC), never failing the workflow or notice that shows it."""
    try:
        return moment.astimezone(VIETNAM_TZ).strftime(TIME_FORMAT_VI)
    except OverflowError:
        return moment.strftime("%H:%M ngày %d/%m/%Y (UTC)")


class WorkingCalendar(BaseModel):
    model_config = ConfigDict(frozen=True)
    extra_days_off: frozenset[date] = frozenset()
    makeup_working_days: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_working_days:
            return True
        if day in self.extra_days_off:
            return False
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValueError(f"the working-day calendar covers {FIRST_YEAR}–{LAST_YEAR}, not {day.isoformat()}")
        is_weekday = day.weekday() < 5
        return is_weekday != (day in _EXCEPTIONS)

    def add_working_days(self, start: date, count: int) -> date:
        """The `count`-th working day after `start` (the start day itself is not counted)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        day = start
        remaining = count
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def subtract_working_days(self, end: date, count: int) -> date:
        """The `count`-th working day before `end` (the end day itself is not counted)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        day = end
        remaining = count
        while remaining:
            day -= timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def deadline_before(self, deadline: datetime, working_days: int) -> datetime:
        """08:00 Vietnam time on the working day `working_days` before a deadline's last day: when to remind."""
        last_day = (deadline.astimezone(VIETNAM_TZ) - timedelta(microseconds=1)).date()
        day = self.subtract_working_days(last_day, working_days)
        return datetime.combine(day, time(8, 0), tzinfo=VIETNAM_TZ)

    def deadline_after(self, start: datetime, working_days: int) -> datetime:
        """End (midnight, Vietnam time) of the `working_days`-th working day after `start`'s day."""
        local_start = start.astimezone(VIETNAM_TZ)
        last_day = self.add_working_days(local_start.date(), working_days)
        return datetime.combine(last_day + timedelta(days=1), time(0, 0), tzinfo=VIETNAM_TZ)

    def working_days_held(self, since: datetime, until: datetime) -> int:
        """The working days from `since`'s day up to, not including, `until`'s day (Vietnam time): what a hold
        that began at `since` and ended at `until` took from a deadline."""
        first, last = since.astimezone(VIETNAM_TZ).date(), until.astimezone(VIETNAM_TZ).date()
        return sum(self.is_working_day(first + timedelta(days=i)) for i in range((last - first).days))

    def resume_after_hold(self, deadline: datetime, since: datetime, until: datetime) -> datetime:
        """A deadline (the end of a working day) moved on by the working days a hold covered, so the nomination
        resumes with the working days it had left (Decree 152: deadlines stop while a nomination is held)."""
        held = self.working_days_held(since, until)
        return self.deadline_after(deadline - timedelta(microseconds=1), held) if held else deadline


# The years a nomination may carry, and in them the days whose working status differs from Monday–Friday
# (public holidays on weekdays, make-up working weekend days). Computed from the `holidays` package by
# `python -m scripts.vietnam_calendar` and shipped as data: a process reads ~1,200 dates instead of importing
# the package's ~300 country modules (~11 MB per process). A test checks the table against the installed package.
CALENDAR_TABLE = Path(__file__).parent / "data" / "vietnam-working-week-exceptions.json"


@cache
def _working_week_table() -> tuple[int, int, frozenset[date]]:
    table = json.loads(CALENDAR_TABLE.read_text(encoding="utf-8"))
    return table["first_year"], table["last_year"], frozenset(map(date.fromisoformat, table["exceptions"]))


FIRST_YEAR, LAST_YEAR, _EXCEPTIONS = _working_week_table()  # read at import, outside any workflow


DEFAULT_CALENDAR = WorkingCalendar()
