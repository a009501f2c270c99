"""The outbox relay publishes committed events to every subscriber, once, and consumers deduplicate."""

from __future__ import annotations

import json

from shared.db import tenant_tx
from shared.messaging import contracts
from shared.messaging.outbox import first_delivery
from shared.messaging.relay import relay_once
from tests.factories import create_order


async def test_relay_publishes_each_event_to_each_subscriber_and_marks_it_sent(pool, tenant):
    from shared.messaging.broker import get_broker

    broker = get_broker()
    sub = contracts.Subscription(
        consumer="relaytest",
        source="orders",
        event_types=frozenset({contracts.CUSTOMER_CREATED, contracts.ORDER_CREATED}),
    )
    queue = sub.queue
    subs = (sub,)
    broker.client.delete(f"{broker.namespace}:{queue}", f"{broker.namespace}:{queue}.msgs")
    # Drain whatever earlier tests left, so the count below is this test's alone.
    while await relay_once(pool, "orders", subscriptions=subs):
        pass
    broker.client.delete(f"{broker.namespace}:{queue}", f"{broker.namespace}:{queue}.msgs")
    order = await create_order(pool, tenant, email="relay@example.com")
    sent = 0
    while n := await relay_once(pool, "orders", subscriptions=subs):
        sent += n
    assert sent == 2  # customer.created and order.created
    messages = [json.loads(m) for m in broker.client.hvals(f"{broker.namespace}:{queue}.msgs")]
    envelopes = [m["args"][0] for m in messages]
    assert {e["type"] for e in envelopes} == {contracts.CUSTOMER_CREATED, contracts.ORDER_CREATED}
    created = next(e for e in envelopes if e["type"] == contracts.ORDER_CREATED)
    assert set(created) == {"id", "type", "org_id", "occurred_at", "version", "payload"}
    assert created["org_id"] == str(tenant.org_id) and created["payload"]["order_id"] == str(order["id"])
    assert await relay_once(pool, "orders", subscriptions=subs) == 0  # nothing is published twice once marked sent
    async with tenant_tx(pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
        # consumer-side idempotency: the first delivery is new, a redelivery is recognised
        assert await first_delivery(conn, "test-consumer", created["id"], tenant.org_id) is True
        assert await first_delivery(conn, "test-consumer", created["id"], tenant.org_id) is False


async def test_event_rows_commit_with_the_change_or_not_at_all(pool, tenant):
    from services.orders.domain.commission import Status
    from services.orders.service import orders as order_service

    async with tenant_tx(pool, tenant.org_id) as conn:
        before = await conn.fetchval("SELECT count(*) FROM outbox")
    try:
        async with tenant_tx(pool, tenant.org_id) as conn:
            await order_service.create(
                conn,
                tenant.org_id,
                tenant.integration_id,
                external_ref="rollback-1",
                product_id=tenant.products["Broadband"],
                email="rb@example.com",
                anonymous_id=None,
                status=Status.PENDING,
                amount=None,
                currency=None,
            )
            raise RuntimeError("request failed after the write")
    except RuntimeError:
        pass
    async with tenant_tx(pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == before
        assert await conn.fetchval("SELECT count(*) FROM orders WHERE external_ref = 'rollback-1'") == 0
