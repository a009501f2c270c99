"""The SQL of the data watermarks (migration 001): per organisation and source, the newest source time applied."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def advance(conn: asyncpg.Connection, org_id: UUID, source: str, occurred_at: datetime, event_id: UUID) -> bool:
    """Moves the watermark of `source` to `occurred_at` unless it is there or past it already; True when moved."""
    moved = await conn.fetchval(
        """INSERT INTO watermarks AS w (org_id, source, occurred_at, event_id, applied_at)
           VALUES ($1, $2, $3, $4, now())
           ON CONFLICT (org_id, source) DO UPDATE SET
               occurred_at = EXCLUDED.occurred_at, event_id = EXCLUDED.event_id, applied_at = EXCLUDED.applied_at
            WHERE w.occurred_at < EXCLUDED.occurred_at
           RETURNING true""",
        org_id,
        source,
        occurred_at,
        event_id,
    )
    return bool(moved)


async def of_organisation(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT source, occurred_at, event_id, applied_at FROM watermarks WHERE org_id = $1 ORDER BY source", org_id
    )
    return [dict(r) for r in rows]
