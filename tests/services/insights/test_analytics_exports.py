"""The Analytics tab's exports: the rows behind the tab's numbers, nothing of another organisation, text cells
neutralised, CSV and XLSX alike (the insights API, called as the gateway calls it)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from shared.auth import service_tokens
from shared.db import tenant_tx
from tests.factories import Tenant
from tests.services.insights import analytics_data as data
from tests.services.insights.test_analytics import SERIES, STEP, ask, build, local


async def export(
    settings: Any, insights_url: str, t: Tenant, kind: str, fmt: str, f: dict[str, Any]
) -> list[list[Any]]:
    token = service_tokens.mint(
        settings.service_token_secret, caller="gateway", audience="insights", org_id=str(t.org_id), role="admin"
    )
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{insights_url}/internal/exports/{kind}.{fmt}",
            json={"filter": f},
            headers={"authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    if fmt == "csv":
        return [list(row) for row in csv.reader(io.StringIO(r.text))]
    book = load_workbook(io.BytesIO(r.content), read_only=True)
    return [["" if v is None else v for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]


async def test_exports_hold_the_rows_behind_the_numbers_of_one_organisation_only(
    gateway, pool, insights_pool, tenant, other_tenant, settings, insights_url
) -> None:
    built = await build(gateway, pool, insights_pool, tenant)
    d1, d2 = built["d1"], built["d2"]
    # A customer whose channel reads like a formula, and another organisation's activity the same days.
    await data.ingest(gateway, tenant.api_key, [data.event("visit", local(d1, 8, 0), "formula")])
    # The channel is the integration's (from the orders service): set on the stored event as test data.
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        await conn.execute(
            "UPDATE events SET channel = '=HYPERLINK(1)' WHERE org_id = $1 AND anonymous_id = 'formula'", tenant.org_id
        )
    await build(gateway, pool, insights_pool, other_tenant)
    f = {"range": {"from": d2.isoformat(), "to": d1.isoformat()}}

    series = (await ask(gateway, tenant, SERIES, f=f))["analytics"]
    funnel_step1 = (await ask(gateway, tenant, STEP, f=f, s=1))["funnelCustomers"]["totalCount"]
    for fmt in ("csv", "xlsx"):
        orders = await export(settings, insights_url, tenant, "analytics_orders", fmt, f)
        customers = await export(settings, insights_url, tenant, "analytics_customers", fmt, f)
        # Orders: the series' ordersCreated over the range, and exactly the three orders built.
        assert len(orders) - 1 == sum(pt["ordersCreated"] for pt in series["points"]) == 3
        assert {str(r[0]) for r in orders[1:]} == {str(o["id"]) for o in built["orders"]}
        # Customers: r, n, m and "formula", each once; the funnel's step 1 counts those with furthest_step >= 1.
        header = customers[0]
        assert header[:3] == ["customer_id", "first_seen", "last_seen"]
        rows = customers[1:]
        assert len(rows) == len({str(r[0]) for r in rows}) == 4
        reached = header.index("furthest_step")
        assert sum(int(r[reached]) >= 1 for r in rows) == funnel_step1
        channel = header.index("first_channel")
        assert "'=HYPERLINK(1)" in [r[channel] for r in rows]
        other = await export(settings, insights_url, other_tenant, "analytics_customers", fmt, f)
        assert not {str(r[0]) for r in rows} & {str(r[0]) for r in other[1:]}
        # Two days' visits add up to the series' visits.
        visits = header.index("visits")
        assert sum(int(r[visits]) for r in rows) == sum(pt["visits"] for pt in series["points"])
    # A range before any activity exports only the header.
    early = {"range": {"from": (d2 - timedelta(days=30)).isoformat(), "to": (d2 - timedelta(days=29)).isoformat()}}
    assert await export(settings, insights_url, tenant, "analytics_orders", "csv", early) == [orders[0]]
