"""A customer's events, newest first, one keyset page at a time: the events half of the timeline.

The page is read through `events_customer (org_id, customer_id, occurred_at DESC)`: each day's partition
is scanned backwards from the bound and, the partitions being in time order, the newest-first Append stops
as soon as the page is full, so older partitions are never opened (no date range is needed to prune them).
The device's platform and user agent are joined to the page's rows only, after the limit.

Ties on the time are broken by the id compared as text in the "C" collation: the same order as uuid's (fixed
width lower-case hex), but an expression the primary key `(org_id, occurred_at, id)` cannot deliver, so the
planner is never tempted to walk the organisation's newest events filtering on the customer (measured: 8,300
rows read for a customer with 60 of 10,000 events); `events_customer` gives the time order, an incremental
sort the rare ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from shared.service.merged_pages import after_bound, decode_cursor, encode_cursor
from shared.service.pagination import Params

KIND = "event"
"""This stream's name in the merged timeline order (see shared.service.merged_pages)."""

EVENT_COLUMNS = (
    "e.id, e.occurred_at, e.type, e.class, e.integration_id, e.customer_id, e.anonymous_id, e.product_id,"
    " e.category_id, e.channel, e.amount, e.currency, e.entity_id, e.state, e.items, e.properties, e.device_id"
)


ORDER_BY_INDEXED_TIME = 'e.occurred_at DESC, (e.id::text COLLATE "C") DESC'
"""Newest first, ties by id (uuid order), served by an index whose last column is the time (see above)."""


def with_devices(page_sql: str) -> str:
    """`page_sql` (a page of events, ordered and limited) with each event's device joined, in the same order."""
    return (
        "SELECT e.*, d.platform AS device_platform, d.user_agent AS device_user_agent,"
        " d.first_seen AS device_first_seen, d.last_seen AS device_last_seen"
        f" FROM ({page_sql}) e"
        " LEFT JOIN devices d ON d.org_id = e.org_id AND d.customer_id = e.customer_id AND d.device_id = e.device_id"
        " ORDER BY e.occurred_at DESC, e.id DESC"
    )


def page_query(
    org_id: UUID, customer_id: UUID, *, classes: Sequence[str] | None, first: int, after: str | None
) -> tuple[str, list[Any]]:
    """The statement of `page` and its arguments (also what the tests EXPLAIN)."""
    p = Params()
    # An order's confirmation is the orders ledger's entry (ORDER_SUCCESSFUL, with who confirmed it and the
    # commission), merged into the page by the gateway; the funnel's `order_successful` event records the same
    # moment for the funnel and would show it twice.
    where = [f"e.org_id = {p(org_id)}", f"e.customer_id = {p(customer_id)}", "e.type <> 'order_successful'"]
    if classes is not None:
        where.append(f"e.class = ANY({p(list(classes))}::text[])")
    where += after_bound(
        p, decode_cursor(after) if after else None, kind=KIND, ts="e.occurred_at", id="e.id", parse_id=UUID
    )
    inner = (
        f"SELECT e.org_id, {EVENT_COLUMNS} FROM events e WHERE {' AND '.join(where)}"
        f" ORDER BY {ORDER_BY_INDEXED_TIME} LIMIT {p(first + 1)}"
    )
    return with_devices(inner), p.values


async def page(
    conn: asyncpg.Connection,
    org_id: UUID,
    customer_id: UUID,
    *,
    classes: Sequence[str] | None,
    first: int,
    after: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `first` of the customer's events strictly after the merged-timeline cursor `after` (all classes
    when `classes` is None), each with its cursor, and whether more follow."""
    sql, args = page_query(org_id, customer_id, classes=classes, first=first, after=after)
    rows = await conn.fetch(sql, *args)
    return [_row(r) for r in rows[:first]], len(rows) > first


def _row(r: asyncpg.Record) -> dict[str, Any]:
    row = dict(r)
    row.pop("org_id", None)
    row["kind"] = KIND
    row["cursor"] = encode_cursor(row["occurred_at"], KIND, row["id"])
    return row
