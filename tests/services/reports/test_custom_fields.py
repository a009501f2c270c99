"""Custom fields reach the reports: definitions (custom_field.* events), an order's values (its events) and a
contact's values and account currency (customer.updated, the newest winning), shown as report columns."""

from __future__ import annotations

import uuid
from typing import Any

from services.reports.service import reports as workflow
from shared.db import tenant_tx
from tests.factories import create_order, gql
from tests.services.gateway.test_custom_fields import DEFINE, DELETE, SET_ORDER
from tests.services.reports import feed


async def _define(gateway: Any, tenant: Any, entity: str, name: str, kind: str) -> dict[str, Any]:
    body = await gql(gateway, DEFINE, {"e": entity, "n": name, "t": kind, "c": None}, token=tenant.admin_token)
    field: dict[str, Any] = body["data"]["defineCustomField"]["customField"]
    return field


async def test_order_and_contact_custom_fields_are_report_columns(gateway, pool, reports_pool, tenant) -> None:
    await _define(gateway, tenant, "order", "Campaign", "TEXT")
    await _define(gateway, tenant, "customer", "Tier", "TEXT")
    gone = await _define(gateway, tenant, "order", "Old note", "TEXT")
    await gql(gateway, DELETE, {"id": gone["id"]}, token=tenant.admin_token)
    order = await create_order(pool, tenant)
    oid, cid = str(order["id"]), str(order["customer_id"])
    body = await gql(gateway, SET_ORDER, {"id": oid, "v": {"campaign": "spring"}}, token=tenant.admin_token)
    assert body["data"]["setOrderCustomFields"]["errors"] == [], body
    key = {"authorization": f"Bearer {tenant.api_key}"}
    for tier in ("silver", "gold"):
        r = await gateway.put(
            f"/v1/customers/{cid}/custom-fields",
            json={"customFields": {"tier": tier}, "accountCurrency": "EUR"},
            headers=key,
        )
        assert r.status_code == 200, r.text

    events = await feed.outbox_events(pool, tenant.org_id)
    await feed.apply_orders(reports_pool, events)
    # An older customer.updated arriving late (redelivered under a new id) changes nothing.
    older = next(e for e in events if e.type == "customer.updated")
    await feed.apply_orders(reports_pool, [feed.copy_with_new_id(older)])

    definitions = await feed.table(
        reports_pool,
        tenant.org_id,
        "SELECT entity, key, deleted FROM custom_field_definitions WHERE org_id = $1 ORDER BY entity, key",
        tenant.org_id,
    )
    assert [(d["entity"], d["key"], d["deleted"]) for d in definitions] == [
        ("customer", "tier", False),
        ("order", "campaign", False),
        ("order", "old_note", True),
    ]
    [contact] = await feed.table(
        reports_pool,
        tenant.org_id,
        "SELECT custom_fields, account_currency FROM contacts WHERE org_id = $1 AND id = $2",
        tenant.org_id,
        uuid.UUID(cid),
    )
    assert contact["custom_fields"] == {"tier": "gold"} and contact["account_currency"].strip() == "EUR"

    # The order's provider travels with its events (the per-provider reports group by it).
    [copied] = await feed.table(
        reports_pool,
        tenant.org_id,
        "SELECT provider_id FROM orders WHERE org_id = $1 AND id = $2",
        tenant.org_id,
        order["id"],
    )
    assert order["provider_id"] is not None and copied["provider_id"] == order["provider_id"]

    raw = {
        "report": "orders_with_commission",
        "filters": {"range": {"preset": "LAST_7_DAYS"}},
        "columns": ["order_id", "custom.campaign", "contact.custom.tier", "currency"],
    }
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        out = await workflow.preview(conn, tenant.org_id, raw)
    row = next(r for r in out["rows"] if r[0] == oid)
    assert row[1:3] == ["spring", "gold"]
