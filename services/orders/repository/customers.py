"""Customers: generic (email) and anonymous (word name), identification and merging."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.filters import CustomerFilter
from shared.errors import NotFound
from shared.service import segment_copies
from shared.service.pagination import Params, day_range, keyset_page, prefix_match

COLUMNS = (
    "id, kind, email, anonymous_id, display_name, channel, first_seen, last_seen, created_at, custom_fields,"
    " account_currency"
)


async def by_email_for_update(conn: asyncpg.Connection, org_id: UUID, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS}, merged_into FROM customers WHERE org_id = $1 AND lower(email) = lower($2) FOR UPDATE",
        org_id,
        email,
    )


async def by_anonymous_id_for_update(
    conn: asyncpg.Connection, org_id: UUID, anonymous_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS}, merged_into FROM customers WHERE org_id = $1 AND anonymous_id = $2 FOR UPDATE",
        org_id,
        anonymous_id,
    )


async def by_id_for_update(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS}, merged_into FROM customers WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, customer_id
    )


async def record_visit(
    conn: asyncpg.Connection,
    org_id: UUID,
    customer_id: UUID,
    integration_id: UUID | None,
    seen_at: datetime,
    channel: str | None,
) -> None:
    await conn.execute(
        "UPDATE customers SET first_seen = least(first_seen, $2), last_seen = greatest(last_seen, $2),"
        " channel = coalesce(channel, $3) WHERE org_id = $4 AND id = $1",
        customer_id,
        seen_at,
        channel,
        org_id,
    )
    if integration_id is not None:
        await conn.execute(
            "INSERT INTO customer_visits AS v (org_id, customer_id, integration_id, first_seen, last_seen)"
            " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (customer_id, integration_id) DO UPDATE SET"
            " first_seen = least(v.first_seen, EXCLUDED.first_seen),"
            " last_seen = greatest(v.last_seen, EXCLUDED.last_seen),"
            " visits = v.visits + 1",
            org_id,
            customer_id,
            integration_id,
            seen_at,
        )


async def insert(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    kind: str,
    email: str | None,
    anonymous_id: str | None,
    display_name: str,
    channel: str | None,
    seen_at: datetime,
) -> UUID | None:
    """The new customer's id; None when a concurrent request created the same customer first.

    The unique indexes decide, and the loser waits for the winner's commit before it learns so.
    """
    conflict = (
        "(org_id, lower(email)) WHERE email IS NOT NULL"
        if email
        else "(org_id, anonymous_id) WHERE anonymous_id IS NOT NULL"
    )
    customer_id: UUID | None = await conn.fetchval(
        "INSERT INTO customers (org_id, kind, email, anonymous_id, display_name, channel, first_seen, last_seen)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT {conflict} DO NOTHING RETURNING id",
        org_id,
        kind,
        email,
        anonymous_id,
        display_name,
        channel,
        seen_at,
    )
    return customer_id


async def resolved_id(conn: asyncpg.Connection, org_id: UUID, email: str | None, anonymous_id: str | None) -> UUID:
    """The customer an email or anonymous id now stands for (following a merge)."""
    existing = await conn.fetchrow(
        "SELECT id, merged_into FROM customers WHERE org_id = $1 AND (lower(email) = lower($2) OR anonymous_id = $3)"
        " ORDER BY (email IS NOT NULL) DESC LIMIT 1",
        org_id,
        email,
        anonymous_id,
    )
    return UUID(str(existing["merged_into"] or existing["id"]))


async def make_generic(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, email: str) -> None:
    await conn.execute(
        "UPDATE customers SET kind = 'generic', email = $3, display_name = $3 WHERE org_id = $1 AND id = $2",
        org_id,
        customer_id,
        email,
    )


async def insert_alias(
    conn: asyncpg.Connection, org_id: UUID, anonymous_id: str, display_name: str, customer_id: UUID, seen_at: datetime
) -> None:
    """An anonymous id standing for `customer_id`, so later anonymous visits resolve to it."""
    await conn.execute(
        "INSERT INTO customers (org_id, kind, anonymous_id, display_name, merged_into, first_seen, last_seen)"
        " VALUES ($1, 'anonymous', $2, $3, $4, $5, $5)",
        org_id,
        anonymous_id,
        display_name,
        customer_id,
        seen_at,
    )


async def merge(conn: asyncpg.Connection, org_id: UUID, source: UUID, target: UUID) -> None:
    """Moves the orders and visits of `source` to `target` and marks `source` merged into it."""
    await conn.execute(
        "UPDATE orders SET customer_id = $2, updated_at = now() WHERE org_id = $3 AND customer_id = $1",
        source,
        target,
        org_id,
    )
    await conn.execute(
        "INSERT INTO customer_visits AS v (org_id, customer_id, integration_id, first_seen, last_seen, visits)"
        " SELECT org_id, $2, integration_id, first_seen, last_seen, visits FROM customer_visits"
        " WHERE org_id = $3 AND customer_id = $1"
        " ON CONFLICT (customer_id, integration_id) DO UPDATE"
        " SET first_seen = least(v.first_seen, EXCLUDED.first_seen),"
        " last_seen = greatest(v.last_seen, EXCLUDED.last_seen), visits = v.visits + EXCLUDED.visits",
        source,
        target,
        org_id,
    )
    await conn.execute("DELETE FROM customer_visits WHERE org_id = $2 AND customer_id = $1", source, org_id)
    await conn.execute(
        "UPDATE customers t SET first_seen = least(t.first_seen, s.first_seen),"
        " last_seen = greatest(t.last_seen, s.last_seen),"
        " channel = coalesce(t.channel, s.channel) FROM customers s"
        " WHERE t.org_id = $3 AND s.org_id = $3 AND t.id = $2 AND s.id = $1",
        source,
        target,
        org_id,
    )
    await conn.execute("UPDATE customers SET merged_into = $2 WHERE org_id = $3 AND id = $1", source, target, org_id)


def where_clause(org_id: UUID, f: CustomerFilter, tz: str, args: list[Any]) -> str:
    """The WHERE of the customers list; the export uses the very same one."""
    p = Params(args)
    parts = [f"c.org_id = {p(org_id)}", "c.merged_into IS NULL"]
    if f.search:
        needle = f.search.lower()
        parts.append(
            f"({prefix_match(p, 'lower(c.display_name)', needle)} OR {prefix_match(p, 'lower(c.email)', needle)})"
        )
    if f.kind:
        parts.append(f"c.kind = {p(f.kind.value)}")
    if f.integration_ids:
        parts.append(
            f"EXISTS (SELECT 1 FROM customer_visits v WHERE v.customer_id = c.id"
            f" AND v.integration_id = ANY({p(f.integration_ids)}::uuid[]))"
        )
    parts += day_range(p, "c.last_seen", *(f.range.days(tz) if f.range else (None, None)), tz)
    if f.segment_id:
        parts.append(segment_copies.member_condition(p, org_id, f.segment_id, "c.id"))
    return " AND ".join(parts)


async def count(conn: asyncpg.Connection, org_id: UUID, f: CustomerFilter, tz: str) -> int:
    """How many customers the list with this filter pages through (the same WHERE)."""
    args: list[Any] = []
    where = where_clause(org_id, f, tz, args)
    return int(await conn.fetchval(f"SELECT count(*) FROM customers c WHERE {where}", *args))


async def list_page(
    conn: asyncpg.Connection, org_id: UUID, f: CustomerFilter, tz: str, first: int, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    p = Params()
    where = where_clause(org_id, f, tz, p.values)
    return await keyset_page(
        conn,
        select=f"SELECT {COLUMNS} FROM customers c",
        where=where,
        p=p,
        ts="c.last_seen",
        id="c.id",
        ts_key="last_seen",
        first=first,
        after=after,
    )


async def by_ids(conn: asyncpg.Connection, org_id: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM customers WHERE org_id = $1 AND id = ANY($2)", org_id, ids)
    return [dict(r) for r in rows]


async def profile(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, merged_into FROM customers WHERE org_id = $1 AND id = $2", org_id, customer_id
    )
    if row is None:
        raise NotFound("customer")
    if row["merged_into"] is not None:
        return await profile(conn, org_id, row["merged_into"])
    visits = await conn.fetch(
        "SELECT v.integration_id, i.name AS integration_name, v.first_seen, v.last_seen, v.visits"
        " FROM customer_visits v JOIN integrations i ON i.id = v.integration_id"
        " WHERE v.org_id = $1 AND v.customer_id = $2"
        " ORDER BY v.first_seen",
        org_id,
        customer_id,
    )
    stats = await conn.fetchrow(
        "SELECT count(*) AS orders, count(*) FILTER (WHERE status = 'SUCCESSFUL') AS successful_orders"
        " FROM orders WHERE org_id = $1 AND customer_id = $2",
        org_id,
        customer_id,
    )
    result = dict(row)
    result.pop("merged_into")
    result["visits"] = [dict(v) for v in visits]
    result.update(dict(stats))
    return result


async def timeline(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, limit: int = 200) -> list[dict[str, Any]]:
    """Funnel events the orders service knows of: visits, orders placed, status and commission moves."""
    if (
        await conn.fetchval(
            "SELECT 1 FROM customers WHERE org_id = $1 AND id = $2 AND merged_into IS NULL", org_id, customer_id
        )
        is None
    ):
        raise NotFound("customer")
    rows = await conn.fetch(
        """SELECT * FROM (
             SELECT v.first_seen AS at, 'VISIT' AS kind, v.integration_id, NULL::uuid AS order_id,
                    i.name AS detail FROM customer_visits v JOIN integrations i ON i.id = v.integration_id
              WHERE v.org_id = $3 AND v.customer_id = $1
             UNION ALL
             SELECT l.occurred_at, CASE WHEN l.from_status IS NULL THEN 'ORDER_PLACED'
                                        WHEN l.from_status <> l.to_status THEN 'ORDER_' || l.to_status
                                        ELSE 'COMMISSION_' || replace(l.to_comm, '/', '') END,
                    o.integration_id, o.id, p.name
               FROM commission_ledger l JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = o.product_id
              WHERE o.org_id = $3 AND l.org_id = $3 AND o.customer_id = $1
           ) t ORDER BY at DESC, kind LIMIT $2""",
        customer_id,
        limit,
        org_id,
    )
    return [dict(r) for r in rows]
