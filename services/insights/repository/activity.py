"""The organisation's newest events across all customers (the activity feed), one keyset page at a time.

Newest first by `(occurred_at, id)`, the events primary key `(org_id, occurred_at, id)` read backwards:
the time-ordered partitions are appended newest first and the scan stops when the page is full. Filtered
by types, each type is read newest first through `events_type (org_id, type, occurred_at DESC)` (a
lateral scan per type, each stopping at the page size; ties by id as text, as in the timeline, so that the
primary key cannot serve that order) and the few rows merged, so a rare type costs no walk through the
common ones. A class filter is checked on the rows the scan yields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.repository.timeline import EVENT_COLUMNS, ORDER_BY_INDEXED_TIME, with_devices
from shared.service.pagination import Params, decode_cursor, encode_cursor


def page_query(
    org_id: UUID, *, types: Sequence[str] | None, classes: Sequence[str] | None, first: int, after: str | None
) -> tuple[str, list[Any]]:
    """The statement of `page` and its arguments (also what the tests EXPLAIN)."""
    p = Params()
    where = [f"e.org_id = {p(org_id)}"]
    if classes is not None:
        where.append(f"e.class = ANY({p(list(classes))}::text[])")
    if after:
        at, id = decode_cursor(after)
        at_param = p(at)
        # `occurred_at <=` on its own is the index condition; the pair decides ties.
        where += [f"e.occurred_at <= {at_param}", f"(e.occurred_at < {at_param} OR e.id < {p(id)})"]
    limit = p(first + 1)
    order = "ORDER BY e.occurred_at DESC, e.id DESC"
    if types is None:
        inner = f"SELECT e.org_id, {EVENT_COLUMNS} FROM events e WHERE {' AND '.join(where)} {order} LIMIT {limit}"
    else:
        per_type = f"SELECT e.org_id, {EVENT_COLUMNS} FROM events e WHERE {' AND '.join(where)} AND e.type = t.type"
        inner = (
            f"SELECT e.* FROM unnest({p(list(types))}::text[]) AS t(type)"
            f" CROSS JOIN LATERAL ({per_type} ORDER BY {ORDER_BY_INDEXED_TIME} LIMIT {limit}) e {order} LIMIT {limit}"
        )
    return with_devices(inner), p.values


async def page(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    types: Sequence[str] | None,
    classes: Sequence[str] | None,
    first: int,
    after: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `first` events after the cursor `after` (a cursor of this list), and whether more follow;
    each row carries its cursor."""
    sql, args = page_query(org_id, types=types, classes=classes, first=first, after=after)
    rows = await conn.fetch(sql, *args)
    out = []
    for r in rows[:first]:
        row = dict(r)
        row.pop("org_id", None)
        row["cursor"] = encode_cursor(row["occurred_at"], row["id"])
        out.append(row)
    return out, len(rows) > first
