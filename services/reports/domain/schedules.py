"""Report schedules: when a schedule's slots fall, and what a valid schedule is. No I/O.

A slot is an instant (UTC). Daily, weekly and monthly schedules name a local time in an IANA zone; the slot of
a day is that wall time in the zone on that day, so it follows the zone through daylight-saving changes:
- a local time the change skips (01:30 in London on the last Sunday of March) runs at the next valid instant,
  the moment the clocks jump (02:00 BST), as cron does;
- a local time the change repeats (01:30 on the last Sunday of October) runs once, at its first occurrence.
Monthly schedules on a day a month lacks (the 31st) run on that month's last day. Cron expressions (five
fields, in the schedule's zone) are evaluated by `cronsim`, which treats the changes the same way (Debian
cron's rules: a fixed time in a gap runs at the jump, a fixed time in the repeated hour once; `*/30` runs at
every real half hour).

After downtime the missed slots collapse: `due` answers the latest slot that has passed (run once) and the first
one still to come.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from shared.errors import DomainError, ErrorCode
from shared.zone_rules import known_zones

# A cron expression whose slots fall closer than this is refused: schedules mail people.
MIN_CRON_INTERVAL = timedelta(minutes=5)
CRON_INTERVAL_SAMPLES = 50
# Collapsing missed slots walks them one by one: past this many (a minutely cron down for months) we jump.
MAX_MISSED_WALK = 100_000
_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Cadence(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CRON = "cron"


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class PausedReason(StrEnum):
    BY_USER = "paused"
    OWNER_LEFT = "owner_left"


def _invalid(field: str, message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)


@dataclass(frozen=True)
class Timing:
    """When a schedule runs. `weekday` is ISO (1 Monday .. 7 Sunday); `local_time` is None for cron."""

    cadence: Cadence
    time_zone: str
    local_time: time | None = None
    weekday: int | None = None
    day_of_month: int | None = None
    cron: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def as_json(self) -> dict[str, Any]:
        return {
            "cadence": self.cadence.value,
            "timeZone": self.time_zone,
            "time": self.local_time.strftime("%H:%M") if self.local_time is not None else None,
            "weekday": self.weekday,
            "dayOfMonth": self.day_of_month,
            "cron": self.cron,
        }


def check_time_zone(value: Any, field: str = "timeZone") -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or value not in known_zones():
        raise _invalid(field, f"{value!r} is not an IANA time zone (e.g. Europe/London)")
    if value.startswith(("posix/", "right/")) or value == "localtime":
        raise _invalid(field, f"{value!r} is not an IANA time zone (e.g. Europe/London)")
    return value


def parse_timing(raw: dict[str, Any]) -> Timing:
    """A schedule's timing from its JSON (`cadence`, `timeZone`, `time` HH:MM, `weekday`, `dayOfMonth`, `cron`);
    refusals name the field. Fields a cadence does not use must be absent, so nothing is silently ignored."""
    try:
        cadence = Cadence(str(raw.get("cadence")))
    except ValueError:
        raise _invalid("cadence", "is one of daily, weekly, monthly, cron") from None
    zone = check_time_zone(raw.get("timeZone"))
    uses = {
        Cadence.DAILY: {"time"},
        Cadence.WEEKLY: {"time", "weekday"},
        Cadence.MONTHLY: {"time", "dayOfMonth"},
        Cadence.CRON: {"cron"},
    }[cadence]
    for name in ("time", "weekday", "dayOfMonth", "cron"):
        if name not in uses and raw.get(name) is not None:
            raise _invalid(name, f"is not used by a {cadence.value} schedule")
        if name in uses and raw.get(name) is None:
            raise _invalid(name, f"is required by a {cadence.value} schedule")
    if cadence is Cadence.CRON:
        return Timing(cadence, zone, cron=check_cron(raw["cron"], zone))
    local = raw["time"]
    m = _LOCAL_TIME.match(local) if isinstance(local, str) else None
    if m is None:
        raise _invalid("time", "is a local time HH:MM (00:00 to 23:59)")
    weekday = day = None
    if cadence is Cadence.WEEKLY:
        weekday = raw["weekday"]
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 1 <= weekday <= 7:
            raise _invalid("weekday", "is 1 (Monday) to 7 (Sunday)")
    if cadence is Cadence.MONTHLY:
        day = raw["dayOfMonth"]
        if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 31:
            raise _invalid("dayOfMonth", "is 1 to 31 (a day a month lacks runs on its last day)")
    return Timing(cadence, zone, time(int(m[1]), int(m[2])), weekday, day)


def check_cron(value: Any, time_zone: str) -> str:
    """A five-field cron expression whose slots are at least `MIN_CRON_INTERVAL` apart."""
    if not isinstance(value, str) or len(value) > 200:
        raise _invalid("cron", "is a cron expression of five fields: minute hour day-of-month month day-of-week")
    expr = " ".join(value.split())
    if len(expr.split(" ")) != 5:
        raise _invalid("cron", "is a cron expression of five fields: minute hour day-of-month month day-of-week")
    start = datetime.now(UTC).astimezone(ZoneInfo(time_zone))
    try:
        it = CronSim(expr, start)
        previous = next(it)
        for _ in range(CRON_INTERVAL_SAMPLES):
            slot = next(it)
            if slot.astimezone(UTC) - previous.astimezone(UTC) < MIN_CRON_INTERVAL:
                minutes = int(MIN_CRON_INTERVAL.total_seconds() // 60)
                raise _invalid("cron", f"runs more often than every {minutes} minutes")
            previous = slot
    except CronSimError as exc:
        raise _invalid("cron", f"is not a valid cron expression: {exc}") from None
    except StopIteration:
        raise _invalid("cron", "never runs") from None
    return expr


def _wall_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant the zone's clocks show `at` on `day`: its first occurrence when repeated, and the moment the
    clocks jump past it when skipped."""
    local = datetime.combine(day, at, tzinfo=zone)  # fold=0: the first occurrence of a repeated time
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # Skipped: fold=0 reads it with the offset before the jump, fold=1 with the offset after; the jump lies
    # between, at the first second whose wall time is past `at`.
    lo = local.replace(fold=1).astimezone(UTC)
    hi = instant
    lo, hi = min(lo, hi), max(lo, hi)
    naive = local.replace(tzinfo=None)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _month_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def next_slot(timing: Timing, after: datetime) -> datetime:
    """The first slot strictly after `after` (an aware instant), in UTC."""
    zone = timing.zone
    if timing.cadence is Cadence.CRON:
        assert timing.cron is not None
        # cronsim starts from the minute of its start; a start of `after` itself yields the slots after it.
        slot: datetime = next(CronSim(timing.cron, after.astimezone(zone)))
        return slot.astimezone(UTC)
    assert timing.local_time is not None
    start = after.astimezone(zone).date() - timedelta(days=1)
    if timing.cadence is Cadence.MONTHLY:
        assert timing.day_of_month is not None
        year, month = start.year, start.month
        while True:
            candidate = _wall_to_utc(_month_day(year, month, timing.day_of_month), timing.local_time, zone)
            if candidate > after:
                return candidate
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    day = start
    while True:
        if timing.cadence is Cadence.DAILY or day.isoweekday() == timing.weekday:
            candidate = _wall_to_utc(day, timing.local_time, zone)
            if candidate > after:
                return candidate
        day += timedelta(days=1)


def due(timing: Timing, pending: datetime, now: datetime) -> tuple[datetime, datetime]:
    """For a schedule whose next slot `pending` has passed (`pending <= now`): the slot to run now (the latest
    that has passed: missed slots are one run, not one each) and the first slot after `now`."""
    latest = pending
    following = next_slot(timing, latest)
    walked = 0
    while following <= now:
        walked += 1
        if walked > MAX_MISSED_WALK:
            # Months of a frequent cron missed: jump close to now and walk the last stretch.
            latest = following
            probe = next_slot(timing, now - timedelta(days=1))
            while probe <= now:
                latest, probe = probe, next_slot(timing, probe)
            return latest, probe
        latest, following = following, next_slot(timing, following)
    return latest, following
