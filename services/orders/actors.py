"""Dramatiq actors of the orders service. Every actor is safe to run twice."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from services.orders.service import commission
from shared import logging as slog
from shared.db import tenant_tx
from shared.messaging import contracts
from shared.messaging.broker import async_actor
from shared.service.worker import resources_of

logger = logging.getLogger("orders.actors")
resources = resources_of("orders")


@async_actor(actor_name=contracts.APPLY_PROVIDER_WEBHOOKS, queue_name=contracts.ORDERS_QUEUE)
async def apply_provider_webhooks(items: list[dict[str, Any]]) -> dict[str, str]:
    """Apply a batch of verified webhooks, each in its own short transaction.

    One message saves the per-message cost of the queue; a transaction per webhook keeps row
    locks (the order's, and the shared rollup buckets') as short as for a single webhook, so
    concurrent batches neither queue behind nor deadlock on each other. A redelivered batch (the
    worker died before acking) finds the receipts of what it committed and applies only the rest.
    """
    outcomes: dict[str, str] = {}
    for item in sorted(items, key=lambda i: (i["org_id"], i["data"]["order_id"], int(i["data"]["sequence"]))):
        with slog.bound_org(item["org_id"]):
            try:
                async with tenant_tx(resources.pool, item["org_id"]) as conn:
                    outcome = await commission.apply_provider_webhook(
                        conn, UUID(item["org_id"]), UUID(item["provider_id"]), item["webhook_id"], item["data"]
                    )
            except commission.DuplicateWebhook:
                outcome = "duplicate"  # rolled back: the other delivery's change stands
        outcomes[item["webhook_id"]] = outcome
    slog.log(
        logger,
        logging.INFO,
        "provider webhooks",
        count=len(items),
        applied=sum(1 for o in outcomes.values() if o == "applied"),
    )
    return outcomes
