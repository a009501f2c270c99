"""The organisation's custom field definitions, as the orders service's custom_field.* events describe them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def upsert(conn: asyncpg.Connection, org_id: UUID, d: dict[str, Any], at: datetime) -> None:
    """A definition as of `at` (an older event arriving late changes nothing)."""
    await conn.execute(
        """INSERT INTO custom_field_definitions AS f (org_id, id, entity, key, name, type, choices, as_of)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (org_id, id) DO UPDATE SET
               name = EXCLUDED.name, choices = EXCLUDED.choices, as_of = EXCLUDED.as_of
            WHERE f.as_of < EXCLUDED.as_of AND NOT f.deleted""",
        org_id,
        UUID(d["id"]),
        d["entity"],
        d["key"],
        d["name"],
        d["type"],
        list(d.get("choices") or []),
        at,
    )


async def delete(conn: asyncpg.Connection, org_id: UUID, d: dict[str, Any], at: datetime) -> None:
    """A deleted definition stays as a tombstone, so its earlier definition arriving late cannot revive it."""
    await conn.execute(
        """INSERT INTO custom_field_definitions AS f (org_id, id, entity, key, name, type, deleted, as_of)
           VALUES ($1, $2, $3, $4, $4, 'text', true, $5)
           ON CONFLICT (org_id, id) DO UPDATE SET deleted = true, as_of = GREATEST(f.as_of, EXCLUDED.as_of)""",
        org_id,
        UUID(d["id"]),
        d["entity"],
        d["key"],
        at,
    )
