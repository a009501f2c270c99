"""Applying provider webhooks in the orders repository: the receipt guards the change in one transaction."""

from __future__ import annotations

import uuid

import pytest

from services.orders.service import commission
from shared.db import tenant_tx
from tests.factories import create_order


async def test_a_change_that_loses_the_receipt_race_rolls_back(pool, tenant):
    order = await create_order(pool, tenant, status="SUCCESSFUL")
    webhook_id = "race-" + uuid.uuid4().hex
    data = {"order_id": str(order["id"]), "sequence": 3, "status": "SUCCESSFUL", "commission_status": "SUCCESSFUL"}
    # As if another delivery of the same webhook had committed its receipt without the order lock.
    async with tenant_tx(pool, tenant.org_id) as conn:
        await conn.execute(
            "INSERT INTO webhook_receipts (org_id, provider_id, webhook_id, order_id, outcome)"
            " VALUES ($1, $2, $3, $4, 'applied')",
            tenant.org_id,
            tenant.provider["id"],
            webhook_id,
            order["id"],
        )
    with pytest.raises(commission.DuplicateWebhook):
        async with tenant_tx(pool, tenant.org_id) as conn:
            await commission.apply_provider_webhook(conn, tenant.org_id, tenant.provider["id"], webhook_id, data)
    async with tenant_tx(pool, tenant.org_id) as conn:
        row = await conn.fetchrow("SELECT comm_status, provider_seq FROM orders WHERE id = $1", order["id"])
        ledger = await conn.fetchval("SELECT count(*) FROM commission_ledger WHERE order_id = $1", order["id"])
    assert (row["comm_status"], row["provider_seq"], ledger) == ("PENDING", 0, 1)


async def test_redelivery_after_apply_is_a_recorded_no_op(pool, tenant):
    order = await create_order(pool, tenant, status="SUCCESSFUL")
    data = {
        "order_id": str(order["id"]),
        "sequence": 1,
        "status": "SUCCESSFUL",
        "commission_status": "SUCCESSFUL",
        "amount": "12.50",
        "currency": "GBP",
    }
    outcomes = []
    for _ in range(3):
        async with tenant_tx(pool, tenant.org_id) as conn:
            outcomes.append(
                await commission.apply_provider_webhook(conn, tenant.org_id, tenant.provider["id"], "once", data)
            )
    assert outcomes == ["applied", "duplicate", "duplicate"]


async def test_unknown_order_and_wrong_currency(pool, tenant):
    order = await create_order(pool, tenant, status="SUCCESSFUL")
    async with tenant_tx(pool, tenant.org_id) as conn:
        unknown = await commission.apply_provider_webhook(
            conn,
            tenant.org_id,
            tenant.provider["id"],
            "u-" + uuid.uuid4().hex,
            {"order_id": str(uuid.uuid4()), "sequence": 1, "status": "SUCCESSFUL"},
        )
        wrong = await commission.apply_provider_webhook(
            conn,
            tenant.org_id,
            tenant.provider["id"],
            "c-" + uuid.uuid4().hex,
            {
                "order_id": str(order["id"]),
                "sequence": 1,
                "status": "SUCCESSFUL",
                "commission_status": "SUCCESSFUL",
                "currency": "EUR",
            },
        )
    assert unknown == "unknown_order"
    assert wrong.startswith("rejected: the order's commission is in GBP")


async def test_sequences_beyond_32_bits_apply(pool, tenant):
    """Everything the webhook edge accepts (sequence up to 2**62) must be storable and applied."""
    order = await create_order(pool, tenant)
    for seq, status in ((2**31 + 5, "SUCCESSFUL"), (2**62, "SUCCESSFUL")):
        data = {"order_id": str(order["id"]), "sequence": seq, "status": status, "commission_status": "SUCCESSFUL"}
        async with tenant_tx(pool, tenant.org_id) as conn:
            outcome = await commission.apply_provider_webhook(
                conn, tenant.org_id, tenant.provider["id"], f"big-{seq}", data
            )
        assert outcome in ("applied", "unchanged")
    async with tenant_tx(pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT provider_seq FROM orders WHERE id = $1", order["id"]) == 2**62
