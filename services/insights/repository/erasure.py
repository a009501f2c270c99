"""The SQL of erasing a customer from the insights store (a data-protection request).

What could identify the customer goes: the anonymous ids and device ids on their events, their devices, and
their events' properties (free-form, so all of them). Events stay, with their types, times, products and
amounts, so every count, funnel and amount stays as it was; the customer id is the orders service's
pseudonymous key, whose personal fields the orders service has already removed.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def erase(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> dict[str, int]:
    events = await conn.fetchval(
        """WITH e AS (
               UPDATE events SET anonymous_id = NULL, device_id = NULL, properties = '{}'
                WHERE org_id = $1 AND customer_id = $2
                  AND (anonymous_id IS NOT NULL OR device_id IS NOT NULL OR properties <> '{}')
               RETURNING 1)
           SELECT count(*) FROM e""",
        org_id,
        customer_id,
    )
    devices = await conn.fetchval(
        "WITH d AS (DELETE FROM devices WHERE org_id = $1 AND customer_id = $2 RETURNING 1) SELECT count(*) FROM d",
        org_id,
        customer_id,
    )
    return {"events_cleared": int(events), "devices_removed": int(devices)}
