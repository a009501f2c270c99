"""Team members and their invitations: all the SQL of the `members` table."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.errors import Conflict, ErrorCode

COLUMNS = "id, org_id, subject, email, role, status, created_at, invited_at, invitation_version, provider_id"


async def resolve(conn: asyncpg.Connection, subject: str, email: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM resolve_memberships($1, $2)", subject, email)
    return [dict(r) for r in rows]


async def activate(conn: asyncpg.Connection, org_id: UUID, member_id: UUID, subject: str) -> bool:
    """Binds an invitation to the user who signed in with the invited email; False when there is no such
    pending invitation any more (revoked, or taken by another account, since the sign-in looked it up)."""
    bound = await conn.fetchval(
        "UPDATE members SET subject = $3, status = 'active' WHERE org_id = $1 AND id = $2 AND subject IS NULL"
        " RETURNING true",
        org_id,
        member_id,
        subject,
    )
    return bool(bound)


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
    provider_id: UUID | None = None,
) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(
            "INSERT INTO members (org_id, email, role, subject, status, invited_by, invited_at, invitation_version,"
            " provider_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4::text IS NULL THEN now() END,"
            " CASE WHEN $4::text IS NULL THEN 1 ELSE 0 END, $7)"
            f" RETURNING {COLUMNS}",
            org_id,
            email,
            role,
            subject,
            "active" if subject else "invited",
            invited_by,
            provider_id,
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


async def by_subject(conn: asyncpg.Connection, org_id: UUID, subject: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM members WHERE org_id = $1 AND subject = $2", org_id, subject)
    return dict(row) if row else None


async def get_for_update(conn: asyncpg.Connection, org_id: UUID, member_id: UUID) -> dict[str, Any] | None:
    """The member, locked until the transaction ends: a sign-in claiming the invitation waits, or went first."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM members WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, member_id
    )
    return dict(row) if row else None


async def renew_invitation(conn: asyncpg.Connection, org_id: UUID, member_id: UUID) -> dict[str, Any] | None:
    """The next version of a pending invitation, sent now; None when it is not pending."""
    row = await conn.fetchrow(
        "UPDATE members SET invitation_version = invitation_version + 1, invited_at = now()"
        f" WHERE org_id = $1 AND id = $2 AND status = 'invited' AND subject IS NULL RETURNING {COLUMNS}",
        org_id,
        member_id,
    )
    return dict(row) if row else None


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
    """The organisation's active admins, locked until the transaction ends: two admins demoting or removing
    each other at the same time cannot both see another admin left. An invited admin is not counted: the
    invitation may never be taken up, and until it is nobody can administer with it.

    Callers take these locks before locking the member they change, and always in id order: two admins
    demoting each other then queue on the same first row instead of each holding the row the other wants
    (a deadlock)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM members WHERE org_id = $1 AND role = 'admin' AND status = 'active'"
            " ORDER BY id FOR UPDATE) a",
            org_id,
        )
    )


async def delete(conn: asyncpg.Connection, org_id: UUID, member_id: UUID) -> None:
    await conn.execute("UPDATE members SET invited_by = NULL WHERE org_id = $1 AND invited_by = $2", org_id, member_id)
    await conn.execute("DELETE FROM members WHERE org_id = $1 AND id = $2", org_id, member_id)
