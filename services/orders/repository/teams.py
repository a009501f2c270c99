"""Teams and their members: all the SQL of `teams` and `team_members`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.errors import Conflict, ErrorCode

# A team with its members (id, email, role, status), ordered by email: one row per team.
_TEAMS = """
SELECT t.id, t.name, t.created_at, t.updated_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', m.id, 'email', m.email, 'role', m.role,
                                                     'status', m.status) ORDER BY lower(m.email), m.id)
                   FROM team_members tm JOIN members m ON m.org_id = tm.org_id AND m.id = tm.member_id
                  WHERE tm.org_id = t.org_id AND tm.team_id = t.id), '[]') AS members
  FROM teams t
"""


def _row(r: asyncpg.Record) -> dict[str, Any]:
    return dict(r)


async def list_all(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(_TEAMS + " WHERE t.org_id = $1 ORDER BY lower(t.name), t.id", org_id)
    return [_row(r) for r in rows]


async def by_ids(conn: asyncpg.Connection, org_id: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
    rows = await conn.fetch(_TEAMS + " WHERE t.org_id = $1 AND t.id = ANY($2::uuid[])", org_id, ids)
    return [_row(r) for r in rows]


async def get(conn: asyncpg.Connection, org_id: UUID, team_id: UUID) -> dict[str, Any] | None:
    found = await by_ids(conn, org_id, [team_id])
    return found[0] if found else None


async def lock(conn: asyncpg.Connection, org_id: UUID, team_id: UUID) -> bool:
    """Locks the team until the transaction ends (a concurrent delete waits); False when there is none."""
    return bool(await conn.fetchval("SELECT true FROM teams WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, team_id))


def _duplicate() -> Conflict:
    return Conflict(ErrorCode.DUPLICATE_NAME, "a team with this name already exists", "name")


async def insert(conn: asyncpg.Connection, org_id: UUID, name: str) -> UUID:
    try:
        team_id: UUID = await conn.fetchval(
            "INSERT INTO teams (org_id, name) VALUES ($1, $2) RETURNING id", org_id, name
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate() from None
    return team_id


async def rename(conn: asyncpg.Connection, org_id: UUID, team_id: UUID, name: str) -> bool:
    try:
        done = await conn.fetchval(
            "UPDATE teams SET name = $3, updated_at = now() WHERE org_id = $1 AND id = $2 RETURNING true",
            org_id,
            team_id,
            name,
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate() from None
    return bool(done)


async def delete(conn: asyncpg.Connection, org_id: UUID, team_id: UUID) -> bool:
    """Deletes the team (its memberships go with it)."""
    return bool(await conn.fetchval("DELETE FROM teams WHERE org_id = $1 AND id = $2 RETURNING true", org_id, team_id))


async def add_member(conn: asyncpg.Connection, org_id: UUID, team_id: UUID, member_id: UUID) -> None:
    """Idempotent: a member already in the team stays there once."""
    await conn.execute(
        "INSERT INTO team_members (org_id, team_id, member_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        org_id,
        team_id,
        member_id,
    )
    await conn.execute("UPDATE teams SET updated_at = now() WHERE org_id = $1 AND id = $2", org_id, team_id)


async def remove_member(conn: asyncpg.Connection, org_id: UUID, team_id: UUID, member_id: UUID) -> bool:
    removed = await conn.fetchval(
        "DELETE FROM team_members WHERE org_id = $1 AND team_id = $2 AND member_id = $3 RETURNING true",
        org_id,
        team_id,
        member_id,
    )
    if removed:
        await conn.execute("UPDATE teams SET updated_at = now() WHERE org_id = $1 AND id = $2", org_id, team_id)
    return bool(removed)


async def members_by_ids(conn: asyncpg.Connection, org_id: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
    """The organisation's members among `ids` (id, email, role, status); others' ids find nothing."""
    rows = await conn.fetch(
        "SELECT id, email, role, status FROM members WHERE org_id = $1 AND id = ANY($2::uuid[])", org_id, ids
    )
    return [dict(r) for r in rows]
