from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.errors import Conflict, ErrorCode

COLUMNS = "id, org_id, subject, email, role, status, created_at"


async def resolve(conn: asyncpg.Connection, subject: str, email: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM resolve_memberships($1, $2)", subject, email)
    return [dict(r) for r in rows]


async def activate(conn: asyncpg.Connection, org_id: UUID, member_id: UUID, subject: str) -> None:
    """Bind an invitation to the user who signed in with the invited email."""
    await conn.execute(
        "UPDATE members SET subject = $3, status = 'active' WHERE org_id = $1 AND id = $2 AND subject IS NULL",
        org_id,
        member_id,
        subject,
    )


async def list_all(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM members WHERE org_id = $1 ORDER BY created_at, id", org_id)
    return [dict(r) for r in rows]


async def add(
    conn: asyncpg.Connection,
    org_id: UUID,
    email: str,
    role: str,
    *,
    subject: str | None = None,
    invited_by: UUID | None = None,
) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(
            f"INSERT INTO members (org_id, email, role, subject, status, invited_by) VALUES ($1, $2, $3, $4, $5, $6)"
            f" RETURNING {COLUMNS}",
            org_id,
            email,
            role,
            subject,
            "active" if subject else "invited",
            invited_by,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(
            ErrorCode.ALREADY_MEMBER, "this email is already a member of the organisation", "email"
        ) from None
    return dict(row)


async def id_for_subject(conn: asyncpg.Connection, org_id: UUID, subject: str) -> UUID | None:
    member_id: UUID | None = await conn.fetchval(
        "SELECT id FROM members WHERE org_id = $1 AND subject = $2", org_id, subject
    )
    return member_id


async def role_for_update(conn: asyncpg.Connection, org_id: UUID, member_id: UUID) -> str | None:
    role: str | None = await conn.fetchval(
        "SELECT role FROM members WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, member_id
    )
    return role


async def set_role(conn: asyncpg.Connection, org_id: UUID, member_id: UUID, role: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"UPDATE members SET role = $3 WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}", org_id, member_id, role
    )
    return dict(row)


async def count_admins(conn: asyncpg.Connection, org_id: UUID) -> int:
    """The organisation's admins, locked until the transaction ends: two admins demoting or removing
    each other at the same time cannot both see another admin left."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM members WHERE org_id = $1 AND role = 'admin' FOR UPDATE) a", org_id
        )
    )


async def delete(conn: asyncpg.Connection, org_id: UUID, member_id: UUID) -> None:
    await conn.execute("UPDATE members SET invited_by = NULL WHERE org_id = $1 AND invited_by = $2", org_id, member_id)
    await conn.execute("DELETE FROM members WHERE org_id = $1 AND id = $2", org_id, member_id)
