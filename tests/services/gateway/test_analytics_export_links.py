"""The Analytics tab's "Download CSV" through signed export links: the rows behind the tab's numbers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from tests.factories import gql
from tests.services.gateway.test_orders_graphql import download
from tests.services.insights import analytics_data as data

EXPORT = """mutation($k: ExportKind!, $af: AnalyticsFilterInput, $of: OrderFilterInput) {
  requestExport(kind: $k, format: CSV, analyticsFilter: $af, orderFilter: $of) {
    url errors { field code message } } }"""
SERIES = """query($f: AnalyticsFilterInput!) { analytics(filter: $f) { points { ordersCreated visits } } }"""


async def _rows(gateway, url: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((await download(gateway, url)).decode())))


async def test_the_tab_exports_its_customers_and_orders(gateway, pool, insights_pool, tenant, other_tenant) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    visitors = [f"v-{n}" for n in range(3)]
    await data.ingest(gateway, tenant.api_key, [data.event("visit", now, v) for v in visitors])
    await data.ingest(gateway, other_tenant.api_key, [data.event("visit", now, "someone-else")])
    orders = [await data.order(pool, insights_pool, tenant) for _ in range(2)]
    f = {"range": {"preset": "LAST_7_DAYS"}}

    body = await gql(gateway, EXPORT, {"k": "ANALYTICS_ORDERS", "af": f}, token=tenant.member_token)
    assert body["data"]["requestExport"]["errors"] == [], body
    rows = await _rows(gateway, body["data"]["requestExport"]["url"])
    series = await gql(gateway, SERIES, {"f": f}, token=tenant.member_token)
    created = sum(p["ordersCreated"] for p in series["data"]["analytics"]["points"])
    assert len(rows) == created == len(orders)
    assert {r[next(iter(r))] for r in rows} == {str(o["id"]) for o in orders}

    body = await gql(gateway, EXPORT, {"k": "ANALYTICS_CUSTOMERS", "af": f}, token=tenant.member_token)
    rows = await _rows(gateway, body["data"]["requestExport"]["url"])
    visited = [r for r in rows if int(r.get("visits") or 0) > 0]
    assert len(visited) == 3  # the three visitors; never the other organisation's

    # A filter of another kind is refused naming it; an analytics export without its filter names the one it needs.
    wrong = await gql(gateway, EXPORT, {"k": "ANALYTICS_ORDERS", "af": f, "of": {}}, token=tenant.member_token)
    assert [e["field"] for e in wrong["data"]["requestExport"]["errors"]] == ["orderFilter"]
    missing = await gql(gateway, EXPORT, {"k": "ANALYTICS_CUSTOMERS"}, token=tenant.member_token)
    assert [e["field"] for e in missing["data"]["requestExport"]["errors"]] == ["analyticsFilter"]
    bad = await gql(
        gateway,
        EXPORT,
        {"k": "ANALYTICS_CUSTOMERS", "af": {"range": {"from": "2026-05-02", "to": "2026-05-01"}}},
        token=tenant.member_token,
    )
    errors = (bad.get("data") or {}).get("requestExport", {}).get("errors") or bad.get("errors")
    assert errors and "range" in str(errors), bad
