"""The SQL of the documented collections (shared/collections.py): one keyset page of a collection's rows.

Two ways to read, both keyset (never offset), both on indexes (migrations 001 and 007), every statement
filtering by organisation (`$1`) inside the caller's tenant transaction:

- a date range: rows whose time column is in [since, until), in (time, key) order (orders and business entities
  newest first, as their existing indexes hold them), `after` the last row seen;
- changes: rows written after a position (changed_xid, key), handed out only below the oldest transaction still
  running (`horizon`), so a position never skips a change (migration 007 says why).

Each row carries its position columns: `_t` (time), `_k0`, `_k1` (key), `_x` (changed_xid). Business event
collections over several types (financial journals) read one ordered index scan per type, merged by the outer
ORDER BY (PostgreSQL's Merge Append), rather than filtering one scan of every type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.collections import FINANCIAL_TYPES

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Sql:
    """How a collection's rows are read: the SELECT (with its `_x`, `_t`, `_k*` columns), the columns its time,
    key and change marker are, and the business event types it covers (None: no type column)."""

    select: str
    time: str
    key: tuple[str, ...]
    changed: str
    org: str
    type_column: str | None = None
    types: tuple[str, ...] = ()
    # Newest first, keys ascending within a time: the order of an existing index (org_id, [type,] time DESC, key),
    # which a reader then walks forward instead of sorting what remains of the range at each batch.
    newest_first: bool = False


def _positions(time: str, key: tuple[str, ...], changed: str) -> str:
    keys = ", ".join(f"{k} AS _k{i}" for i, k in enumerate(key))
    return f"{changed} AS _x, {time} AS _t, {keys}"


_CONTACTS = Sql(
    select=f"""SELECT c.org_id, c.id, c.kind, c.channel, c.email, c.display_name, c.account_currency, c.custom_fields,
                      c.created_at, c.first_seen, c.last_seen, c.merged_into, c.erased_at,
                      {_positions("c.first_seen", ("c.id",), "c.changed_xid")}
                 FROM contacts c""",
    time="c.first_seen",
    key=("c.id",),
    changed="c.changed_xid",
    org="c.org_id",
)

_ORDERS = Sql(
    select=f"""SELECT o.org_id, o.id, o.integration_id, o.customer_id, o.product_id, o.category_id, o.provider_id,
                      o.kind, o.status, o.comm_status, o.failure_reason, o.amount, o.currency, o.created_at,
                      o.successful_at, o.updated_at, o.custom_fields,
                      {_positions("o.created_at", ("o.id",), "o.changed_xid")}
                 FROM orders o""",
    time="o.created_at",
    key=("o.id",),
    changed="o.changed_xid",
    org="o.org_id",
    newest_first=True,  # orders_created (org_id, created_at DESC, id)
)


def _entities(type_: str) -> Sql:
    # Service requests: when first reported resolved or closed, from the entity's events (its index).
    resolved = (
        """(SELECT min(b.occurred_at) FROM business_events b
             WHERE b.org_id = $1 AND b.integration_id = e.integration_id AND b.type = e.type
               AND b.entity_id = e.entity_id AND b.state IN ('resolved', 'closed'))"""
        if type_ == "service_request"
        else "NULL::timestamptz"
    )
    return Sql(
        select=f"""SELECT e.org_id, e.integration_id, e.type, e.entity_id, e.customer_id, e.state, e.state_at,
                          e.first_event_at, e.last_event_at, e.events, e.counted_at, e.amount, e.currency, e.fields,
                          e.custom_fields, {resolved} AS resolved_at,
                          {_positions("e.last_event_at", ("e.integration_id", "e.entity_id"), "e.changed_xid")}
                     FROM business_entities e""",
        time="e.last_event_at",
        key=("e.integration_id", "e.entity_id"),
        changed="e.changed_xid",
        org="e.org_id",
        type_column="e.type",
        types=(type_,),
        newest_first=True,  # business_entities_recent (org_id, type, last_event_at DESC)
    )


_FINANCIAL = Sql(
    select=f"""SELECT b.org_id, b.event_id, b.type, b.integration_id, b.entity_id, b.state, b.occurred_at,
                      b.recorded_at, b.customer_id, b.amount, b.currency, b.account_currency, b.fields, b.items,
                      b.custom_fields, b.counted,
                      {_positions("b.occurred_at", ("b.event_id",), "b.changed_xid")}
                 FROM business_events b""",
    time="b.occurred_at",
    key=("b.event_id",),
    changed="b.changed_xid",
    org="b.org_id",
    type_column="b.type",
    types=FINANCIAL_TYPES,
)

# The allowance a usage draws on: the contact's subscriptions active when it occurred (started by then, not
# cancelled or expired by then), as the Usage against allowance report counts them.
_USAGE = Sql(
    select=f"""SELECT b.org_id, b.event_id, b.integration_id, b.entity_id, b.customer_id, b.state, b.fields,
                      b.counted, b.occurred_at, b.recorded_at, a.allowance,
                      COALESCE(a.subscription_ids, '{{}}') AS subscription_ids,
                      {_positions("b.occurred_at", ("b.event_id",), "b.changed_xid")}
                 FROM business_events b
                 LEFT JOIN LATERAL (
                     SELECT sum(CASE WHEN jsonb_typeof(s.fields->'allowance') = 'number'
                                     THEN (s.fields->>'allowance')::numeric END) AS allowance,
                            array_agg(s.integration_id::text || ':' || s.entity_id
                                      ORDER BY s.integration_id, s.entity_id) AS subscription_ids
                       FROM business_entities s
                      WHERE s.org_id = $1 AND s.type = 'subscription' AND s.customer_id = b.customer_id
                        AND s.first_event_at <= b.occurred_at
                        AND NOT (s.state IN ('cancelled', 'expired') AND s.state_at <= b.occurred_at)
                 ) a ON true""",
    time="b.occurred_at",
    key=("b.event_id",),
    changed="b.changed_xid",
    org="b.org_id",
    type_column="b.type",
    types=("usage",),
)

SQL: dict[str, Sql] = {
    "contact_profiles": _CONTACTS,
    "orders": _ORDERS,
    "subscriptions": _entities("subscription"),
    "leads": _entities("lead"),
    "service_requests": _entities("service_request"),
    "financial_journals": _FINANCIAL,
    "usage_allowances": _USAGE,
}


def _tuple(columns: tuple[str, ...]) -> str:
    return f"({', '.join(columns)})" if len(columns) > 1 else columns[0]


def _assemble(spec: Sql, where: list[str], order: tuple[str, ...], out_order: str, args: list[Any], limit: int) -> str:
    """The statement: one ordered, limited scan per type (merged), or one scan when the collection has no type."""
    cond = " AND ".join(where)
    ordering = ", ".join(order)
    if spec.type_column is None:
        return f"{spec.select} WHERE {cond} ORDER BY {ordering} LIMIT {limit}"
    parts = []
    for t in spec.types:
        args.append(t)
        parts.append(
            f"({spec.select} WHERE {cond} AND {spec.type_column} = ${len(args)} ORDER BY {ordering} LIMIT {limit})"
        )
    if len(parts) == 1:
        return parts[0]
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) u ORDER BY {out_order} LIMIT {limit}"


async def range_page(
    conn: asyncpg.Connection,
    name: str,
    org_id: UUID,
    since: datetime,
    until: datetime,
    after: Key | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Up to `limit` rows of collection `name` with time in [since, until), in (time, key) order after `after`
    (the `_t`, `_k*` of the last row read)."""
    spec = SQL[name]
    args: list[Any] = [org_id, since, until]
    where = [f"{spec.org} = $1", f"{spec.time} >= $2", f"{spec.time} < $3"]
    if after is not None:
        marks = []
        for value in after:
            args.append(value)
            marks.append(f"${len(args)}")
        keys, key_marks = ", ".join(spec.key), ", ".join(marks[1:])
        if spec.newest_first:
            # time <= T bounds the index scan; the rest skips the rows of time T already read.
            where.append(f"{spec.time} <= {marks[0]} AND ({spec.time} < {marks[0]} OR ({keys}) > ({key_marks}))")
        else:
            where.append(f"({spec.time}, {keys}) > ({', '.join(marks)})")
    direction = " DESC" if spec.newest_first else ""
    order = (spec.time + direction, *spec.key)
    out = ", ".join(["_t" + direction, *(f"_k{i}" for i in range(len(spec.key)))])
    sql = _assemble(spec, where, order, out, args, limit)
    return list(await conn.fetch(sql, *args))


