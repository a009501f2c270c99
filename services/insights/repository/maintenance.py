"""The maintenance slots: claimed once, and the owner's functions that make, drop and expire.

`maintenance_slots` is not an organisation's table (no row-level security): a slot is the platform's.
Partitions and rollup expiry span every organisation, so they go through SECURITY DEFINER functions of
the owner (migrations 001 and 002), the only way the application role reaches them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg


async def claim(conn: asyncpg.Connection, task: str, slot: str) -> bool:
    """True for the one claimer of (`task`, `slot`); a concurrent claimer waits for this transaction and then
    gets False (or True, should this one roll back)."""
    claimed = await conn.fetchval(
        "INSERT INTO maintenance_slots (task, slot) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
        task,
        slot,
    )
    return bool(claimed)


async def record(conn: asyncpg.Connection, task: str, slot: str, outcome: dict[str, Any]) -> None:
    await conn.execute("UPDATE maintenance_slots SET outcome = $3 WHERE task = $1 AND slot = $2", task, slot, outcome)


async def ensure_partitions(conn: asyncpg.Connection, first: date, last: date) -> int:
    return int(await conn.fetchval("SELECT ensure_event_partitions($1, $2)", first, last))


async def drop_partitions(conn: asyncpg.Connection, before: date) -> list[str]:
    return list(await conn.fetchval("SELECT drop_event_partitions($1)", before) or [])


async def expire_rollups(conn: asyncpg.Connection, hourly_before: datetime, daily_before: date) -> dict[str, int]:
    counts: dict[str, Any] = await conn.fetchval("SELECT expire_rollups($1, $2)", hourly_before, daily_before)
    return {k: int(v) for k, v in counts.items()}


async def outcomes(conn: asyncpg.Connection, task: str) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM maintenance_slots WHERE task = $1 ORDER BY slot", task))
