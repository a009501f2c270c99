"""Orders through GraphQL: summary, filters, drill-down, exports, manual commission."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.factories import create_order, create_tenant, gql

SUMMARY = """query($f: OrderFilterInput) { ordersSummary(filter: $f) { totalOrders successfulOrders pendingOrders
  failedOrders commissionPending { amount currency } commissionPaid { amount currency } } }"""
PAGE = """query($f: OrderFilterInput, $after: String) { orders(filter: $f, first: 100, after: $after) {
  edges { node { id status commStatus commission { amount currency } category { name } } }
  pageInfo { hasNextPage endCursor } } }"""
EXPORT = """mutation($k: ExportKind!, $fmt: ExportFormat!, $of: OrderFilterInput, $cf: CustomerFilterInput) {
  requestExport(kind: $k, format: $fmt, orderFilter: $of, customerFilter: $cf) {
    url expiresAt errors { field code message } } }"""


async def all_rows(gateway: Any, token: str, f: dict[str, Any]) -> list[dict[str, Any]]:
    rows, after = [], None
    while True:
        body = await gql(gateway, PAGE, {"f": f, "after": after}, token=token)
        assert "errors" not in body, body
        page = body["data"]["orders"]
        rows += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    status = Counter(r["status"] for r in rows)
    money: dict[str, dict[str, Decimal]] = {"PENDING": {}, "SUCCESSFUL": {}}
    for r in rows:
        if r["commStatus"] in money:
            bucket = money[r["commStatus"]]
            cur = r["commission"]["currency"]
            bucket[cur] = bucket.get(cur, Decimal(0)) + Decimal(r["commission"]["amount"])
    return {
        "totalOrders": len(rows),
        "successfulOrders": status["SUCCESSFUL"],
        "pendingOrders": status["PENDING"],
        "failedOrders": status["FAILED"],
        "commissionPending": [{"amount": str(a), "currency": c} for c, a in sorted(money["PENDING"].items())],
        "commissionPaid": [{"amount": str(a), "currency": c} for c, a in sorted(money["SUCCESSFUL"].items())],
    }


async def download(gateway: Any, url: str) -> bytes:
    r = await gateway.get(url.removeprefix("http://gateway.test"))
    assert r.status_code == 200, r.text
    return r.content


@pytest.fixture
async def shop(pool: Any, issuer: Any) -> Any:
    """A tenant with orders over 40 days in every state, two currencies, three categories."""
    t = await create_tenant(pool, issuer)
    now = datetime.now(UTC)
    plan = [
        ("Broadband", "PENDING"),
        ("Broadband", "SUCCESSFUL"),
        ("Credit Cards", "FAILED"),
        ("Current Accounts", "SUCCESSFUL"),
        ("App card", "SUCCESSFUL"),
        ("Credit Cards", "SUCCESSFUL"),
    ]
    for i in range(36):
        product, status = plan[i % len(plan)]
        await create_order(
            pool,
            t,
            ref=f"shop-{i:03d}",
            product=product,
            status=status,
            created_at=now - timedelta(days=i, hours=1),
            email=f"c{i % 7}@example.com",
        )
    return t


async def pay(gateway: Any, t: Any, order_id: str) -> dict[str, Any]:
    return await gql(
        gateway,
        """mutation($id: ID!) { updateCommissionStatus(orderId: $id, commStatus: SUCCESSFUL) {
        changed order { commStatus } errors { field code message } } }""",
        {"id": order_id},
        token=t.provider_token,
    )


FILTERS = [
    {},
    {"range": {"preset": "LAST_7_DAYS"}},
    {"range": {"preset": "LAST_30_DAYS"}, "statuses": ["SUCCESSFUL"]},
    {"commStatuses": ["PENDING"]},
    {"statuses": ["FAILED", "PENDING"]},
    {"search": "shop-01"},
]


@pytest.mark.parametrize("f", FILTERS)
async def test_every_summary_number_drills_down_to_the_list_and_the_export(gateway, shop, f):
    rows = await all_rows(gateway, shop.admin_token, f)
    # mark some commissions paid so both buckets are populated
    for r in rows[:3]:
        if r["status"] == "SUCCESSFUL" and r["commStatus"] == "PENDING":
            assert not (await pay(gateway, shop, r["id"]))["data"]["updateCommissionStatus"]["errors"]
    rows = await all_rows(gateway, shop.admin_token, f)
    summary = (await gql(gateway, SUMMARY, {"f": f}, token=shop.admin_token))["data"]["ordersSummary"]
    assert summary == totals(rows)
    link = (await gql(gateway, EXPORT, {"k": "ORDERS", "fmt": "CSV", "of": f}, token=shop.admin_token))["data"][
        "requestExport"
    ]
    exported = list(csv.DictReader(io.StringIO((await download(gateway, link["url"])).decode())))
    assert sorted(r["order_id"] for r in exported) == sorted(r["id"] for r in rows)
    paid = sum(
        Decimal(r["commission_amount"]) for r in exported if r["comm_status"] == "SUCCESSFUL" and r["currency"] == "GBP"
    )
    assert [m for m in summary["commissionPaid"] if m["currency"] == "GBP"] == (
        [{"amount": str(paid), "currency": "GBP"}] if paid else []
    )


async def test_category_and_integration_filters_and_currencies(gateway, shop):
    f = {"categoryIds": [str(shop.categories["Current Accounts"])]}
    summary = (await gql(gateway, SUMMARY, {"f": f}, token=shop.admin_token))["data"]["ordersSummary"]
    assert summary["totalOrders"] == 6 and summary["commissionPending"] == [{"amount": "480.00", "currency": "EUR"}]
    everything = (await gql(gateway, SUMMARY, {"f": {}}, token=shop.admin_token))["data"]["ordersSummary"]
    assert {m["currency"] for m in everything["commissionPending"]} == {"EUR", "GBP"}  # never added together
    by_integration = {"integrationIds": [str(shop.second_integration_id)]}
    rows = await all_rows(gateway, shop.admin_token, by_integration)
    assert len(rows) == 6 and {r["category"]["name"] for r in rows} == {"Credit Cards"}


async def test_date_ranges_are_days_of_the_organisation_time_zone(gateway, pool, issuer):
    t = await create_tenant(pool, issuer, time_zone="Asia/Tokyo")
    # 16:30 UTC on 10 Jan is 01:30 on 11 Jan in Tokyo
    await create_order(pool, t, ref="tz-1", created_at=datetime(2026, 1, 10, 16, 30, tzinfo=UTC))
    for day, expected in (("2026-01-10", 0), ("2026-01-11", 1)):
        f = {"range": {"from": day, "to": day}}
        summary = (await gql(gateway, SUMMARY, {"f": f}, token=t.admin_token))["data"]["ordersSummary"]
        assert summary["totalOrders"] == expected == len(await all_rows(gateway, t.admin_token, f))
    # Moving the organisation to London re-buckets the days (rollups rebuilt in the same transaction).
    body = await gql(
        gateway,
        'mutation { updateSettings(input: {timeZone: "Europe/London"}) { errors { field } } }',
        token=t.admin_token,
    )
    assert body["data"]["updateSettings"]["errors"] == []
    f = {"range": {"from": "2026-01-10", "to": "2026-01-10"}}
    assert (await gql(gateway, SUMMARY, {"f": f}, token=t.admin_token))["data"]["ordersSummary"]["totalOrders"] == 1


@pytest.mark.parametrize(
    "f,field",
    [
        ({"range": {"from": "2026-02-01", "to": "2026-01-01"}}, "filter.range"),
        ({"range": {"preset": "TODAY", "from": "2026-01-01"}}, "filter.range"),
        ({"integrationIds": ["not-a-uuid"]}, "filter.integrationIds"),
    ],
)
async def test_bad_filters_are_refused_naming_the_field(gateway, tenant, f, field):
    body = await gql(gateway, SUMMARY, {"f": f}, token=tenant.admin_token)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["field"] == field, body


async def test_manual_commission_rules(gateway, pool, tenant):
    pending = await create_order(pool, tenant, status="PENDING")
    ok = await create_order(pool, tenant, status="SUCCESSFUL")
    body = await pay(gateway, tenant, str(pending["id"]))
    err = body["data"]["updateCommissionStatus"]["errors"][0]
    assert err["code"] == "ILLEGAL_TRANSITION" and err["field"] == "commStatus"
    body = await gql(
        gateway,
        """mutation($id: ID!) { updateCommissionStatus(orderId: $id, commStatus: NA) {
        errors { field code } } }""",
        {"id": str(ok["id"])},
        token=tenant.provider_token,
    )
    assert body["data"]["updateCommissionStatus"]["errors"][0]["code"] == "ILLEGAL_TRANSITION"
    body = await gql(
        gateway,
        """mutation($id: ID!) { updateCommissionStatus(orderId: $id, commStatus: PENDING, amount: "-3") {
        errors { field code } } }""",
        {"id": str(ok["id"])},
        token=tenant.provider_token,
    )
    assert body["data"]["updateCommissionStatus"]["errors"][0]["field"] == "amount"
    first = await pay(gateway, tenant, str(ok["id"]))
    assert first["data"]["updateCommissionStatus"]["changed"] is True
    again = await pay(gateway, tenant, str(ok["id"]))
    assert again["data"]["updateCommissionStatus"]["changed"] is False  # idempotent
    history = (
        await gql(
            gateway,
            "query($id: ID!) { orderHistory(id: $id) { toCommStatus source actor onBehalfOfProviderName } }",
            {"id": str(ok["id"])},
            token=tenant.admin_token,
        )
    )["data"]["orderHistory"]
    assert [(h["toCommStatus"], h["source"]) for h in history] == [("PENDING", "integration"), ("SUCCESSFUL", "manual")]
    assert history[-1]["actor"] == f"user:{tenant.provider_subject}"
    assert history[-1]["onBehalfOfProviderName"] == "Acme Bank"
    state = (
        await gql(
            gateway,
            "query($id: ID!) { order(id: $id) { status commStatus } }",
            {"id": str(pending["id"])},
            token=tenant.admin_token,
        )
    )["data"]["order"]
    assert state == {"status": "PENDING", "commStatus": "NA"}


async def test_xlsx_export_holds_the_same_rows(gateway, shop):
    from openpyxl import load_workbook

    f = {"statuses": ["SUCCESSFUL"]}
    link = (await gql(gateway, EXPORT, {"k": "ORDERS", "fmt": "XLSX", "of": f}, token=shop.admin_token))["data"][
        "requestExport"
    ]
    wb = load_workbook(io.BytesIO(await download(gateway, link["url"])), read_only=True)
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0][:4] == ("order_id", "external_ref", "created_at", "status")
    summary = (await gql(gateway, SUMMARY, {"f": f}, token=shop.admin_token))["data"]["ordersSummary"]
    assert len(rows) - 1 == summary["totalOrders"] and {r[3] for r in rows[1:]} == {"SUCCESSFUL"}


async def test_export_filter_errors_and_tampered_links(gateway, tenant):
    body = await gql(
        gateway,
        EXPORT,
        {"k": "ORDERS", "fmt": "CSV", "of": {"range": {"from": "2026-02-01", "to": "2026-01-01"}}},
        token=tenant.admin_token,
    )
    payload = body["data"]["requestExport"]
    assert payload["url"] is None and payload["errors"][0]["field"] == "orderFilter.range"
    r = await gateway.get("/exports/not-a-token")
    assert r.status_code == 403


async def test_customers_export_csv_neutralises_formulas(gateway, pool, tenant):
    await create_order(pool, tenant, email="=cmd@example.com")
    link = (
        await gql(gateway, EXPORT, {"k": "CUSTOMERS", "fmt": "CSV", "cf": {"search": "=cmd"}}, token=tenant.admin_token)
    )["data"]["requestExport"]
    rows = list(csv.DictReader(io.StringIO((await download(gateway, link["url"])).decode())))
    assert [r["email"] for r in rows] == ["'=cmd@example.com"]


async def test_page_size_is_capped(gateway, tenant):
    body = await gql(gateway, "{ orders(first: 101) { pageInfo { hasNextPage } } }", token=tenant.admin_token)
    assert body["errors"][0]["extensions"] == {"code": "INVALID_PAGE_SIZE", "field": "first"}


async def test_search_is_a_literal_prefix_and_uses_an_index_under_rls(gateway, pool, tenant):
    for ref in ("abc_1", "abcX1", "abd-1", "ab%"):
        await create_order(pool, tenant, ref=ref)

    def refs(body: dict[str, Any]) -> list[str]:
        return sorted(e["node"]["externalRef"] for e in body["data"]["orders"]["edges"])

    query = "query($s: String) { orders(first: 20, filter: {search: $s}) { edges { node { externalRef } } } }"
    assert refs(await gql(gateway, query, {"s": "abc_"}, token=tenant.admin_token)) == ["abc_1"]  # _ is literal
    assert refs(await gql(gateway, query, {"s": "ab%"}, token=tenant.admin_token)) == ["ab%"]  # % is literal
    assert refs(await gql(gateway, query, {"s": "abc"}, token=tenant.admin_token)) == ["abcX1", "abc_1"]
    from services.orders.domain.filters import OrderFilter
    from services.orders.repository.orders import where_clause
    from shared.db import tenant_tx

    args: list = []
    where = where_clause(tenant.org_id, OrderFilter(search="abc"), "UTC", args)
    async with tenant_tx(pool, tenant.org_id) as conn:
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN SELECT id FROM orders o WHERE {where}", *args))
    assert "orders_external_ref_prefix" in plan, plan
