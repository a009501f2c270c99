"""The shared date presets and ranges: the same days everywhere, in the organisation's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from shared.presets import MAX_RANGE_DAYS, DatePreset, DateRange, preset_days, today_in


@pytest.mark.parametrize(
    ("preset", "today", "expected"),
    [
        (DatePreset.TODAY, date(2026, 3, 29), (date(2026, 3, 29), date(2026, 3, 29))),
        (DatePreset.YESTERDAY, date(2026, 3, 1), (date(2026, 2, 28), date(2026, 2, 28))),
        (DatePreset.LAST_7_DAYS, date(2026, 3, 29), (date(2026, 3, 23), date(2026, 3, 29))),
        (DatePreset.LAST_30_DAYS, date(2026, 3, 29), (date(2026, 2, 28), date(2026, 3, 29))),
        (DatePreset.LAST_90_DAYS, date(2026, 3, 29), (date(2025, 12, 30), date(2026, 3, 29))),
        (DatePreset.THIS_MONTH, date(2026, 3, 29), (date(2026, 3, 1), date(2026, 3, 29))),
        (DatePreset.THIS_MONTH, date(2026, 3, 1), (date(2026, 3, 1), date(2026, 3, 1))),
        (DatePreset.LAST_MONTH, date(2026, 3, 29), (date(2026, 2, 1), date(2026, 2, 28))),
        (DatePreset.LAST_MONTH, date(2026, 1, 31), (date(2025, 12, 1), date(2025, 12, 31))),
        (DatePreset.LAST_MONTH, date(2024, 3, 10), (date(2024, 2, 1), date(2024, 2, 29))),
    ],
)
def test_each_preset_covers_its_days(preset: DatePreset, today: date, expected: tuple[date, date]) -> None:
    assert preset_days(preset, today) == expected


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/London", date(2026, 3, 28)),  # still GMT: summer time starts at 01:00 UTC on the 29th
        ("America/New_York", date(2026, 3, 28)),
        ("Asia/Kolkata", date(2026, 3, 29)),  # +5:30
        ("Pacific/Chatham", date(2026, 3, 29)),  # +13:45 in its summer
        ("Pacific/Pago_Pago", date(2026, 3, 28)),  # -11
    ],
)
def test_today_is_the_organisations_calendar_day(zone: str, expected: date) -> None:
    now = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert today_in(zone, now) == expected
    assert DateRange(preset=DatePreset.TODAY).days(zone, now) == (expected, expected)


def test_custom_ranges_are_inclusive_and_bounded() -> None:
    assert DateRange.model_validate({"from": "2026-01-01", "to": "2026-01-31"}).days("UTC") == (
        date(2026, 1, 1),
        date(2026, 1, 31),
    )
    assert DateRange.model_validate({"from": "2026-01-01"}).days("UTC") == (date(2026, 1, 1), None)
    longest = date.fromordinal(date(2024, 1, 1).toordinal() + MAX_RANGE_DAYS - 1)
    DateRange.model_validate({"from": "2024-01-01", "to": longest.isoformat()})
    bad = [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "'from' must not be after 'to'"),
        ({"from": "2016-01-01", "to": "2026-01-01"}, "at most"),
        ({"from": "0001-01-01", "to": "9999-12-31"}, "between"),
        ({"from": "2026-02-30"}, "date"),
        ({"preset": "LAST_7_DAYS", "from": "2026-01-01"}, "either a preset"),
        ({"preset": "LAST_WEEK"}, "preset"),
    ]
    for data, reason in bad:
        with pytest.raises(ValidationError) as exc:
            DateRange.model_validate(data)
        assert reason in str(exc.value), (data, str(exc.value))
