"""Dramatiq actors of the orders service. Every actor is safe to run twice."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.repository import deliveries
from services.orders.service import commission
from shared import logging as slog
from shared.config import get_settings
from shared.db import tenant_tx
from shared.messaging import contracts
from shared.messaging.broker import async_actor, retries_for_horizon
from shared.messaging.consumer import event_consumer
from shared.service import segment_copies
from shared.service.worker import resources_of

logger = logging.getLogger("orders.actors")
resources = resources_of("orders")

# The copy of the insights service's segment membership (queue orders.events): the segment filters read it.
on_insights_event = event_consumer(contracts.ORDERS_FROM_INSIGHTS, resources, segment_copies.HANDLERS)

# Accepted webhooks (the provider already has its 202) must outlive a store outage: the retry
# budget is sized so the back-offs add up to WEBHOOK_RETRY_HORIZON_SECONDS (default 30 min) however
# Dramatiq's jitter falls. With the defaults: 20 retries, the last one 32 to 64 minutes after the
# first failure, and a message is applied at most WEBHOOK_MAX_BACKOFF_MS after the store is back.
WEBHOOK_MIN_BACKOFF_MS = 500
WEBHOOK_MAX_BACKOFF_MS = 300_000
WEBHOOK_MAX_RETRIES = retries_for_horizon(
    get_settings().webhook_retry_horizon_seconds * 1000,
    min_backoff=WEBHOOK_MIN_BACKOFF_MS,
    max_backoff=WEBHOOK_MAX_BACKOFF_MS,
)


@async_actor(
    actor_name=contracts.APPLY_PROVIDER_WEBHOOKS,
    queue_name=contracts.ORDERS_QUEUE,
    max_retries=WEBHOOK_MAX_RETRIES,
    min_backoff=WEBHOOK_MIN_BACKOFF_MS,
    max_backoff=WEBHOOK_MAX_BACKOFF_MS,
)
async def apply_provider_webhooks(items: list[dict[str, Any]]) -> None:
    """Apply a batch of verified webhooks, each in its own short transaction.

    One message saves the per-message cost of the queue; a transaction per webhook keeps row
    locks (the order's, and the shared rollup buckets') as short as for a single webhook, so
    concurrent batches neither queue behind nor deadlock on each other. A redelivered batch (the
    worker died before acking) finds the receipts of what it committed and applies only the rest.

    Returns nothing: the outcomes are in the receipts and the log line. (A value returned by an
    actor is discarded with a Dramatiq warning per message when no result backend is configured,
    which once made up a third of all log lines.)
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
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                # A value the store refuses (out of range, too long, a check) fails the same way on every
                # retry: recorded as refused with the store's reason instead of failing this batch forever.
                outcome = await _refused_by_store(item, exc)
        outcomes[item["webhook_id"]] = outcome
    slog.log(
        logger,
        logging.INFO,
        "provider webhooks",
        count=len(items),
        applied=sum(1 for o in outcomes.values() if o == "applied"),
    )


BIGINT_MAX = 2**63 - 1


async def _refused_by_store(item: dict[str, Any], exc: Exception) -> str:
    """Records a delivery whose change PostgreSQL refused (the change itself rolled back) as refused.

    The edge validates every field against its column, so this is a last resort: it keeps one bad item
    from holding up its batch (and the provider's later updates) through every retry."""
    data = item["data"]
    reason = str(exc).split("\n")[0][:300]
    outcome = f"rejected: the store refused the update ({reason})"
    slog.log(
        logger, logging.WARNING, "provider webhook refused by the store", webhook_id=item["webhook_id"], reason=reason
    )
    try:
        seq: int | None = int(data["sequence"])
    except (TypeError, ValueError):
        seq = None
    fields = ("status", "commission_status", "amount", "currency", "failure_reason")
    attempts = [
        (seq if seq is not None and 0 <= seq <= BIGINT_MAX else None, {k: data[k] for k in fields if data.get(k)}),
        (None, {}),  # should what was asked for itself be unstorable
    ]
    for sequence, requested in attempts:
        try:
            async with tenant_tx(resources.pool, item["org_id"]) as conn:
                await deliveries.record(
                    conn,
                    UUID(item["org_id"]),
                    UUID(item["provider_id"]),
                    item["webhook_id"],
                    UUID(data["order_id"]),
                    outcome,
                    sequence=sequence,
                    requested=requested,
                )
            return "rejected"
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError):
            continue
    raise exc
