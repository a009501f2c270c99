"""A verified webhook whose change PostgreSQL refuses is recorded as refused, never retried forever.

The gateway validates every field against its column (tests/services/gateway/test_edge_field_limits.py), so
this takes an item past the gateway, straight onto the queue, as a gateway of an older release could have.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from shared.db import tenant_tx
from tests.factories import create_order


async def _receipts(pool: Any, tenant: Any, ids: list[str]) -> dict[str, Any]:
    async with tenant_tx(pool, tenant.org_id) as conn:
        rows = await conn.fetch(
            "SELECT webhook_id, outcome, sequence, requested FROM webhook_receipts WHERE webhook_id = ANY($1::text[])",
            ids,
        )
    return {r["webhook_id"]: dict(r) for r in rows}


async def test_a_change_the_store_refuses_is_recorded_and_the_batch_goes_on(pool, tenant):
    import services.orders.worker  # noqa: F401  (the worker's resources, and its actors declared)
    from services.orders import actors
    from tests.workers import running_worker

    bad_order, good_order = await create_order(pool, tenant), await create_order(pool, tenant)
    bad, good = f"store-{uuid.uuid4().hex}", f"store-{uuid.uuid4().hex}"

    def item(webhook_id: str, order: Any, amount: str) -> dict[str, Any]:
        data = {"order_id": str(order["id"]), "sequence": 7, "status": "SUCCESSFUL", "amount": amount}
        return {
            "org_id": str(tenant.org_id),
            "provider_id": str(tenant.provider["id"]),
            "webhook_id": webhook_id,
            "data": data,
        }

    # 10^14 does not fit the numeric(14, 2) commission column.
    with running_worker({"orders"}):
        actors.apply_provider_webhooks.send([item(bad, bad_order, "100000000000000"), item(good, good_order, "13.00")])
        for _ in range(150):
            receipts = await _receipts(pool, tenant, [bad, good])
            if len(receipts) == 2:
                break
            await asyncio.sleep(0.1)
    assert set(receipts) == {bad, good}, receipts
    assert receipts[good]["outcome"] == "applied"
    refused = receipts[bad]
    assert refused["outcome"].startswith("rejected: the store refused the update (numeric field overflow")
    assert refused["sequence"] == 7 and refused["requested"]["amount"] == "100000000000000"
    async with tenant_tx(pool, tenant.org_id) as conn:
        rows = {
            r["id"]: (r["status"], str(r["commission_amount"]))
            for r in await conn.fetch(
                "SELECT id, status, commission_amount FROM orders WHERE id = ANY($1::uuid[])",
                [bad_order["id"], good_order["id"]],
            )
        }
    assert rows == {bad_order["id"]: ("PENDING", "12.50"), good_order["id"]: ("SUCCESSFUL", "13.00")}
