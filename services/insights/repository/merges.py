"""A customer merge (anonymous into generic), applied to everything the insights store keeps per customer.

Set-based, one statement per table, every row filtered by organisation: the raw events and the orders copy
are re-pointed; the per-customer read models (active days with their keys, counts and first days, funnel firsts,
devices) are merged into the surviving customer's rows (counts summed, first occurrences the earlier,
first/last seen widened) and the anonymous customer's rows deleted; the funnel's paths (migration 006) of both
are then recomputed from the merged funnel firsts, under both customers' funnel locks. The anonymous history
keeps its own days: it is back-dated under the surviving customer, and a day both were active counts that customer once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.repository.events import (
    ALL,
    FUNNEL_PATH_COLUMNS,
    funnel_paths_select,
    lock_funnel_customers,
)

# The surviving customer's funnel_paths rows (migration 006) recomputed from their funnel_firsts as merged; the
# anonymous customer's deleted first (a separate statement: an insert does not see a delete of the same one).
_PATHS_DELETE = "DELETE FROM funnel_paths WHERE org_id = $1 AND customer_id = ANY($2::uuid[])"
_PATHS_INSERT = f"""
INSERT INTO funnel_paths (org_id, integration_id, day, customer_id, {", ".join(FUNNEL_PATH_COLUMNS)})
{funnel_paths_select("funnel_firsts c", "c.org_id = $1 AND c.customer_id = $2")}
"""

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
), moved_keys AS (
    -- The anonymous customer's active keys (migration 003) are those of its customer days and their projections.
    SELECT DISTINCT k.integration_id, k.category_id, m.day
      FROM moved_days m, LATERAL (VALUES (m.integration_id, m.category_id), (m.integration_id, $4::uuid),
                                         ($4::uuid, m.category_id), ($4::uuid, $4::uuid))
           AS k(integration_id, category_id)
), gone_actives AS (
    DELETE FROM active_customers a USING moved_keys k
     WHERE a.org_id = $1 AND a.integration_id = k.integration_id AND a.category_id = k.category_id
       AND a.day = k.day AND a.customer_id = $2
    RETURNING a.integration_id, a.category_id, a.day
), actives AS (
    INSERT INTO active_customers (org_id, integration_id, category_id, day, customer_id)
    SELECT $1, integration_id, category_id, day, $3 FROM moved_keys ORDER BY 1, 2, 3, 4
    ON CONFLICT DO NOTHING
    RETURNING integration_id, category_id, day
), counts AS (
    INSERT INTO active_counts AS n (org_id, integration_id, category_id, day, customers)
    SELECT $1, integration_id, category_id, day, sum(delta) FROM (
        SELECT integration_id, category_id, day, -1 AS delta FROM gone_actives
        UNION ALL SELECT integration_id, category_id, day, 1 FROM actives
    ) d GROUP BY 2, 3, 4 ORDER BY 2, 3, 4
    ON CONFLICT (org_id, integration_id, category_id, day) DO UPDATE SET customers = n.customers + EXCLUDED.customers
    RETURNING 1
), moved_customer_firsts AS (
    DELETE FROM customer_firsts WHERE org_id = $1 AND customer_id = $2 RETURNING *
), customer_firsts AS (
    INSERT INTO customer_firsts AS cf (org_id, customer_id, integration_id, category_id, first_day)
    SELECT org_id, $3, integration_id, category_id, first_day FROM moved_customer_firsts
     ORDER BY integration_id, category_id
    ON CONFLICT (org_id, customer_id, integration_id, category_id)
    DO UPDATE SET first_day = least(cf.first_day, EXCLUDED.first_day)
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
    await lock_funnel_customers(conn, org_id, [from_customer, into_customer])
    row = await conn.fetchrow(_MERGE, org_id, from_customer, into_customer, ALL)
    assert row is not None
    await conn.execute(_PATHS_DELETE, org_id, [from_customer, into_customer])
    await conn.execute(_PATHS_INSERT, org_id, into_customer)
    return dict(row)


async def surviving(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> UUID:
    """The customer `customer_id` was merged into, or itself (a generic customer is never merged further)."""
    into = await conn.fetchval(
        "SELECT into_customer_id FROM customer_merges WHERE org_id = $1 AND from_customer_id = $2",
        org_id,
        customer_id,
    )
    return into if into is not None else customer_id
