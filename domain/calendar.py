"""Vietnam's working days: weekends and public holidays (lunar Tết included) from the `holidays`
package, plus configurable extra days off and make-up working days (the Government swaps days yearly)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import holidays
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


FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years a nomination may carry


def _exceptions_to_the_week() -> frozenset[date]:
    """Days whose working status differs from Monday–Friday: public holidays on weekdays and make-up
    working Saturdays. Computed once at import, outside any workflow sandbox: `holidays` reads
    translation files through `locale`, which a workflow may not call (about 0.15 s for 101 years)."""
    calendar = holidays.country_holidays("VN", years=range(FIRST_YEAR, LAST_YEAR + 1))
    exceptions = set()
    day, end = date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)
    while day <= end:
        if calendar.is_working_day(day) != (day.weekday() < 5):
            exceptions.add(day)
        day += timedelta(days=1)
    return frozenset(exceptions)


_EXCEPTIONS = _exceptions_to_the_week()


DEFAULT_CALENDAR = WorkingCalendar()
