"""The changes of a customer's orders after they were placed (status and commission moves from the
commission ledger), newest first: the ORDER half of the customer timeline the gateway merges with the
insights service's events (order and cursors of `shared.service.merged_pages`).

The placement itself is not here: the insights service records it as the funnel's `order_placed` event
(from this service's `order.created`), and one fact is shown once.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.service.merged_pages import after_bound, decode_cursor, encode_cursor
from shared.service.pagination import Params

KIND = "order"
"""This stream's name in the merged timeline order."""


async def page(
    conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, *, first: int, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `first` ledger entries of the customer's orders strictly after the merged-timeline cursor
    `after`, each with its cursor and `entry` (ORDER_<STATUS> or COMMISSION_<STATUS>), and whether more
    follow. The customer's orders come through `orders_by_customer`, their entries through
    `commission_ledger_order`: a customer's orders are few, their entries a handful each."""
    p = Params()
    where = [
        f"o.org_id = {p(org_id)}",
        "l.org_id = o.org_id",
        f"o.customer_id = {p(customer_id)}",
        "l.from_status IS NOT NULL",
    ]
    where += after_bound(
        p, decode_cursor(after) if after else None, kind=KIND, ts="l.occurred_at", id="l.id", parse_id=int
    )
    rows = await conn.fetch(
        "SELECT l.id, l.occurred_at, l.order_id, o.integration_id, o.product_id, pr.name AS product_name,"
        "       l.from_status, l.to_status, l.from_comm, l.to_comm, l.amount, l.currency, l.source,"
        "       CASE WHEN l.from_status <> l.to_status THEN 'ORDER_' || l.to_status"
        "            ELSE 'COMMISSION_' || replace(l.to_comm, '/', '') END AS entry"
        "  FROM orders o JOIN commission_ledger l ON l.org_id = o.org_id AND l.order_id = o.id"
        "  JOIN products pr ON pr.org_id = o.org_id AND pr.id = o.product_id"
        f" WHERE {' AND '.join(where)}"
        f" ORDER BY l.occurred_at DESC, l.id DESC LIMIT {p(first + 1)}",
        *p.values,
    )
    out = []
    for r in rows[:first]:
        row = dict(r)
        row["kind"] = KIND
        row["cursor"] = encode_cursor(row["occurred_at"], KIND, row["id"])
        out.append(row)
    return out, len(rows) > first
