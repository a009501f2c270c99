"""The SQL of saved report configurations (migration 002): per organisation, names unique within it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class SavedReport:
    id: UUID
    name: str
    description: str
    report: str
    input: dict[str, Any]
    created_by: str | None
    created_at: datetime
    updated_at: datetime


def _row(r: asyncpg.Record) -> SavedReport:
    raw = r["input"]
    return SavedReport(
        id=r["id"],
        name=r["name"],
        description=r["description"],
        report=r["report"],
        input=raw if isinstance(raw, dict) else json.loads(raw),
        created_by=r["created_by"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


async def name_taken(conn: asyncpg.Connection, org_id: UUID, name: str, other_than: UUID | None) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM saved_reports WHERE org_id = $1 AND name = $2 AND ($3::uuid IS NULL OR id <> $3)",
            org_id,
            name,
            other_than,
        )
    )


async def create(
    conn: asyncpg.Connection, org_id: UUID, name: str, description: str, report: str, input: dict[str, Any], actor: str
) -> SavedReport:
    row = await conn.fetchrow(
        """INSERT INTO saved_reports (org_id, id, name, description, report, input, created_by, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, now(), now())
           RETURNING *""",
        org_id,
        uuid.uuid4(),
        name,
        description,
        report,
        json.dumps(input),
        actor,
    )
    assert row is not None
    return _row(row)


async def update(
    conn: asyncpg.Connection, org_id: UUID, id: UUID, name: str, description: str, report: str, input: dict[str, Any]
) -> SavedReport | None:
    row = await conn.fetchrow(
        """UPDATE saved_reports SET name = $3, description = $4, report = $5, input = $6::jsonb, updated_at = now()
            WHERE org_id = $1 AND id = $2
           RETURNING *""",
        org_id,
        id,
        name,
        description,
        report,
        json.dumps(input),
    )
    return _row(row) if row else None


async def get(conn: asyncpg.Connection, org_id: UUID, id: UUID) -> SavedReport | None:
    row = await conn.fetchrow("SELECT * FROM saved_reports WHERE org_id = $1 AND id = $2", org_id, id)
    return _row(row) if row else None


async def listed(conn: asyncpg.Connection, org_id: UUID) -> list[SavedReport]:
    rows = await conn.fetch("SELECT * FROM saved_reports WHERE org_id = $1 ORDER BY name, id", org_id)
    return [_row(r) for r in rows]


async def delete(conn: asyncpg.Connection, org_id: UUID, id: UUID) -> bool:
    return bool(
        await conn.fetchval("DELETE FROM saved_reports WHERE org_id = $1 AND id = $2 RETURNING true", org_id, id)
    )