async def ledgers(conn: asyncpg.Connection, org_id: UUID, order_ids: list[UUID]) -> dict[UUID, list[asyncpg.Record]]:
    """The commission ledger of a batch of orders (their `commissionHistory`), oldest first: one statement per
    batch on commission_ledger_order, rather than a JSON aggregate per order (three times slower, measured)."""
    out: dict[UUID, list[asyncpg.Record]] = {i: [] for i in order_ids}
    rows = await conn.fetch(
        """SELECT order_id, event_id, from_status, to_status, from_comm, to_comm, amount, currency, occurred_at
             FROM commission_ledger
            WHERE org_id = $1 AND order_id = ANY($2::uuid[])
            ORDER BY order_id, occurred_at, event_id""",
        org_id,
        order_ids,
    )
    for r in rows:
        out[r["order_id"]].append(r)
    return out


async def horizon(conn: asyncpg.Connection) -> int:
    """The oldest transaction still running: every change below it is committed (or rolled back) for good."""
    value = await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    return int(value)


async def changes_page(
    conn: asyncpg.Connection, name: str, org_id: UUID, after: Key | None, below: int, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` rows of collection `name` written after position `after` (changed_xid, key...) by
    transactions below `below` (`horizon`), in (changed_xid, key) order."""
    spec = SQL[name]
    args: list[Any] = [org_id, below]
    where = [f"{spec.org} = $1", f"{spec.changed} < $2"]
    if after is not None:
        marks = []
        for value in after:
            args.append(value)
            marks.append(f"${len(args)}")
        where.append(f"({spec.changed}, {', '.join(spec.key)}) > ({', '.join(marks)})")
    order = (spec.changed, *spec.key)
    out = ", ".join(["_x", *(f"_k{i}" for i in range(len(spec.key)))])
    sql = _assemble(spec, where, order, out, args, limit)
    return list(await conn.fetch(sql, *args))


async def organisation_profiles_page(
    conn: asyncpg.Connection,
    org_id: UUID,
    after: Key | None,
    limit: int,
    providers: list[tuple[UUID, str]] | None = None,
) -> list[asyncpg.Record]:
    """The partner (from its settings) then each provider of its network, in (kind, id) order after `after`:
    the providers the orders service lists (`providers`: id and name) and any other its orders name (orders_provider
    index), each with the orders it fulfils. The partner's counts cover all its orders."""
    listed = providers or []
    args: list[Any] = [org_id, [p[0] for p in listed], [p[1] for p in listed]]
    cond = ""
    if after is not None:
        args += [after[0], after[1]]
        cond = "WHERE (p.kind, p.id) > ($4, $5)"
    return list(
        await conn.fetch(
            f"""WITH stats AS (
                    SELECT r.provider_id, count(*) AS n, min(r.created_at) AS first_at, max(r.created_at) AS last_at
                      FROM orders r
                     WHERE r.org_id = $1 AND r.provider_id IS NOT NULL
                     GROUP BY r.provider_id
                ), listed AS (
                    SELECT l.id, l.name FROM unnest($2::uuid[], $3::text[]) AS l(id, name)
                )
                SELECT p.*, p.kind AS _k0, p.id AS _k1 FROM (
                    SELECT 'partner' AS kind, s.org_id AS id, s.org_id, s.name, s.time_zone, s.base_currency,
                           o.n AS orders, o.first_at AS first_order_at, o.last_at AS last_order_at
                      FROM organisation_settings s
                      CROSS JOIN LATERAL (SELECT count(*) AS n, min(created_at) AS first_at,
                                                 max(created_at) AS last_at
                                            FROM orders WHERE org_id = $1) o
                     WHERE s.org_id = $1
                    UNION ALL
                    SELECT 'provider', COALESCE(l.id, st.provider_id), $1, l.name, NULL, NULL, COALESCE(st.n, 0),
                           st.first_at, st.last_at
                      FROM listed l FULL JOIN stats st ON st.provider_id = l.id
                ) p {cond}
                ORDER BY p.kind, p.id LIMIT {int(limit)}""",
            *args,
        )
    )
