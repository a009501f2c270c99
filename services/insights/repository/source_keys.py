"""Which source keys an integration's events already hold, whatever their time.

The unique index of `events` includes `occurred_at` (a partitioned table's unique keys must hold its
partition key), so two paths that record one fact at slightly different times (an order's success from
its status change, and from the backfill's ledger time) would both be stored. Asking first closes that.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg


async def recorded(conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, keys: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        """SELECT DISTINCT source_key FROM events
            WHERE org_id = $1 AND integration_id = $2 AND source_key = ANY($3::text[])""",
        org_id,
        integration_id,
        list(keys),
    )
    return {r["source_key"] for r in rows}
