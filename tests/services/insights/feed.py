"""The orders service's real domain events (its outbox rows), applied to the insights service as its worker
applies them: `orders_events.consume`, the actor's body."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from services.insights.repository.events import PartitionCache
from services.insights.service import orders_events
from shared.db import tenant_tx
from shared.messaging.contracts import Event


async def outbox_events(pool: asyncpg.Pool, org_id: UUID, types: set[str] | None = None) -> list[Event]:
    """The organisation's events in the orders outbox, oldest first (as the relay sends them)."""
    async with tenant_tx(pool, org_id) as conn:
        rows = await conn.fetch("SELECT * FROM outbox WHERE org_id = $1 ORDER BY occurred_at, id", org_id)
    return [
        Event(
            id=r["id"],
            type=r["type"],
            org_id=r["org_id"],
            occurred_at=r["occurred_at"],
            version=r["version"],
            payload=dict(r["payload"]),
        )
        for r in rows
        if types is None or r["type"] in types
    ]


async def apply(insights_pool: asyncpg.Pool, settings: Any, events: list[Event]) -> int:
    """Applies `events` in the order given; returns how many were applied (not seen before)."""
    partitions = PartitionCache()
    applied = 0
    for e in events:
        applied += await orders_events.consume(insights_pool, partitions, settings, e)
    return applied
