"""Series buckets: presets, hourly up to 2 days, organisation-local days, DST days of 23 and 25 hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.insights.domain import buckets
from services.insights.domain.buckets import Granularity
from shared.errors import DomainError
from shared.presets import DatePreset, DateRange


def _span(tz: str, *, now: datetime | None = None, **kw: str) -> buckets.Span:
    return buckets.span(DateRange.model_validate(kw), tz, now)


def _days(tz: str, first: str, last: str | None = None) -> buckets.Span:
    return buckets.span(DateRange.model_validate({"from": first, "to": last or first}), tz)


def test_presets_resolve_in_the_organisation_time_zone() -> None:
    # 23:30 UTC on 1 March is already 2 March in Auckland (UTC+13).
    now = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)
    s = _span("Pacific/Auckland", now=now, preset="TODAY")
    assert (s.first_day, s.last_day) == (date(2024, 3, 2), date(2024, 3, 2))
    assert s.granularity is Granularity.HOUR and len(s.buckets) == 24
    assert s.buckets[0].start == datetime(2024, 3, 1, 11, tzinfo=UTC)
    s = _span("UTC", now=now, preset="LAST_7_DAYS")
    assert s.granularity is Granularity.DAY
    assert [b.day for b in s.buckets] == [date(2024, 2, 24) + timedelta(days=i) for i in range(7)]
    s = _span("UTC", now=now, preset="LAST_MONTH")
    assert (s.first_day, s.last_day, len(s.buckets)) == (date(2024, 2, 1), date(2024, 2, 29), 29)
    for preset in DatePreset:
        s = _span("Europe/London", now=now, preset=preset.value)
        # No missing bucket: consecutive, each ending where the next starts, covering the range exactly.
        assert s.buckets[0].start == s.start and s.buckets[-1].end == s.end
        assert all(a.end == b.start for a, b in zip(s.buckets, s.buckets[1:], strict=False))


def test_hourly_up_to_two_days_then_daily() -> None:
    two = _days("UTC", "2024-05-01", "2024-05-02")
    three = _days("UTC", "2024-05-01", "2024-05-03")
    assert two.granularity is Granularity.HOUR and len(two.buckets) == 48
    assert three.granularity is Granularity.DAY and len(three.buckets) == 3
    assert [b.day for b in two.buckets] == [date(2024, 5, 1)] * 24 + [date(2024, 5, 2)] * 24


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        ("Europe/London", "2024-03-31", 23),
        ("Europe/London", "2024-10-27", 25),
        ("America/New_York", "2024-03-10", 23),
        ("America/New_York", "2024-11-03", 25),
        ("Australia/Lord_Howe", "2024-04-07", 25),  # half an hour back: 24.5 hours, the last point half long
        ("UTC", "2024-03-31", 24),
    ],
)
def test_dst_days_have_23_or_25_hourly_points(tz: str, day: str, hours: int) -> None:
    s = _days(tz, day, day)
    assert len(s.buckets) == hours
    assert all(b.end - b.start <= timedelta(hours=1) for b in s.buckets)
    assert s.buckets[-1].end == s.end
    daily = _days(tz, day, (date.fromisoformat(day) + timedelta(days=3)).isoformat())
    assert daily.buckets[0].end - daily.buckets[0].start == s.end - s.start


def test_local_midnight_matches_postgresql_rules() -> None:
    assert buckets.local_midnight(date(2024, 7, 1), "Europe/London") == datetime(2024, 6, 30, 23, tzinfo=UTC)
    assert buckets.local_midnight(date(2024, 1, 1), "Asia/Kolkata") == datetime(2023, 12, 31, 18, 30, tzinfo=UTC)
    # Havana skips midnight in spring: the day starts at 01:00 local = 05:00 UTC, as PostgreSQL resolves it.
    assert buckets.local_midnight(date(2024, 3, 10), "America/Havana") == datetime(2024, 3, 10, 5, tzinfo=UTC)


def test_half_hour_zones_are_not_hour_aligned() -> None:
    assert not _days("Asia/Kolkata", "2024-05-01", "2024-05-01").hours_aligned
    assert _days("Europe/Paris", "2024-05-01", "2024-05-01").hours_aligned


def test_bucket_lookup_and_refusals_name_the_field() -> None:
    s = _days("Europe/London", "2024-05-01", "2024-05-01")
    assert s.bucket_at(datetime(2024, 5, 1, 2, tzinfo=UTC)) == s.buckets[3]
    with pytest.raises(DomainError) as e:
        s.bucket_at(datetime(2024, 5, 1, 2, 30, tzinfo=UTC))
    assert e.value.field == "bucket"
    with pytest.raises(DomainError) as e:
        s.bucket_at(datetime(2024, 5, 1, 2))
    assert e.value.field == "bucket"
    with pytest.raises(DomainError) as e:
        buckets.span(DateRange.model_validate({"from": "2024-05-01"}), "UTC")
    assert e.value.field == "filter.range.to"
