"""Report schedules' slots (domain/schedules.py): local times through daylight-saving changes, monthly on days a
month lacks, cron, missed slots collapsing, and refusals naming the field."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.reports.domain.schedules import due, next_slot, parse_timing
from shared.errors import DomainError


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _slots(raw: dict, after: datetime, n: int) -> list[datetime]:
    t = parse_timing(raw)
    out = []
    for _ in range(n):
        after = next_slot(t, after)
        out.append(after)
    return out


def test_london_spring_forward_runs_a_skipped_time_at_the_jump_and_follows_bst() -> None:
    # 29 March 2026: 01:00 GMT jumps to 02:00 BST; 01:30 does not exist that day.
    slots = _slots({"cadence": "daily", "time": "01:30", "timeZone": "Europe/London"}, _utc(2026, 3, 27, 12), 3)
    assert slots == [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 29, 1, 0), _utc(2026, 3, 30, 0, 30)]


def test_london_autumn_back_runs_a_repeated_time_once() -> None:
    # 25 October 2026: 02:00 BST goes back to 01:00 GMT; 01:30 happens twice, the schedule runs at the first.
    slots = _slots({"cadence": "daily", "time": "01:30", "timeZone": "Europe/London"}, _utc(2026, 10, 24, 12), 3)
    assert slots == [_utc(2026, 10, 25, 0, 30), _utc(2026, 10, 26, 1, 30), _utc(2026, 10, 27, 1, 30)]
    assert len(set(slots)) == 3


def test_new_york_nine_am_stays_nine_am_across_both_changes() -> None:
    raw = {"cadence": "daily", "time": "09:00", "timeZone": "America/New_York"}
    march = _slots(raw, _utc(2026, 3, 7, 0), 2)  # 8 March: EST (-5) to EDT (-4)
    assert march == [_utc(2026, 3, 7, 14), _utc(2026, 3, 8, 13)]
    november = _slots(raw, _utc(2026, 10, 31, 0), 2)  # 1 November: EDT to EST
    assert november == [_utc(2026, 10, 31, 13), _utc(2026, 11, 1, 14)]
    skipped = _slots({**raw, "time": "02:30"}, _utc(2026, 3, 7, 12), 2)
    assert skipped == [_utc(2026, 3, 8, 7), _utc(2026, 3, 9, 6, 30)]  # 02:30 skipped: at 03:00 EDT


def test_weekly_on_a_weekday() -> None:
    raw = {"cadence": "weekly", "time": "08:15", "weekday": 1, "timeZone": "Europe/Berlin"}
    slots = _slots(raw, _utc(2026, 3, 25), 2)
    assert slots == [_utc(2026, 3, 30, 6, 15), _utc(2026, 4, 6, 6, 15)]  # Mondays, CEST


def test_monthly_on_the_31st_uses_the_last_day_of_shorter_months() -> None:
    raw = {"cadence": "monthly", "time": "09:00", "dayOfMonth": 31, "timeZone": "America/New_York"}
    slots = _slots(raw, _utc(2026, 1, 1), 4)
    assert slots == [_utc(2026, 1, 31, 14), _utc(2026, 2, 28, 14), _utc(2026, 3, 31, 13), _utc(2026, 4, 30, 13)]
    assert _slots(raw, _utc(2028, 2, 1), 1) == [_utc(2028, 2, 29, 14)]  # leap year


def test_cron_in_its_zone_across_the_change() -> None:
    raw = {"cadence": "cron", "cron": "30 1 * * *", "timeZone": "Europe/London"}
    assert _slots(raw, _utc(2026, 3, 28, 12), 2) == [_utc(2026, 3, 29, 1, 0), _utc(2026, 3, 30, 0, 30)]
    every_half_hour = _slots({**raw, "cron": "*/30 * * * *"}, _utc(2026, 10, 24, 23, 50), 4)
    # The repeated hour's real half hours each run once: 4 distinct instants 30 minutes apart.
    assert [b - a for a, b in itertools.pairwise(every_half_hour)] == [timedelta(minutes=30)] * 3


def test_missed_slots_collapse_into_one_run_of_the_latest() -> None:
    t = parse_timing({"cadence": "daily", "time": "06:00", "timeZone": "UTC"})
    slot, following = due(t, _utc(2026, 5, 1, 6), _utc(2026, 5, 10, 12))
    assert (slot, following) == (_utc(2026, 5, 10, 6), _utc(2026, 5, 11, 6))
    minutely = parse_timing({"cadence": "cron", "cron": "*/5 * * * *", "timeZone": "UTC"})
    slot, following = due(minutely, _utc(2025, 1, 1), _utc(2026, 5, 10, 12, 7))
    assert (slot, following) == (_utc(2026, 5, 10, 12, 5), _utc(2026, 5, 10, 12, 10))


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"cadence": "hourly", "timeZone": "UTC"}, "cadence"),
        ({"cadence": "daily", "time": "09:00", "timeZone": "Mars/Olympus"}, "timeZone"),
        ({"cadence": "daily", "time": "09:00", "timeZone": "posix/Europe/London"}, "timeZone"),
        ({"cadence": "daily", "time": "24:00", "timeZone": "UTC"}, "time"),
        ({"cadence": "daily", "timeZone": "UTC"}, "time"),
        ({"cadence": "daily", "time": "09:00", "cron": "0 9 * * *", "timeZone": "UTC"}, "cron"),
        ({"cadence": "weekly", "time": "09:00", "weekday": 8, "timeZone": "UTC"}, "weekday"),
        ({"cadence": "monthly", "time": "09:00", "dayOfMonth": 0, "timeZone": "UTC"}, "dayOfMonth"),
        ({"cadence": "cron", "cron": "61 * * * *", "timeZone": "UTC"}, "cron"),
        ({"cadence": "cron", "cron": "0 9 * *", "timeZone": "UTC"}, "cron"),
        ({"cadence": "cron", "cron": "0 0 9 * * *", "timeZone": "UTC"}, "cron"),
        ({"cadence": "cron", "cron": "* * * * *", "timeZone": "UTC"}, "cron"),
        ({"cadence": "cron", "cron": "0 0 30 2 *", "timeZone": "UTC"}, "cron"),
    ],
)
def test_bad_timing_names_the_field(raw: dict, field: str) -> None:
    with pytest.raises(DomainError) as exc:
        parse_timing(raw)
    assert exc.value.field == field
