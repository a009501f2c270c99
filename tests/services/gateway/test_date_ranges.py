"""Every shared preset through GraphQL: the summary counts exactly the rows the list pages through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.presets import DatePreset, preset_days
from tests.factories import create_order, create_tenant, gql
from tests.services.gateway.test_orders_graphql import SUMMARY, all_rows


@pytest.fixture
async def kolkata(pool, issuer):
    """A tenant at +5:30 with orders spread over the last 70 days, around local midnights."""
    t = await create_tenant(pool, issuer, time_zone="Asia/Kolkata")
    now = datetime.now(UTC)
    for days_ago in (0, 1, 2, 6, 7, 29, 30, 35, 40, 65):
        for minutes in (-20, 20):  # just before and after a local midnight
            local_midnight = (
                (now - timedelta(days=days_ago))
                .astimezone(ZoneInfo("Asia/Kolkata"))
                .replace(hour=0, minute=0, second=0, microsecond=0)
            )
            at = local_midnight + timedelta(minutes=minutes)
            if at <= now:
                await create_order(pool, t, created_at=at)
    return t


@pytest.mark.parametrize("preset", list(DatePreset))
async def test_each_preset_counts_the_organisations_days(gateway, kolkata, preset: DatePreset) -> None:
    f = {"range": {"preset": preset.value}}
    body = await gql(gateway, SUMMARY, {"f": f}, token=kolkata.admin_token)
    assert "errors" not in body, body
    rows = await all_rows(gateway, kolkata.admin_token, f)
    assert body["data"]["ordersSummary"]["totalOrders"] == len(rows)
    zone = ZoneInfo("Asia/Kolkata")
    first, last = preset_days(preset, datetime.now(UTC).astimezone(zone).date())
    from_db = await _created_dates(gateway, kolkata)
    assert len(rows) == sum(1 for d in from_db if first <= d <= last)


async def _created_dates(gateway, tenant):
    rows = await gql(
        gateway,
        "query { orders(first: 100) { edges { node { createdAt } } } }",
        token=tenant.admin_token,
    )
    zone = ZoneInfo("Asia/Kolkata")
    return [
        datetime.fromisoformat(e["node"]["createdAt"]).astimezone(zone).date() for e in rows["data"]["orders"]["edges"]
    ]


@pytest.mark.parametrize(
    ("rng", "reason"),
    [
        ({"from": "2016-01-01", "to": "2026-01-01"}, "at most"),
        ({"from": "0001-01-01", "to": "9999-12-31"}, "between"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "after"),
    ],
)
async def test_bad_ranges_are_refused_naming_the_range(gateway, tenant, rng, reason) -> None:
    body = await gql(gateway, SUMMARY, {"f": {"range": rng}}, token=tenant.admin_token)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INVALID_INPUT" and "range" in error["extensions"]["field"]
    assert reason in error["message"]


async def test_an_impossible_date_is_refused_with_a_code(gateway, tenant) -> None:
    body = await gql(
        gateway,
        'query { ordersSummary(filter: {range: {from: "2026-02-30"}}) { totalOrders } }',
        token=tenant.admin_token,
    )
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": "filter.range.from"}
