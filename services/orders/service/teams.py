"""Teams: named groups of members, the recipients of scheduled reports, and resolving recipients at send time.

The reports service keeps no copy of teams: a schedule names member and team ids, and at each send the
scheduler asks here who they are now (`resolve_recipients`), so a member who left, a team renamed or changed
since the schedule was made is sent to as it is today. Provider users never join a team: they are a provider's
staff, and the partner's reports are the partner's.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from services.orders.repository import teams
from shared.errors import DomainError, ErrorCode, NotFound


async def _team(conn: asyncpg.Connection, org_id: UUID, team_id: UUID) -> dict[str, Any]:
    team = await teams.get(conn, org_id, team_id)
    if team is None:
        raise NotFound("team", "teamId")
    return team


async def create(conn: asyncpg.Connection, org_id: UUID, name: str) -> dict[str, Any]:
    return await _team(conn, org_id, await teams.insert(conn, org_id, name))


async def rename(conn: asyncpg.Connection, org_id: UUID, team_id: UUID, name: str) -> dict[str, Any]:
    if not await teams.rename(conn, org_id, team_id, name):
        raise NotFound("team", "teamId")
    return await _team(conn, org_id, team_id)


async def delete(conn: asyncpg.Connection, org_id: UUID, team_id: UUID) -> None:
    if not await teams.delete(conn, org_id, team_id):
        raise NotFound("team", "teamId")


async def add_member(conn: asyncpg.Connection, org_id: UUID, team_id: UUID, member_id: UUID) -> dict[str, Any]:
    """Adds a member (idempotent). Another organisation's member is not found, like an unknown one."""
    if not await teams.lock(conn, org_id, team_id):
        raise NotFound("team", "teamId")
    found = await teams.members_by_ids(conn, org_id, [member_id])
    if not found:
        raise NotFound("member", "memberId")
    if found[0]["role"] == "provider":
        raise DomainError(ErrorCode.INVALID_INPUT, "provider users cannot join the partner's teams", "memberId")
    await teams.add_member(conn, org_id, team_id, member_id)
    return await _team(conn, org_id, team_id)


async def remove_member(conn: asyncpg.Connection, org_id: UUID, team_id: UUID, member_id: UUID) -> dict[str, Any]:
    if not await teams.lock(conn, org_id, team_id):
        raise NotFound("team", "teamId")
    if not await teams.remove_member(conn, org_id, team_id, member_id):
        raise NotFound("team member", "memberId")
    return await _team(conn, org_id, team_id)


def _recipient(member: dict[str, Any]) -> dict[str, Any]:
    email = member.get("email") or None
    return {
        "id": str(member["id"]),
        "email": email,
        "role": member["role"],
        "status": member["status"],
        "emailMissing": email is None,
    }


async def resolve_recipients(
    conn: asyncpg.Connection, org_id: UUID, member_ids: list[UUID], team_ids: list[UUID]
) -> dict[str, Any]:
    """Who the given members and teams are now. Ids that are unknown, or another organisation's, are listed
    as unknown alike (the caller cannot tell them apart); provider users are unknown as recipients too.
    Members without an email are flagged (`emailMissing`) for the caller to refuse, naming them."""
    member_ids, team_ids = list(dict.fromkeys(member_ids)), list(dict.fromkeys(team_ids))
    found = {m["id"]: m for m in await teams.members_by_ids(conn, org_id, member_ids) if m["role"] != "provider"}
    found_teams = {t["id"]: t for t in await teams.by_ids(conn, org_id, team_ids)}
    return {
        "members": [_recipient(found[i]) for i in member_ids if i in found],
        "teams": [
            {
                "id": str(t["id"]),
                "name": t["name"],
                "members": [_recipient(m) for m in t["members"] if m["role"] != "provider"],
            }
            for t in (found_teams[i] for i in team_ids if i in found_teams)
        ],
        "unknownMemberIds": [str(i) for i in member_ids if i not in found],
        "unknownTeamIds": [str(i) for i in team_ids if i not in found_teams],
    }
