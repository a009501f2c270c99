"""The SQL of erasing a customer's personal fields (see services/orders/service/erasure.py)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg


async def lock(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, merged_into, erased_at FROM customers WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, customer_id
    )


async def erase(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, display_name: str) -> datetime:
    """Removes the customer's identifiers (and those of visitors merged into it); the rows and orders stay."""
    erased_at: datetime = await conn.fetchval(
        """UPDATE customers SET kind = 'anonymous', email = NULL, anonymous_id = NULL, channel = NULL,
                  display_name = $3, erased_at = now()
            WHERE org_id = $1 AND id = $2 RETURNING erased_at""",
        org_id,
        customer_id,
        display_name,
    )
    await conn.execute(
        "UPDATE customers SET anonymous_id = NULL, display_name = $3, erased_at = now()"
        " WHERE org_id = $1 AND merged_into = $2",
        org_id,
        customer_id,
        display_name,
    )
    return erased_at
