"""A customer merge (anonymous into generic), applied to everything the insights store keeps per customer.

Set-based, one statement per table, every row filtered by organisation: the raw events and the orders copy
are re-pointed; the per-customer read models (active days, funnel firsts, devices) are merged into the
surviving customer's rows (counts summed, first occurrences the earlier, first/last seen widened) and the
anonymous customer's rows deleted. The anonymous history keeps its own days: it is back-dated under the
surviving customer, and a day both were active counts that customer once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

_MERGE = """
WITH moved_days AS (
    DELETE FROM customer_days WHERE org_id = $1 AND customer_id = $2 RETURNING *
), days AS (
    INSERT INTO customer_days AS c (org_id, day, integration_id, category_id, customer_id, events, visits)
    SELECT org_id, day, integration_id, category_id, $3, events, visits FROM moved_days
     ORDER BY day, integration_id, category_id
    ON CONFLICT (org_id, day, integration_id, category_id, customer_id)
    DO UPDATE SET events = c.events + EXCLUDED.events, visits = c.visits + EXCLUDED.visits
    RETURNING 1
), moved_firsts AS (
    DELETE FROM funnel_firsts WHERE org_id = $1 AND customer_id = $2 RETURNING *
), firsts AS (
    INSERT INTO funnel_firsts AS f (org_id, day, integration_id, category_id, customer_id, step, first_at)
    SELECT org_id, day, integration_id, category_id, $3, step, first_at FROM moved_firsts
     ORDER BY day, integration_id, category_id, step
    ON CONFLICT (org_id, day, integration_id, category_id, customer_id, step)
    DO UPDATE SET first_at = least(f.first_at, EXCLUDED.first_at)
    RETURNING 1
), moved_devices AS (
    DELETE FROM devices WHERE org_id = $1 AND customer_id = $2 RETURNING *
), devs AS (
    INSERT INTO devices AS d (org_id, customer_id, device_id, platform, user_agent, first_seen, last_seen)
    SELECT org_id, $3, device_id, platform, user_agent, first_seen, last_seen FROM moved_devices ORDER BY device_id
    ON CONFLICT (org_id, customer_id, device_id) DO UPDATE SET
        platform = coalesce(d.platform, EXCLUDED.platform), user_agent = coalesce(d.user_agent, EXCLUDED.user_agent),
        first_seen = least(d.first_seen, EXCLUDED.first_seen), last_seen = greatest(d.last_seen, EXCLUDED.last_seen)
    RETURNING 1
), events AS (
    UPDATE events SET customer_id = $3 WHERE org_id = $1 AND customer_id = $2 RETURNING 1
), orders AS (
    UPDATE orders SET customer_id = $3 WHERE org_id = $1 AND customer_id = $2 RETURNING 1
)
SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM orders) AS orders,
       (SELECT count(*) FROM days) AS customer_days, (SELECT count(*) FROM firsts) AS funnel_firsts,
       (SELECT count(*) FROM devs) AS devices
"""


async def merge(
    conn: asyncpg.Connection, org_id: UUID, from_customer: UUID, into_customer: UUID, merged_at: datetime
) -> dict[str, Any]:
    """Moves everything of `from_customer` to `into_customer` and remembers the merge; returns the rows moved."""
    await conn.execute(
        """INSERT INTO customer_merges (org_id, from_customer_id, into_customer_id, merged_at)
           VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, from_customer_id) DO NOTHING""",
        org_id,
        from_customer,
        into_customer,
        merged_at,
    )
    row = await conn.fetchrow(_MERGE, org_id, from_customer, into_customer)
    assert row is not None
    return dict(row)


async def surviving(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> UUID:
    """The customer `customer_id` was merged into, or itself (a generic customer is never merged further)."""
    into = await conn.fetchval(
        "SELECT into_customer_id FROM customer_merges WHERE org_id = $1 AND from_customer_id = $2",
        org_id,
        customer_id,
    )
    return into if into is not None else customer_id
