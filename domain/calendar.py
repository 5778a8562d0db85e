"""Vietnam's working days: weekends and public holidays (lunar Tết included) from the `holidays`
package, plus configurable extra days off and make-up working days (the Government swaps days yearly)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import holidays
from pydantic import BaseModel, ConfigDict

# Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact.
VIETNAM_TZ = timezone(timedelta(hours=7), name="ICT")


class WorkingCalendar(BaseModel):
    model_config = ConfigDict(frozen=True)
    extra_days_off: frozenset[date] = frozenset()
    makeup_working_days: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_working_days:
            return True
        if day in self.extra_days_off:
            return False
        return bool(_vietnam_holidays(day.year).is_working_day(day))

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

    def deadline_after(self, start: datetime, working_days: int) -> datetime:
        """End (midnight, Vietnam time) of the `working_days`-th working day after `start`'s day."""
        local_start = start.astimezone(VIETNAM_TZ)
        last_day = self.add_working_days(local_start.date(), working_days)
        return datetime.combine(last_day + timedelta(days=1), time(0, 0), tzinfo=VIETNAM_TZ)


_HOLIDAY_CACHE: dict[int, holidays.HolidayBase] = {}


def _vietnam_holidays(year: int) -> holidays.HolidayBase:
    # One calendar object per year: holidays computes lunar dates on construction.
    if year not in _HOLIDAY_CACHE:
        _HOLIDAY_CACHE[year] = holidays.country_holidays("VN", years=year)
    return _HOLIDAY_CACHE[year]


DEFAULT_CALENDAR = WorkingCalendar()
