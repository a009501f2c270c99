"""The real domain events of the orders and insights services (their outbox rows), applied to the reports service
as its worker applies them: the kit's `apply_event` with the reports handlers, the actors' body."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Collection
from typing import Any
from uuid import UUID

import asyncpg

from services.reports.service import insights_events, orders_events
from shared.db import tenant_tx
from shared.messaging.consumer import apply_event
from shared.messaging.contracts import REPORTS_FROM_INSIGHTS, REPORTS_FROM_ORDERS, Event


async def outbox_events(pool: asyncpg.Pool, org_id: UUID, types: Collection[str] | None = None) -> list[Event]:
    """The organisation's events in a service's outbox (`pool`: orders or insights), oldest first, as the relay
    sends them (its envelope, through JSON)."""
    async with tenant_tx(pool, org_id) as conn:
        rows = await conn.fetch("SELECT * FROM outbox WHERE org_id = $1 ORDER BY occurred_at, id", org_id)
    out = []
    for r in rows:
        payload = r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"])
        if types is None or r["type"] in types:
            out.append(Event(r["id"], r["type"], r["org_id"], r["occurred_at"], r["version"], payload))
    return out


async def apply_orders(reports_pool: asyncpg.Pool, events: list[Event]) -> int:
    """Applies orders-service events in the order given; how many were applied (not seen before)."""
    applied = 0
    for e in events:
        if REPORTS_FROM_ORDERS.wants(e.type):
            applied += await apply_event(reports_pool, REPORTS_FROM_ORDERS.consumer, e, orders_events.HANDLERS)
    return applied


async def apply_insights(reports_pool: asyncpg.Pool, events: list[Event]) -> int:
    """Applies insights-service events in the order given; how many were applied (not seen before)."""
    applied = 0
    for e in events:
        if REPORTS_FROM_INSIGHTS.wants(e.type):
            applied += await apply_event(reports_pool, REPORTS_FROM_INSIGHTS.consumer, e, insights_events.HANDLERS)
    return applied


def copy_with_new_id(event: Event, **changes: Any) -> Event:
    """The same event under a new envelope id (a republished copy), optionally changed."""
    return dataclasses.replace(event, id=uuid.uuid4(), **changes)


async def table(reports_pool: asyncpg.Pool, org_id: UUID, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of `sql` in the organisation's tenant transaction (row-level security applies)."""
    async with tenant_tx(reports_pool, org_id) as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]
