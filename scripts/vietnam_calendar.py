"""Write the table of Vietnam's working-week exceptions that `domain/calendar.py` reads.

The days whose working status differs from Monday–Friday (public holidays on weekdays, make-up working weekend
days) come from the `holidays` package. Computed here once per release of the package and shipped as data, so
a process does not import the package's ~300 country modules; `tests/unit/test_calendar.py` checks the table
against the installed package. Run it after upgrading `holidays`:

    python -m scripts.vietnam_calendar [--first-year 2000] [--last-year 2100]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path

import holidays

# domain.calendar.CALENDAR_TABLE (a test checks they agree). Not imported from there: that module reads this file
# as it is imported, and the script must run when the file is missing or stale.
TABLE_PATH = Path(__file__).resolve().parents[1] / "domain" / "data" / "vietnam-working-week-exceptions.json"


def exceptions_to_the_week(first_year: int, last_year: int) -> list[date]:
    """The days of these years whose working status in Vietnam differs from Monday–Friday, in order."""
    calendar = holidays.country_holidays("VN", years=range(first_year, last_year + 1))
    exceptions = []
    day, end = date(first_year, 1, 1), date(last_year, 12, 31)
    while day <= end:
        if calendar.is_working_day(day) != (day.weekday() < 5):
            exceptions.append(day)
        day += timedelta(days=1)
    return exceptions


def table(first_year: int, last_year: int) -> dict[str, object]:
    return {
        "source": f"holidays {version('holidays')}, country VN",
        "first_year": first_year,
        "last_year": last_year,
        "exceptions": [day.isoformat() for day in exceptions_to_the_week(first_year, last_year)],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first-year", type=int, default=2000)
    parser.add_argument("--last-year", type=int, default=2100)
    args = parser.parse_args(argv)
    if args.first_year > args.last_year:
        parser.error("--first-year must not be after --last-year")
    written = table(args.first_year, args.last_year)
    TABLE_PATH.write_text(json.dumps(written, indent=1) + "\n", encoding="utf-8")
    print(f"{TABLE_PATH}: {len(written['exceptions'])} days, {written['source']}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
