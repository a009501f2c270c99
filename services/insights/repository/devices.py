"""The devices a customer's events came from, with first and last seen (kept by the event store)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def of_customer(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, limit: int) -> list[dict[str, Any]]:
    """The customer's devices, last seen first (at most `limit`)."""
    rows = await conn.fetch(
        "SELECT device_id, platform, user_agent, first_seen, last_seen FROM devices"
        " WHERE org_id = $1 AND customer_id = $2 ORDER BY last_seen DESC, device_id LIMIT $3",
        org_id,
        customer_id,
        limit,
    )
    return [dict(r) for r in rows]
