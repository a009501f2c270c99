"""End to end through the real entry points: an order posted to the gateway's /v1/orders and a business event
posted to /v1/events reach the reports tables through the services' outboxes, and the watermarks endpoint says
so; and organisation B's rows never reach A, by row-level security alone or through the endpoint."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.orders.domain.commission import CommStatus, Status
from shared.auth import service_tokens
from shared.db import tenant_tx
from shared.messaging.contracts import REPORTS_FROM_ORDERS
from tests.services.reports.feed import apply_insights, apply_orders, outbox_events, table
from tests.services.reports.test_orders_events import _change

TENANT_TABLES = (
    "organisation_settings",
    "contacts",
    "orders",
    "commission_ledger",
    "business_events",
    "business_entities",
    "watermarks",
    "processed_events",
)


async def _activity(gateway: Any, tenant: Any) -> dict[str, str]:
    """An order and a business event of one new customer, through the gateway as an integration sends them."""
    tag = uuid.uuid4().hex[:8]
    headers = {"authorization": f"Bearer {tenant.api_key}"}
    r = await gateway.post(
        "/v1/orders",
        json={
            "externalRef": f"ref-{tag}",
            "productId": str(tenant.products["Broadband"]),
            "customer": {"email": f"c-{tag}@example.com"},
            "status": "SUCCESSFUL",
        },
        headers=headers,
    )
    assert r.status_code in (200, 201), r.text
    order_id = r.json()["order"]["id"]
    event = {
        "id": f"pay-{tag}",
        "type": "payment",
        "occurredAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "email": f"c-{tag}@example.com",
        "entityId": f"pay-{tag}",
        "state": "posted",
        "amount": "12.34",
        "currency": "GBP",
    }
    r = await gateway.post("/v1/events", json={"events": [event]}, headers=headers)
    assert r.status_code == 202 and r.json()["stored"] == 1, r.text
    return {"order_id": order_id, "entity_id": f"pay-{tag}"}


async def _feed(pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any) -> None:
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    await apply_insights(reports_pool, await outbox_events(insights_pool, tenant.org_id))


async def _watermarks(settings: Any, reports_url: str, tenant: Any) -> dict[str, Any]:
    token = service_tokens.mint(
        settings.service_token_secret, caller="gateway", audience="reports", org_id=str(tenant.org_id), role="admin"
    )
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{reports_url}/internal/reports/watermarks", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["watermarks"]
    return body


async def test_an_order_and_a_business_event_from_the_gateway_reach_the_reports_tables(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, settings: Any, reports_url: str, tenant: Any
) -> None:
    assert await _watermarks(settings, reports_url, tenant) == {"orders": None, "insights": None}
    made = await _activity(gateway, tenant)
    await _feed(pool, insights_pool, reports_pool, tenant)

    [order] = await table(
        reports_pool, tenant.org_id, "SELECT * FROM orders WHERE id = $1", uuid.UUID(made["order_id"])
    )
    assert (order["status"], order["comm_status"]) == ("SUCCESSFUL", "PENDING")
    [entity] = await table(
        reports_pool, tenant.org_id, "SELECT * FROM business_entities WHERE entity_id = $1", made["entity_id"]
    )
    assert (str(entity["amount"]), entity["currency"], entity["state"]) == ("12.34", "GBP", "posted")
    # One contact: the order's customer is the event's (the email identified it).
    assert entity["customer_id"] == order["customer_id"]
    [contact] = await table(reports_pool, tenant.org_id, "SELECT * FROM contacts WHERE id = $1", order["customer_id"])
    assert contact["kind"] == "generic" and contact["first_seen"] <= entity["first_event_at"]

    marks = await _watermarks(settings, reports_url, tenant)
    sent = [e for e in await outbox_events(pool, tenant.org_id) if REPORTS_FROM_ORDERS.wants(e.type)]
    newest = max(e.occurred_at for e in sent)  # events of one transaction share its time: the first applied stays
    assert datetime.fromisoformat(marks["orders"]["occurredAt"]) == newest
    assert marks["orders"]["eventId"] in {str(e.id) for e in sent if e.occurred_at == newest}
    assert marks["insights"] is not None


async def test_another_organisations_rows_never_reach_a_tenant(
    gateway: Any,
    pool: Any,
    insights_pool: Any,
    reports_pool: Any,
    settings: Any,
    reports_url: str,
    tenant: Any,
    other_tenant: Any,
) -> None:
    for t in (tenant, other_tenant):
        made = await _activity(gateway, t)
        await _change(pool, t, uuid.UUID(made["order_id"]), Status.SUCCESSFUL, CommStatus.SUCCESSFUL)  # a ledger row
        await _feed(pool, insights_pool, reports_pool, t)
    for t in (tenant, other_tenant):
        async with tenant_tx(reports_pool, t.org_id) as conn:
            for name in TENANT_TABLES:
                # No organisation filter: row-level security alone must keep the other organisation out.
                orgs = {r["org_id"] for r in await conn.fetch(f"SELECT DISTINCT org_id FROM {name}")}
                assert orgs == {t.org_id}, name
    mine, theirs = [await _watermarks(settings, reports_url, t) for t in (tenant, other_tenant)]
    assert mine["orders"]["eventId"] != theirs["orders"]["eventId"]
    assert mine["insights"]["eventId"] != theirs["insights"]["eventId"]
    # Asking A's endpoint without an organisation is refused, never answered with everyone's.
    token = service_tokens.mint(settings.service_token_secret, caller="gateway", audience="reports", org_id=None)
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{reports_url}/internal/reports/watermarks", headers={"authorization": f"Bearer {token}"})
    assert r.status_code in (401, 403), r.text
