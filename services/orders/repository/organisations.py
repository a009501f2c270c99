from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.errors import NotFound

COLUMNS = "id, name, marketplace_url, primary_colour, base_currency, time_zone, created_at, updated_at"


async def create(
    conn: asyncpg.Connection,
    org_id: UUID,
    name: str,
    *,
    base_currency: str = "GBP",
    time_zone: str = "Europe/London",
    marketplace_url: str | None = None,
) -> dict[str, Any]:
    """Caller's transaction must already be scoped to `org_id` (RLS checks the new row)."""
    row = await conn.fetchrow(
        f"INSERT INTO organisations (id, name, base_currency, time_zone, marketplace_url) VALUES ($1, $2, $3, $4, $5)"
        f" RETURNING {COLUMNS}",
        org_id,
        name,
        base_currency,
        time_zone,
        marketplace_url,
    )
    return dict(row)


async def get(conn: asyncpg.Connection, org_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM organisations WHERE id = $1", org_id)
    if row is None:
        raise NotFound("organisation")
    return dict(row)


async def time_zone(conn: asyncpg.Connection, org_id: UUID) -> str:
    tz = await conn.fetchval("SELECT time_zone FROM organisations WHERE id = $1", org_id)
    if tz is None:
        raise NotFound("organisation")
    return str(tz)


async def get_for_update(conn: asyncpg.Connection, org_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM organisations WHERE id = $1 FOR UPDATE", org_id)
    if row is None:
        raise NotFound("organisation")
    return dict(row)


async def update(conn: asyncpg.Connection, org_id: UUID, values: dict[str, Any]) -> dict[str, Any]:
    """Sets the given columns (validated settings; names come from the SettingsUpdate model, never from input)."""
    sets = ", ".join(f"{col} = ${i + 2}" for i, col in enumerate(values))
    row = await conn.fetchrow(
        f"UPDATE organisations SET {sets}, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        org_id,
        *values.values(),
    )
    return dict(row)


async def rebuild_rollups(conn: asyncpg.Connection, org_id: UUID) -> None:
    await conn.execute("SELECT rebuild_order_rollups($1)", org_id)


async def list_all(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every organisation: only the owner role sees them all (an operator's command)."""
    return [dict(r) for r in await conn.fetch(f"SELECT {COLUMNS} FROM organisations ORDER BY created_at, id")]


async def database_zone_offsets(conn: asyncpg.Connection, instants: Sequence[datetime]) -> dict[str, list[int]]:
    """Every time zone PostgreSQL knows (it computes the organisation's day buckets), with its UTC offset
    in seconds at each of `instants`, in that order, by the server's own zone rules."""
    rows = await conn.fetch(
        """SELECT z.name,
                  array_agg(extract(epoch FROM (t.at AT TIME ZONE z.name) - (t.at AT TIME ZONE 'UTC'))::int
                            ORDER BY t.ord) AS offsets
             FROM pg_timezone_names z
            CROSS JOIN unnest($1::timestamptz[]) WITH ORDINALITY AS t(at, ord)
            GROUP BY z.name""",
        list(instants),
    )
    return {r["name"]: list(r["offsets"]) for r in rows}
