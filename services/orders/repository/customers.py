"""Customers: generic (email) and anonymous (word name), identification and merging."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.filters import CustomerFilter
from services.orders.domain.names import anonymous_name
from services.orders.errors import DomainError, NotFound
from services.orders.repository.sql import Params, day_range, keyset_page, prefix_match
from shared.messaging import contracts
from shared.messaging.outbox import add_event

COLUMNS = "id, kind, email, anonymous_id, display_name, channel, first_seen, last_seen, created_at"


async def _by_email(conn: asyncpg.Connection, org_id: UUID, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS}, merged_into FROM customers WHERE org_id = $1 AND lower(email) = lower($2) FOR UPDATE",
        org_id, email)


async def _by_anonymous_id(conn: asyncpg.Connection, org_id: UUID, anonymous_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS}, merged_into FROM customers WHERE org_id = $1 AND anonymous_id = $2 FOR UPDATE",
        org_id, anonymous_id)


async def _record_visit(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, integration_id: UUID | None,
                        seen_at: datetime, channel: str | None) -> None:
    await conn.execute(
        "UPDATE customers SET first_seen = least(first_seen, $2), last_seen = greatest(last_seen, $2),"
        " channel = coalesce(channel, $3) WHERE id = $1", customer_id, seen_at, channel)
    if integration_id is not None:
        await conn.execute(
            "INSERT INTO customer_visits AS v (org_id, customer_id, integration_id, first_seen, last_seen)"
            " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (customer_id, integration_id) DO UPDATE SET"
            " first_seen = least(v.first_seen, EXCLUDED.first_seen), last_seen = greatest(v.last_seen, EXCLUDED.last_seen),"
            " visits = v.visits + 1", org_id, customer_id, integration_id, seen_at)


async def _create(conn: asyncpg.Connection, org_id: UUID, *, email: str | None, anonymous_id: str | None,
                  channel: str | None, seen_at: datetime) -> UUID:
    kind = "generic" if email else "anonymous"
    name = email if email else anonymous_name(anonymous_id or "")
    # A concurrent request may create the same customer: the unique indexes decide, and the
    # loser (which waits for the winner's commit) takes the winner's row.
    conflict = ("(org_id, lower(email)) WHERE email IS NOT NULL" if email
                else "(org_id, anonymous_id) WHERE anonymous_id IS NOT NULL")
    customer_id: UUID | None = await conn.fetchval(
        "INSERT INTO customers (org_id, kind, email, anonymous_id, display_name, channel, first_seen, last_seen)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT {conflict} DO NOTHING RETURNING id",
        org_id, kind, email, anonymous_id, name, channel, seen_at)
    if customer_id is None:
        existing = await conn.fetchrow(
            "SELECT id, merged_into FROM customers WHERE org_id = $1 AND (lower(email) = lower($2) OR anonymous_id = $3)"
            " ORDER BY (email IS NOT NULL) DESC LIMIT 1", org_id, email, anonymous_id)
        return existing["merged_into"] or existing["id"]
    await add_event(conn, org_id, contracts.CUSTOMER_CREATED, {"customer_id": str(customer_id), "kind": kind})
    return customer_id


async def _merge(conn: asyncpg.Connection, org_id: UUID, source: UUID, target: UUID) -> None:
    """Move everything of `source` (anonymous) to `target` (generic); nothing of its history is lost."""
    await conn.execute("UPDATE orders SET customer_id = $2, updated_at = now() WHERE customer_id = $1", source, target)
    await conn.execute(
        "INSERT INTO customer_visits AS v (org_id, customer_id, integration_id, first_seen, last_seen, visits)"
        " SELECT org_id, $2, integration_id, first_seen, last_seen, visits FROM customer_visits WHERE customer_id = $1"
        " ON CONFLICT (customer_id, integration_id) DO UPDATE SET first_seen = least(v.first_seen, EXCLUDED.first_seen),"
        " last_seen = greatest(v.last_seen, EXCLUDED.last_seen), visits = v.visits + EXCLUDED.visits", source, target)
    await conn.execute("DELETE FROM customer_visits WHERE customer_id = $1", source)
    await conn.execute(
        "UPDATE customers t SET first_seen = least(t.first_seen, s.first_seen), last_seen = greatest(t.last_seen, s.last_seen),"
        " channel = coalesce(t.channel, s.channel) FROM customers s WHERE t.id = $2 AND s.id = $1", source, target)
    await conn.execute("UPDATE customers SET merged_into = $2 WHERE id = $1", source, target)
    await add_event(conn, org_id, contracts.CUSTOMER_MERGED, {"from_customer_id": str(source), "into_customer_id": str(target)})


async def identify(conn: asyncpg.Connection, org_id: UUID, *, email: str | None, anonymous_id: str | None,
                   integration_id: UUID | None, channel: str | None, seen_at: datetime) -> UUID:
    """Resolve (and create or merge) the customer behind an email and/or anonymous id.

    An anonymous visitor who gives an email becomes that generic customer: converted in
    place if the email is new, merged into the existing customer otherwise.
    """
    if not email and not anonymous_id:
        raise DomainError("IDENTITY_REQUIRED", "give an email or an anonymous id", "customer")
    anon = await _by_anonymous_id(conn, org_id, anonymous_id) if anonymous_id else None
    if anon is not None and anon["merged_into"] is not None:
        anon = await conn.fetchrow(f"SELECT {COLUMNS}, merged_into FROM customers WHERE id = $1 FOR UPDATE", anon["merged_into"])
    if not email:
        assert anon is not None or anonymous_id
        customer_id = anon["id"] if anon is not None else await _create(
            conn, org_id, email=None, anonymous_id=anonymous_id, channel=channel, seen_at=seen_at)
    else:
        generic = await _by_email(conn, org_id, email)
        if generic is None and anon is not None and anon["kind"] == "anonymous":
            customer_id = anon["id"]
            await conn.execute("UPDATE customers SET kind = 'generic', email = $2, display_name = $2 WHERE id = $1",
                               customer_id, email)
        elif generic is None:
            customer_id = await _create(conn, org_id, email=email, anonymous_id=anonymous_id, channel=channel, seen_at=seen_at)
        else:
            customer_id = generic["id"]
            if anon is not None and anon["id"] != customer_id and anon["kind"] == "anonymous":
                await _merge(conn, org_id, anon["id"], customer_id)
            elif anon is None and anonymous_id:
                # Remember the anonymous id so later anonymous visits resolve to this customer.
                await conn.execute(
                    "INSERT INTO customers (org_id, kind, anonymous_id, display_name, merged_into, first_seen, last_seen)"
                    " VALUES ($1, 'anonymous', $2, $3, $4, $5, $5)", org_id, anonymous_id, anonymous_name(anonymous_id),
                    customer_id, seen_at)
    await _record_visit(conn, org_id, customer_id, integration_id, seen_at, channel)
    return customer_id


def where_clause(org_id: UUID, f: CustomerFilter, tz: str, args: list[Any]) -> str:
    """The WHERE of the customers list; the export uses the very same one."""
    p = Params(args)
    parts = [f"c.org_id = {p(org_id)}", "c.merged_into IS NULL"]
    if f.search:
        needle = f.search.lower()
        parts.append(f"({prefix_match(p, 'lower(c.display_name)', needle)}"
                     f" OR {prefix_match(p, 'lower(c.email)', needle)})")
    if f.kind:
        parts.append(f"c.kind = {p(f.kind.value)}")
    if f.integration_ids:
        parts.append(f"EXISTS (SELECT 1 FROM customer_visits v WHERE v.customer_id = c.id"
                     f" AND v.integration_id = ANY({p(f.integration_ids)}::uuid[]))")
    parts += day_range(p, "c.last_seen", *(f.range.days(tz) if f.range else (None, None)), tz)
    return " AND ".join(parts)


async def list_page(conn: asyncpg.Connection, org_id: UUID, f: CustomerFilter, tz: str, first: int,
                    after: str | None) -> tuple[list[dict[str, Any]], bool]:
    p = Params()
    where = where_clause(org_id, f, tz, p.values)
    return await keyset_page(conn, select=f"SELECT {COLUMNS} FROM customers c", where=where, p=p, ts="c.last_seen",
                             id="c.id", ts_key="last_seen", first=first, after=after)


async def by_ids(conn: asyncpg.Connection, org_id: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM customers WHERE org_id = $1 AND id = ANY($2)", org_id, ids)
    return [dict(r) for r in rows]


async def profile(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(f"SELECT {COLUMNS}, merged_into FROM customers WHERE org_id = $1 AND id = $2",
                              org_id, customer_id)
    if row is None:
        raise NotFound("customer")
    if row["merged_into"] is not None:
        return await profile(conn, org_id, row["merged_into"])
    visits = await conn.fetch(
        "SELECT v.integration_id, i.name AS integration_name, v.first_seen, v.last_seen, v.visits"
        " FROM customer_visits v JOIN integrations i ON i.id = v.integration_id WHERE v.org_id = $1 AND v.customer_id = $2"
        " ORDER BY v.first_seen", org_id, customer_id)
    stats = await conn.fetchrow(
        "SELECT count(*) AS orders, count(*) FILTER (WHERE status = 'SUCCESSFUL') AS successful_orders"
        " FROM orders WHERE org_id = $1 AND customer_id = $2", org_id, customer_id)
    result = dict(row)
    result.pop("merged_into")
    result["visits"] = [dict(v) for v in visits]
    result.update(dict(stats))
    return result


async def timeline(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, limit: int = 200) -> list[dict[str, Any]]:
    """Funnel events the orders service knows of: visits, orders placed, status and commission moves."""
    if await conn.fetchval("SELECT 1 FROM customers WHERE org_id = $1 AND id = $2 AND merged_into IS NULL",
                           org_id, customer_id) is None:
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
           ) t ORDER BY at DESC, kind LIMIT $2""", customer_id, limit, org_id)
    return [dict(r) for r in rows]
