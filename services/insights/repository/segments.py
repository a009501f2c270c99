"""Segments' SQL: the rows, the set-based membership recompute, member pages and the filter's semi-join.

Membership changes are set-based: a recompute (or a static list's replacement) is one statement holding the
target set in a CTE, deleting the members not in it and inserting those missing, returning both lists (the
diff the copies elsewhere are sent). Every statement filters by `org_id` and runs in a tenant transaction.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.domain.segments import Definition, SegmentKind
from services.insights.repository.events import ALL
from shared.errors import DomainError, ErrorCode
from shared.service.pagination import Params

COLUMNS = "id, name, kind, definition, source, member_count, version, computed_at, created_at, updated_at"


@dataclass(frozen=True)
class Segment:
    id: UUID
    name: str
    kind: SegmentKind
    definition: dict[str, Any] | None
    source: str
    member_count: int
    version: int
    computed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: asyncpg.Record) -> Segment:
        return cls(
            id=r["id"],
            name=r["name"],
            kind=SegmentKind(r["kind"]),
            definition=r["definition"],
            source=r["source"],
            member_count=r["member_count"],
            version=r["version"],
            computed_at=r["computed_at"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )


@dataclass(frozen=True)
class Diff:
    added: list[UUID]
    removed: list[UUID]


async def insert(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    name: str,
    kind: SegmentKind,
    definition: dict[str, Any] | None,
    source: str,
) -> Segment:
    row = await conn.fetchrow(
        f"INSERT INTO segments (org_id, name, kind, definition, source) VALUES ($1, $2, $3, $4, $5)"
        f" RETURNING {COLUMNS}",
        org_id,
        name,
        kind.value,
        definition,
        source,
    )
    return Segment.of(row)


async def get(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, *, for_update: bool = False) -> Segment | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM segments WHERE org_id = $1 AND id = $2{lock}", org_id, segment_id)
    return Segment.of(row) if row else None


async def list_all(conn: asyncpg.Connection, org_id: UUID) -> list[Segment]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM segments WHERE org_id = $1 ORDER BY lower(name), id", org_id)
    return [Segment.of(r) for r in rows]


async def change(
    conn: asyncpg.Connection,
    org_id: UUID,
    segment_id: UUID,
    *,
    name: str | None,
    definition: dict[str, Any] | None,
    source: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE segments SET name = coalesce($3, name), definition = coalesce($4, definition),"
        " source = coalesce($5, source), updated_at = now() WHERE org_id = $1 AND id = $2",
        org_id,
        segment_id,
        name,
        definition,
        source,
    )


async def delete(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID) -> int | None:
    """Deletes the segment and its members; its version, or None when there was none."""
    version: int | None = await conn.fetchval(
        "DELETE FROM segments WHERE org_id = $1 AND id = $2 RETURNING version", org_id, segment_id
    )
    return version


def _dynamic_target(p: Params, org_id: UUID, d: Definition, tz: str, now: datetime) -> str:
    """SQL: the customer ids the definition selects (each condition a set of customers, intersected)."""
    org = p(org_id)
    sets: list[str] = []
    if d.integration_ids:
        every = p(ALL)
        sets.append(
            f"SELECT cf.customer_id FROM customer_firsts cf WHERE cf.org_id = {org}"
            f" AND cf.integration_id = ANY({p(d.integration_ids)}::uuid[]) AND cf.category_id = {every}"
        )
    if d.first_seen:
        first, last = d.first_seen.days(tz, now)
        every = p(ALL)
        sets.append(
            f"SELECT cf.customer_id FROM customer_firsts cf WHERE cf.org_id = {org}"
            f" AND cf.integration_id = {every} AND cf.category_id = {every}"
            f" AND ({p(first)}::date IS NULL OR cf.first_day >= {p(first)}::date)"
            f" AND ({p(last)}::date IS NULL OR cf.first_day <= {p(last)}::date)"
        )
    if d.last_seen:
        first, last = d.last_seen.days(tz, now)
        every = p(ALL)
        sets.append(
            f"SELECT a.customer_id FROM active_customers a WHERE a.org_id = {org}"
            f" AND a.integration_id = {every} AND a.category_id = {every}"
            f" GROUP BY a.customer_id HAVING ({p(first)}::date IS NULL OR max(a.day) >= {p(first)}::date)"
            f" AND ({p(last)}::date IS NULL OR max(a.day) <= {p(last)}::date)"
        )
    for e in d.events:
        parts = [
            f"e.org_id = {org}",
            "e.customer_id IS NOT NULL",
            f"e.type = {p(e.type)}",
            f"e.occurred_at >= {p(now - timedelta(days=e.last_days))}",
        ]
        if e.category_id:
            parts.append(f"e.category_id = {p(e.category_id)}")
        if e.integration_id:
            parts.append(f"e.integration_id = {p(e.integration_id)}")
        sets.append(
            f"SELECT e.customer_id FROM events e WHERE {' AND '.join(parts)}"
            f" GROUP BY e.customer_id HAVING count(*) >= {p(e.at_least)}"
        )
    return " INTERSECT ".join(f"({s})" for s in sets)


async def _materialise(conn: asyncpg.Connection, p: Params, org_id: UUID, segment_id: UUID, target: str) -> Diff:
    org, seg = p(org_id), p(segment_id)
    row = await conn.fetchrow(
        f"""WITH target AS MATERIALIZED (SELECT DISTINCT t.customer_id FROM ({target}) t(customer_id)),
            removed AS (
                DELETE FROM segment_members m WHERE m.org_id = {org} AND m.segment_id = {seg}
                   AND NOT EXISTS (SELECT 1 FROM target t WHERE t.customer_id = m.customer_id)
                RETURNING m.customer_id),
            added AS (
                INSERT INTO segment_members (org_id, segment_id, customer_id)
                SELECT {org}, {seg}, t.customer_id FROM target t
                ON CONFLICT DO NOTHING RETURNING customer_id)
            SELECT coalesce((SELECT array_agg(customer_id) FROM added), '{{}}') AS added,
                   coalesce((SELECT array_agg(customer_id) FROM removed), '{{}}') AS removed""",
        *p.values,
    )
    return Diff(added=list(row["added"]), removed=list(row["removed"]))


async def recompute_dynamic(
    conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, definition: Definition, tz: str, now: datetime
) -> Diff:
    p = Params()
    return await _materialise(conn, p, org_id, segment_id, _dynamic_target(p, org_id, definition, tz, now))


async def replace_members(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, customer_ids: list[UUID]) -> Diff:
    p = Params()
    return await _materialise(conn, p, org_id, segment_id, f"SELECT unnest({p(customer_ids)}::uuid[])")


async def record_change(
    conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, diff: Diff, *, bump: bool, at: datetime
) -> Segment:
    """Counts the diff into member_count, marks the segment computed `at` and, with `bump`, raises its version."""
    row = await conn.fetchrow(
        f"UPDATE segments SET member_count = member_count + $3 - $4, version = version + $5::int,"
        f" computed_at = $6 WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}",
        org_id,
        segment_id,
        len(diff.added),
        len(diff.removed),
        1 if bump else 0,
        at,
    )
    return Segment.of(row)


async def lock_segments_holding(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> list[UUID]:
    """Locks (in id order, as every writer of a segment locks its row first) the segments holding the customer."""
    rows = await conn.fetch(
        "SELECT s.id FROM segments s WHERE s.org_id = $1 AND s.id IN"
        " (SELECT m.segment_id FROM segment_members m WHERE m.org_id = $1 AND m.customer_id = $2)"
        " ORDER BY s.id FOR UPDATE",
        org_id,
        customer_id,
    )
    return [r["id"] for r in rows]


async def move_customer(
    conn: asyncpg.Connection, org_id: UUID, source: UUID, target: UUID | None
) -> list[tuple[UUID, bool]]:
    """Takes `source` out of every segment holding it and puts `target` (when given) in its place; per segment,
    whether `target` was added (False: it was a member already, or there is none)."""
    rows = await conn.fetch(
        """WITH held AS (
               DELETE FROM segment_members WHERE org_id = $1 AND customer_id = $2 RETURNING segment_id),
           added AS (
               INSERT INTO segment_members (org_id, segment_id, customer_id)
               SELECT $1, h.segment_id, $3 FROM held h WHERE $3::uuid IS NOT NULL
               ON CONFLICT DO NOTHING RETURNING segment_id)
           SELECT h.segment_id, (a.segment_id IS NOT NULL) AS added FROM held h LEFT JOIN added a USING (segment_id)""",
        org_id,
        source,
        target,
    )
    return [(r["segment_id"], r["added"]) for r in rows]


async def due(conn: asyncpg.Connection, before: datetime, limit: int) -> list[tuple[UUID, UUID]]:
    """(organisation, segment) of the dynamic segments computed before `before`, every organisation (the owner's
    function: the application role sees one organisation per transaction)."""
    rows = await conn.fetch("SELECT org_id, segment_id FROM dynamic_segments_due($1, $2)", before, limit)
    return [(r["org_id"], r["segment_id"]) for r in rows]


def _encode(customer_id: UUID) -> str:
    return base64.urlsafe_b64encode(customer_id.bytes).decode().rstrip("=")


def _decode(cursor: str) -> UUID:
    try:
        return UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise DomainError(ErrorCode.INVALID_CURSOR, "is not a cursor returned by this list", "after") from None


async def members_page(
    conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, first: int, after: str | None
) -> tuple[list[tuple[UUID, str]], bool]:
    """A keyset page of member ids in id order, each with its cursor; whether more follow."""
    rows = await conn.fetch(
        "SELECT customer_id FROM segment_members WHERE org_id = $1 AND segment_id = $2"
        " AND ($3::uuid IS NULL OR customer_id > $3) ORDER BY customer_id LIMIT $4",
        org_id,
        segment_id,
        _decode(after) if after else None,
        first + 1,
    )
    ids = [r["customer_id"] for r in rows]
    return [(c, _encode(c)) for c in ids[:first]], len(ids) > first


def member_condition(p: Params, org_id: UUID, segment_id: UUID, customer: str) -> str:
    """SQL: `customer` is a member of the segment (a semi-join on the primary key), for the analytics and
    insight filters."""
    return (
        f"EXISTS (SELECT 1 FROM segment_members sm WHERE sm.org_id = {p(org_id)}"
        f" AND sm.segment_id = {p(segment_id)} AND sm.customer_id = {customer})"
    )
