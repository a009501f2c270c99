"""The SQL behind insights-api's internal collection pages (devices, events): what the reports service streams
into its documented collections (shared/collections.py), read here so that ingestion writes nothing for them.

Keyset pages in the tables' own primary-key order, filtering by organisation in the caller's tenant transaction:
events by (occurred_at, id), their primary key after org_id (so a date range also prunes the day partitions);
devices by (customer_id, device_id), their primary key, keeping those last seen in the range (a device table is
a row per contact and device: no index is added to the ingestion path for this).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def events_page(
    conn: asyncpg.Connection,
    org_id: UUID,
    since: datetime,
    until: datetime,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    args: list[Any] = [org_id, since, until, limit]
    cond = ""
    if after is not None:
        args += [after[0], after[1]]
        cond = "AND (occurred_at, id) > ($5, $6)"
    return list(
        await conn.fetch(
            f"""SELECT org_id, id, occurred_at, received_at, type, class, integration_id, customer_id, anonymous_id,
                       device_id, product_id, category_id, channel, amount, currency, entity_id, state, items,
                       properties
                  FROM events
                 WHERE org_id = $1 AND occurred_at >= $2 AND occurred_at < $3 {cond}
                 ORDER BY occurred_at, id
                 LIMIT $4""",
            *args,
        )
    )


async def devices_page(
    conn: asyncpg.Connection,
    org_id: UUID,
    since: datetime,
    until: datetime,
    after: tuple[UUID, str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    args: list[Any] = [org_id, since, until, limit]
    cond = ""
    if after is not None:
        args += [after[0], after[1]]
        cond = "AND (customer_id, device_id) > ($5, $6)"
    return list(
        await conn.fetch(
            f"""SELECT org_id, customer_id, device_id, platform, user_agent, first_seen, last_seen
                  FROM devices
                 WHERE org_id = $1 AND last_seen >= $2 AND last_seen < $3 {cond}
                 ORDER BY customer_id, device_id
                 LIMIT $4""",
            *args,
        )
    )
