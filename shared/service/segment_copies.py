"""A consuming service's event-fed copy of segment membership (tables `segment_copies` and `segment_members`).

The insights service owns segments and publishes every membership change as `segment.members_changed`
(payload: `segment_id`, `version`, `added` and `removed` customer ids, at most MEMBER_BATCH of each; one change
may take several events, all of its version) and a deletion as `segment.deleted` (`segment_id`, `version`). A
service that filters by segment (orders, reports) creates the two tables (services/orders/migrations/014 says
how), subscribes to SEGMENT_EVENTS and hands `HANDLERS` to its event consumer; its filters then semi-join on
the copy (`member_condition`) instead of calling the insights service for every page.

Events may arrive in any order and more than once (the consumer applies each id once). Each member row keeps
the version of the change that last decided it, and a change applies only to members it is newer than, so the
copy ends where the insights service ended whatever the order. A deleted segment keeps its `segment_copies`
row (`deleted`): a diff of it arriving after the deletion adds nothing back.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.errors import NotFound
from shared.messaging import contracts
from shared.messaging.consumer import EventHandler
from shared.messaging.contracts import Event
from shared.service.pagination import Params

# Customer ids per list in one `segment.members_changed` event (each event's payload stays well under 1 MiB).
MEMBER_BATCH = 5000


async def _copy(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, version: int) -> bool:
    """Records that the segment exists (its newest version seen); False when it was deleted."""
    deleted = await conn.fetchval(
        """INSERT INTO segment_copies AS s (org_id, segment_id, version) VALUES ($1, $2, $3)
           ON CONFLICT (org_id, segment_id) DO UPDATE SET version = greatest(s.version, EXCLUDED.version)
           RETURNING deleted""",
        org_id,
        segment_id,
        version,
    )
    return not deleted


async def _set(
    conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, ids: list[UUID], version: int, present: bool
) -> None:
    if not ids:
        return
    await conn.execute(
        """INSERT INTO segment_members AS m (org_id, segment_id, customer_id, version, present)
           SELECT $1, $2, c, $4, $5 FROM unnest($3::uuid[]) AS c
           ON CONFLICT (org_id, segment_id, customer_id) DO UPDATE
              SET version = EXCLUDED.version, present = EXCLUDED.present
            WHERE m.version < EXCLUDED.version""",
        org_id,
        segment_id,
        ids,
        version,
        present,
    )


async def on_members_changed(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    segment_id, version = UUID(p["segment_id"]), int(p["version"])
    if not await _copy(conn, event.org_id, segment_id, version):
        return
    await _set(conn, event.org_id, segment_id, [UUID(c) for c in p.get("added", [])], version, True)
    await _set(conn, event.org_id, segment_id, [UUID(c) for c in p.get("removed", [])], version, False)


async def on_deleted(conn: asyncpg.Connection, event: Event) -> None:
    segment_id, version = UUID(event.payload["segment_id"]), int(event.payload["version"])
    await conn.execute(
        """INSERT INTO segment_copies AS s (org_id, segment_id, version, deleted) VALUES ($1, $2, $3, true)
           ON CONFLICT (org_id, segment_id) DO UPDATE SET deleted = true, version = greatest(s.version, $3)""",
        event.org_id,
        segment_id,
        version,
    )
    await conn.execute("DELETE FROM segment_members WHERE org_id = $1 AND segment_id = $2", event.org_id, segment_id)


HANDLERS: dict[str, EventHandler] = {
    contracts.SEGMENT_MEMBERS_CHANGED: on_members_changed,
    contracts.SEGMENT_DELETED: on_deleted,
}


async def require_known(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, field: str) -> None:
    """NotFound naming `field` unless this organisation's copy knows the segment (and it is not deleted); another
    organisation's segment is invisible under row-level security and answers the same."""
    known = await conn.fetchval(
        "SELECT true FROM segment_copies WHERE org_id = $1 AND segment_id = $2 AND NOT deleted", org_id, segment_id
    )
    if not known:
        raise NotFound("segment", field)


def member_condition(p: Params, org_id: UUID, segment_id: UUID, customer: str) -> str:
    """SQL: the customer expression `customer` is a present member of the segment (a semi-join probing the
    partial index segment_members_present)."""
    return (
        f"EXISTS (SELECT 1 FROM segment_members sm WHERE sm.org_id = {p(org_id)}"
        f" AND sm.segment_id = {p(segment_id)} AND sm.customer_id = {customer} AND sm.present)"
    )


async def present_members(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID) -> list[Any]:
    """The present members of the copy (tests and checks: the copy equals its source)."""
    rows = await conn.fetch(
        "SELECT customer_id FROM segment_members WHERE org_id = $1 AND segment_id = $2 AND present ORDER BY 1",
        org_id,
        segment_id,
    )
    return [r["customer_id"] for r in rows]
