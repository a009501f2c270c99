"""Every provider delivery is kept with its outcome; admins see refused and stale ones and why."""

from __future__ import annotations

import uuid
from typing import Any

from services.orders.service import commission
from shared.db import tenant_tx
from tests.factories import create_order, gql

PROVIDERS = "{ providers { id name publicId } }"
LOG = """query($p: ID!, $o: [DeliveryOutcome!], $after: String) {
  providerDeliveries(providerId: $p, outcomes: $o, first: 2, after: $after) {
    edges { node { webhookId orderId sequence requested outcome reason } } pageInfo { hasNextPage endCursor } } }"""
ORDER_LOG = "query($id: ID!) { orderDeliveries(id: $id) { webhookId sequence outcome reason requested } }"


async def _deliver(pool: Any, tenant: Any, order_id: Any, seq: int, status: str, comm: str | None = None) -> str:
    webhook_id = f"wh-{uuid.uuid4().hex[:10]}"
    data: dict[str, Any] = {"order_id": str(order_id), "sequence": seq, "status": status}
    if comm:
        data["commission_status"] = comm
    async with tenant_tx(pool, tenant.org_id) as conn:
        await commission.apply_provider_webhook(conn, tenant.org_id, tenant.provider["id"], webhook_id, data)
    return webhook_id


async def _log(gateway: Any, tenant: Any, outcomes: list[str] | None = None) -> list[dict[str, Any]]:
    rows, after = [], None
    while True:
        variables = {"p": str(tenant.provider["id"]), "o": outcomes, "after": after}
        page = (await gql(gateway, LOG, variables, token=tenant.admin_token))["data"]["providerDeliveries"]
        rows += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]


async def test_refused_and_stale_deliveries_are_shown_with_their_reason(gateway, pool, tenant, other_tenant) -> None:
    order = await create_order(pool, tenant)
    applied = await _deliver(pool, tenant, order["id"], 2, "SUCCESSFUL")
    stale = await _deliver(pool, tenant, order["id"], 1, "FAILED")
    refused = await _deliver(pool, tenant, order["id"], 3, "FAILED")  # SUCCESSFUL -> FAILED is illegal

    providers = (await gql(gateway, PROVIDERS, token=tenant.admin_token))["data"]["providers"]
    assert [p["id"] for p in providers] == [str(tenant.provider["id"])]
    log = await _log(gateway, tenant)
    assert [r["webhookId"] for r in log] == [refused, stale, applied]  # newest first, paged
    by_id = {r["webhookId"]: r for r in log}
    assert by_id[applied]["outcome"] == "APPLIED" and by_id[applied]["reason"] is None
    assert by_id[stale]["outcome"] == "STALE" and "older" in by_id[stale]["reason"]
    assert by_id[refused]["outcome"] == "REFUSED" and "cannot move" in by_id[refused]["reason"]
    assert by_id[refused]["requested"] == {"status": "FAILED"} and by_id[refused]["sequence"] == "3"
    assert [r["webhookId"] for r in await _log(gateway, tenant, ["REFUSED", "STALE"])] == [refused, stale]

    history = (await gql(gateway, ORDER_LOG, {"id": str(order["id"])}, token=tenant.admin_token))["data"]
    assert [d["outcome"] for d in history["orderDeliveries"]] == ["APPLIED", "STALE", "REFUSED"]

    # Members do not see the log; another organisation cannot read this provider's or order's deliveries.
    body = await gql(gateway, ORDER_LOG, {"id": str(order["id"])}, token=tenant.member_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    theirs = await gql(gateway, LOG, {"p": str(tenant.provider["id"])}, token=other_tenant.admin_token)
    assert theirs["data"]["providerDeliveries"]["edges"] == []
    theirs = await gql(gateway, ORDER_LOG, {"id": str(order["id"])}, token=other_tenant.admin_token)
    assert theirs["data"]["orderDeliveries"] == []
