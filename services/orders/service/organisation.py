"""Organisations, their settings and their team, with the events other services keep copies from."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.settings import SettingsUpdate, python_zones
from services.orders.repository import members, organisations
from shared.errors import DomainError, ErrorCode, NotFound
from shared.messaging import contracts
from shared.messaging.outbox import add_event


async def _publish(conn: asyncpg.Connection, org: dict[str, Any], event_type: str) -> None:
    await add_event(conn, org["id"], event_type, {f: org[f] for f in contracts.ORGANISATION_SETTINGS_FIELDS})


async def supported_time_zones(conn: asyncpg.Connection) -> list[str]:
    """Zones both Python and PostgreSQL know: the only ones an organisation may use."""
    return sorted(python_zones() & await organisations.database_zones(conn))


async def _check_zone_known_to_database(conn: asyncpg.Connection, time_zone: str) -> None:
    if time_zone not in await organisations.database_zones(conn):
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{time_zone} is not a time zone the database knows; see timeZones", "timeZone"
        )


async def create(
    conn: asyncpg.Connection,
    org_id: UUID,
    name: str,
    *,
    base_currency: str = "GBP",
    time_zone: str = "Europe/London",
    marketplace_url: str | None = None,
) -> dict[str, Any]:
    """A new organisation; the caller's transaction must already be scoped to `org_id`."""
    await _check_zone_known_to_database(conn, time_zone)
    org = await organisations.create(
        conn, org_id, name, base_currency=base_currency, time_zone=time_zone, marketplace_url=marketplace_url
    )
    await _publish(conn, org, contracts.ORGANISATION_CREATED)
    return org


async def update_settings(conn: asyncpg.Connection, org_id: UUID, change: SettingsUpdate) -> dict[str, Any]:
    current = await organisations.get_for_update(conn, org_id)
    values = change.model_dump(exclude_unset=True)
    if not values:
        return current
    if "time_zone" in values:
        await _check_zone_known_to_database(conn, values["time_zone"])
    org = await organisations.update(conn, org_id, values)
    if org["time_zone"] != current["time_zone"]:
        # Daily buckets are days of the organisation's time zone: re-bucket in the same transaction.
        await organisations.rebuild_rollups(conn, org_id)
    if any(org[f] != current[f] for f in contracts.ORGANISATION_SETTINGS_FIELDS):
        await _publish(conn, org, contracts.ORGANISATION_SETTINGS_CHANGED)
    return org


async def republish_all(conn: asyncpg.Connection) -> int:
    """Writes a settings event for every organisation (the backfill of other services' copies).

    Runs as the owner role, across organisations: an operator's command, never a request.
    """
    count = 0
    for org in await organisations.list_all(conn):
        await _publish(conn, org, contracts.ORGANISATION_SETTINGS_CHANGED)
        count += 1
    return count


async def invite(
    conn: asyncpg.Connection, org_id: UUID, email: str, role: str, inviter_subject: str | None
) -> dict[str, Any]:
    inviter = await members.id_for_subject(conn, org_id, inviter_subject) if inviter_subject else None
    return await members.add(conn, org_id, email, role, invited_by=inviter)


async def change_role(conn: asyncpg.Connection, org_id: UUID, member_id: UUID, role: str) -> dict[str, Any]:
    """Sets a member's role; demoting the last admin is refused (someone must be able to administer)."""
    current = await members.role_for_update(conn, org_id, member_id)
    if current is None:
        raise NotFound("member", "memberId")
    if current == "admin" and role != "admin" and await members.count_admins(conn, org_id) <= 1:
        raise DomainError(ErrorCode.LAST_ADMIN, "the last admin cannot stop being an admin", "role")
    return await members.set_role(conn, org_id, member_id, role)


async def remove_member(conn: asyncpg.Connection, org_id: UUID, member_id: UUID, acting_subject: str | None) -> None:
    """Removes a member; an admin cannot remove themselves, and the last admin stays."""
    acting = await members.id_for_subject(conn, org_id, acting_subject) if acting_subject else None
    if member_id == acting:
        raise DomainError(ErrorCode.CANNOT_REMOVE_SELF, "admins cannot remove themselves", "memberId")
    role = await members.role_for_update(conn, org_id, member_id)
    if role is None:
        raise NotFound("member", "memberId")
    if role == "admin" and await members.count_admins(conn, org_id) <= 1:
        raise DomainError(ErrorCode.LAST_ADMIN, "the last admin cannot be removed", "memberId")
    await members.delete(conn, org_id, member_id)
