"""Write domain events in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def add_event(conn: asyncpg.Connection, org_id: UUID | str, type: str, payload: dict[str, Any], version: int = 1) -> None:
    await conn.execute(
        "INSERT INTO outbox (org_id, type, version, payload) VALUES ($1, $2, $3, $4)",
        org_id if isinstance(org_id, UUID) else UUID(org_id), type, version, payload,
    )


async def seen_event(conn: asyncpg.Connection, consumer: str, event_id: UUID | str, org_id: UUID | str) -> bool:
    """Consumer-side idempotency: True if this consumer already processed the event.

    Call inside the transaction that applies the event, so the mark and the effect
    commit together.
    """
    inserted = await conn.fetchval(
        "INSERT INTO processed_events (consumer, event_id, org_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        consumer, UUID(str(event_id)), UUID(str(org_id)),
    )
    return not inserted
