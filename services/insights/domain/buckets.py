"""The points of an Analytics series: which instants each bucket covers, in the organisation's time zone.

A range is whole days of the organisation's time zone (`shared.presets.DateRange`: a preset or from/to,
both inclusive), resolved once. Ranges of up to `HOURLY_MAX_DAYS` days have one point per hour, longer
ones one point per day; there is a point for every bucket, data or not.

- Daily points are the organisation-local days (the read models' `day` column already is one), each
  from its local midnight to the next: 23 or 25 hours long on the days clocks change.
- Hourly points are the 60-minute spans from the first day's local midnight to the last day's end: the
  UTC hours of those local days where the zone's offset is whole hours (so 23 or 25 points on a day the
  clocks change; a zone like Asia/Kolkata has spans starting at :30, which the hourly rollup cannot
  answer, so its points are computed from raw events).

No I/O here: the repository reads the instants these give.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.errors import DomainError, ErrorCode
from shared.presets import DateRange

HOURLY_MAX_DAYS = 2
HOUR = timedelta(hours=1)


class Granularity(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"


@dataclass(frozen=True)
class Bucket:
    """One point: [start, end) in UTC, and the organisation-local day it belongs to."""

    start: datetime
    end: datetime
    day: date


@dataclass(frozen=True)
class Span:
    """A resolved range: its local days (inclusive), their instants, and its buckets."""

    first_day: date
    last_day: date
    time_zone: str
    granularity: Granularity
    buckets: tuple[Bucket, ...]

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.time_zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1), self.time_zone)

    @property
    def hours_aligned(self) -> bool:
        """Whether every bucket starts on a UTC hour (what the hourly rollup's rows are)."""
        return all(b.start.minute == 0 and b.start.second == 0 for b in self.buckets)

    def bucket_at(self, start: datetime, field: str = "bucket") -> Bucket:
        """The bucket starting at `start` (any offset), or an error naming `field`."""
        if start.tzinfo is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "give the point's start with its UTC offset", field)
        at = start.astimezone(UTC)
        for b in self.buckets:
            if b.start == at:
                return b
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "is not the start of a point of this range's series (use a point's `start`)",
            field,
        )


def local_midnight(day: date, time_zone: str) -> datetime:
    """The UTC instant `day` starts in `time_zone` (PostgreSQL's `(day)::timestamp AT TIME ZONE tz`)."""
    # A midnight skipped by a clock change (e.g. America/Havana's spring) takes the offset in force before the
    # gap: zoneinfo's fold=0, as PostgreSQL resolves it.
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


def days_of(r: DateRange, time_zone: str, now: datetime | None = None) -> tuple[date, date]:
    """The first and last local day of `r` (presets resolved at `now`); both ends are required."""
    first, last = r.days(time_zone, now)
    if first is None or last is None:
        missing = "filter.range.from" if first is None else "filter.range.to"
        raise DomainError(ErrorCode.INVALID_INPUT, "give both from and to, or a preset", missing)
    return first, last


def granularity_for(first_day: date, last_day: date) -> Granularity:
    return Granularity.HOUR if (last_day - first_day).days + 1 <= HOURLY_MAX_DAYS else Granularity.DAY


def span(r: DateRange, time_zone: str, now: datetime | None = None) -> Span:
    """Every bucket of `r` in `time_zone`, in order, none missing."""
    first, last = days_of(r, time_zone, now)
    granularity = granularity_for(first, last)
    buckets: list[Bucket] = []
    if granularity is Granularity.DAY:
        day = first
        start = local_midnight(day, time_zone)
        while day <= last:
            nxt = local_midnight(day + timedelta(days=1), time_zone)
            buckets.append(Bucket(start, nxt, day))
            day, start = day + timedelta(days=1), nxt
    else:
        day = first
        while day <= last:
            start, end = local_midnight(day, time_zone), local_midnight(day + timedelta(days=1), time_zone)
            at = start
            while at < end:
                buckets.append(Bucket(at, min(at + HOUR, end), day))
                at += HOUR
            day += timedelta(days=1)
    return Span(first, last, time_zone, granularity, tuple(buckets))
