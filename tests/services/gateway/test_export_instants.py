"""An export link exports the days it was requested for, even if the organisation's time zone changes before use."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.factories import create_order, gql
from tests.services.gateway.test_orders_graphql import EXPORT, download


async def test_a_link_keeps_its_days_and_zone(gateway, pool, tenant) -> None:
    # An order at 23:30 London time yesterday: in Tokyo (+9) that instant is already "today".
    london = ZoneInfo("Europe/London")
    yesterday = (datetime.now(UTC).astimezone(london) - timedelta(days=1)).replace(hour=23, minute=30, second=0)
    order = await create_order(pool, tenant, ref="late-yesterday", created_at=yesterday)
    body = await gql(
        gateway,
        EXPORT,
        {"k": "ORDERS", "fmt": "CSV", "of": {"range": {"preset": "YESTERDAY"}}},
        token=tenant.admin_token,
    )
    link = body["data"]["requestExport"]["url"]
    changed = await gql(
        gateway,
        'mutation { updateSettings(input: {timeZone: "Asia/Tokyo"}) { errors { field } } }',
        token=tenant.admin_token,
    )
    assert changed["data"]["updateSettings"]["errors"] == []
    rows = list(csv.DictReader(io.StringIO((await download(gateway, link)).decode())))
    assert [r["order_id"] for r in rows] == [str(order["id"])]  # London's yesterday, as when requested
    fresh = await gql(
        gateway,
        EXPORT,
        {"k": "ORDERS", "fmt": "CSV", "of": {"range": {"preset": "YESTERDAY"}}},
        token=tenant.admin_token,
    )
    rows = list(csv.DictReader(io.StringIO((await download(gateway, fresh["data"]["requestExport"]["url"])).decode())))
    tokyo = ZoneInfo("Asia/Tokyo")
    in_tokyo_yesterday = yesterday.astimezone(tokyo).date() == datetime.now(UTC).astimezone(tokyo).date() - timedelta(
        days=1
    )
    assert (str(order["id"]) in [r["order_id"] for r in rows]) == in_tokyo_yesterday  # a new link: the new zone
