"""Date ranges: the shared presets and custom from/to dates, in an organisation's time zone.

One definition for every service and every range argument, so that "last 7 days" means the
same days on the Orders header, the Analytics graph, an insight and a report: today and the
six days before, in the organisation's time zone. Custom ranges are whole days, `from` and
`to` both inclusive. A range spans at most `MAX_RANGE_DAYS` (the 25 months rollups keep), so
an accidental 0001–9999 range is an error naming the range, not a scan of everything.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

import shared.zone_rules  # noqa: F401  (every ZoneInfo from the pinned tzdata package)

MAX_RANGE_DAYS = 762  # 25 months of 30.5 days
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


class DatePreset(StrEnum):
    TODAY = "TODAY"
    YESTERDAY = "YESTERDAY"
    LAST_7_DAYS = "LAST_7_DAYS"
    LAST_30_DAYS = "LAST_30_DAYS"
    LAST_90_DAYS = "LAST_90_DAYS"
    THIS_MONTH = "THIS_MONTH"
    LAST_MONTH = "LAST_MONTH"


PRESET_DESCRIPTIONS = {
    DatePreset.TODAY: "today",
    DatePreset.YESTERDAY: "yesterday",
    DatePreset.LAST_7_DAYS: "today and the 6 days before",
    DatePreset.LAST_30_DAYS: "today and the 29 days before",
    DatePreset.LAST_90_DAYS: "today and the 89 days before",
    DatePreset.THIS_MONTH: "the 1st of this month to today",
    DatePreset.LAST_MONTH: "the previous calendar month",
}


def today_in(time_zone: str, now: datetime | None = None) -> date:
    """The calendar date it is now in `time_zone`."""
    return (now or datetime.now(tz=ZoneInfo("UTC"))).astimezone(ZoneInfo(time_zone)).date()


def preset_days(preset: DatePreset, today: date) -> tuple[date, date]:
    """First and last day (inclusive) of `preset` when it is `today`."""
    if preset is DatePreset.TODAY:
        return today, today
    if preset is DatePreset.YESTERDAY:
        yesterday = today - timedelta(days=1)
        return yesterday, yesterday
    if preset is DatePreset.THIS_MONTH:
        return today.replace(day=1), today
    if preset is DatePreset.LAST_MONTH:
        last_day = today.replace(day=1) - timedelta(days=1)
        return last_day.replace(day=1), last_day
    span = {DatePreset.LAST_7_DAYS: 7, DatePreset.LAST_30_DAYS: 30, DatePreset.LAST_90_DAYS: 90}[preset]
    return today - timedelta(days=span - 1), today


class DateRange(BaseModel):
    """Whole days in the organisation's time zone, `to` inclusive; or a preset."""

    model_config = ConfigDict(extra="forbid")
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    preset: DatePreset | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.preset and (self.from_ or self.to):
            raise ValueError("give either a preset or from/to, not both")
        for value in (self.from_, self.to):
            if value is not None and not EARLIEST <= value <= LATEST:
                raise ValueError(f"dates must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
        if self.from_ and self.to:
            if self.from_ > self.to:
                raise ValueError("'from' must not be after 'to'")
            if (self.to - self.from_).days + 1 > MAX_RANGE_DAYS:
                raise ValueError(f"a range spans at most {MAX_RANGE_DAYS} days (25 months)")
        return self

    def days(self, time_zone: str, now: datetime | None = None) -> tuple[date | None, date | None]:
        """First and last day (inclusive; None when open) in `time_zone`, presets resolved at `now`."""
        if self.preset:
            return preset_days(self.preset, today_in(time_zone, now))
        return self.from_, self.to
