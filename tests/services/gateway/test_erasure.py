"""Erasing a customer: personal fields go everywhere the orders service holds them, orders and figures stay."""

from __future__ import annotations

import uuid

from shared.db import tenant_tx
from tests.factories import create_order, gql
from tests.services.gateway.test_orders_graphql import EXPORT, download

ERASE = "mutation($id: ID!) { eraseCustomer(id: $id) { erased errors { field code message } } }"
PROFILE = "query($id: ID!) { customer(id: $id) { id email displayName kind } }"
SUMMARY = "{ ordersSummary { totalOrders commissionPending { amount currency } } }"


async def test_an_erased_customer_keeps_orders_under_an_anonymous_name(gateway, pool, tenant) -> None:
    email = f"erase-me-{uuid.uuid4().hex[:6]}@example.com"
    orders = [await create_order(pool, tenant, email=email, status="SUCCESSFUL") for _ in range(2)]
    customer_id = str(orders[0]["customer_id"])
    before = (await gql(gateway, SUMMARY, token=tenant.admin_token))["data"]

    body = await gql(gateway, ERASE, {"id": customer_id}, token=tenant.admin_token)
    assert body["data"]["eraseCustomer"] == {"erased": True, "errors": []}
    profile = (await gql(gateway, PROFILE, {"id": customer_id}, token=tenant.admin_token))["data"]["customer"]
    assert profile["email"] is None and email not in profile["displayName"] and profile["kind"] == "ANONYMOUS"
    assert (await gql(gateway, SUMMARY, token=tenant.admin_token))["data"] == before
    async with tenant_tx(pool, tenant.org_id) as conn:
        kept = await conn.fetchval(
            "SELECT count(*) FROM orders WHERE org_id = $1 AND customer_id = $2",
            tenant.org_id,
            orders[0]["customer_id"],
        )
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM customers WHERE org_id = $1 AND lower(email) = lower($2)", tenant.org_id, email
        )
        published = await conn.fetch(
            "SELECT payload FROM outbox WHERE org_id = $1 AND type = 'customer.erased'", tenant.org_id
        )
    assert kept == 2 and leftovers == 0
    assert any(customer_id in str(p["payload"]) for p in published)
    link = (await gql(gateway, EXPORT, {"k": "CUSTOMERS", "fmt": "CSV", "cf": {}}, token=tenant.admin_token))["data"][
        "requestExport"
    ]["url"]
    assert email.encode() not in await download(gateway, link)

    again = await gql(gateway, ERASE, {"id": customer_id}, token=tenant.admin_token)
    assert again["data"]["eraseCustomer"] == {"erased": False, "errors": []}
    log = await gql(
        gateway, '{ auditLog(actions: ["customer.erased"]) { edges { node { target } } } }', token=tenant.admin_token
    )
    assert [e["node"]["target"] for e in log["data"]["auditLog"]["edges"]] == [customer_id]

    # The identifiers are gone: the same email later is a new customer.
    order = await create_order(pool, tenant, email=email)
    assert str(order["customer_id"]) != customer_id


async def test_only_admins_erase_and_only_their_own_customers(gateway, pool, tenant, other_tenant) -> None:
    order = await create_order(pool, tenant, email=f"keep-{uuid.uuid4().hex[:6]}@example.com")
    body = await gql(gateway, ERASE, {"id": str(order["customer_id"])}, token=tenant.member_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(gateway, ERASE, {"id": str(order["customer_id"])}, token=other_tenant.admin_token)
    assert [(e["code"], e["field"]) for e in body["data"]["eraseCustomer"]["errors"]] == [("NOT_FOUND", "id")]
    profile = (await gql(gateway, PROFILE, {"id": str(order["customer_id"])}, token=tenant.admin_token))["data"]
    assert profile["customer"]["email"] is not None


async def test_the_insights_store_forgets_the_customer_and_keeps_the_counts(
    gateway, pool, insights_pool, settings, tenant
) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.services.insights.feed import apply, outbox_events

    email = f"forget-{uuid.uuid4().hex[:6]}@example.com"
    now = datetime.now(UTC)
    events = [
        {
            "id": f"erase-{n}-{uuid.uuid4().hex[:6]}",
            "type": "visit" if n == 0 else "page_view",
            "occurredAt": (now - timedelta(minutes=10 - n)).isoformat(),
            "anonymousId": "device-cookie-42",
            "email": email,
            "device": {"id": "phone-1", "platform": "ios", "userAgent": "Mozilla/5.0 (iPhone)"},
            "properties": {"page": "/broadband", "referrer": "newsletter"},
        }
        for n in range(3)
    ]
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202 and r.json()["stored"] == 3, r.text
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        customer_id = await conn.fetchval(
            "SELECT customer_id FROM events WHERE org_id = $1 AND source_key = $2", tenant.org_id, events[0]["id"]
        )
        before = await conn.fetchval("SELECT sum(events) FROM customer_days WHERE org_id = $1", tenant.org_id)
    body = await gql(gateway, ERASE, {"id": str(customer_id)}, token=tenant.admin_token)
    assert body["data"]["eraseCustomer"]["erased"] is True
    erased = await outbox_events(pool, tenant.org_id, {"customer.erased"})
    assert await apply(insights_pool, settings, erased) == 1
    assert await apply(insights_pool, settings, erased) == 0  # a redelivery changes nothing

    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        rows = await conn.fetch(
            "SELECT * FROM events WHERE org_id = $1 AND customer_id = $2", tenant.org_id, customer_id
        )
        devices = await conn.fetchval(
            "SELECT count(*) FROM devices WHERE org_id = $1 AND customer_id = $2", tenant.org_id, customer_id
        )
        after = await conn.fetchval("SELECT sum(events) FROM customer_days WHERE org_id = $1", tenant.org_id)
    assert len(rows) == 3 and devices == 0 and after == before
    for r in rows:
        assert r["anonymous_id"] is None and r["device_id"] is None and r["properties"] in ("{}", {}), r
    profile = await gql(
        gateway,
        "query($id: ID!) { customer(id: $id) { email devices { deviceId } } }",
        {"id": str(customer_id)},
        token=tenant.admin_token,
    )
    assert profile["data"]["customer"] == {"email": None, "devices": []}
