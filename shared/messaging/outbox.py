"""Write domain events in the same transaction as the change they describe; record applied ones.

The tables behind both (`outbox`, `processed_events`) come from `shared/sql/outbox.sql`,
which a service's first migration includes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def add_event(
    conn: asyncpg.Connection, org_id: UUID | str, type: str, payload: dict[str, Any], version: int = 1
) -> None:
    await conn.execute(
        "INSERT INTO outbox (org_id, type, version, payload) VALUES ($1, $2, $3, $4)",
        org_id if isinstance(org_id, UUID) else UUID(org_id),
        type,
        version,
        payload,
    )


async def first_delivery(conn: asyncpg.Connection, consumer: str, event_id: UUID, org_id: UUID) -> bool:
    """Consumer-side idempotency: True the first time `consumer` applies this event, False after.

    Call inside the transaction that applies the event, so the mark and the effect commit
    (or roll back) together; a concurrent duplicate waits on the primary key and then sees False.
    """
    inserted = await conn.fetchval(
        "INSERT INTO processed_events (consumer, event_id, org_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        event_id,
        org_id,
    )
    return bool(inserted)
