"""Resolving a batch of identities at once: the insights service's one call per event batch.

The orders service stays the one owner of customers: a first visit creates the anonymous customer here,
an email identifies or merges exactly as `POST /v1/customers/identify` does. Known customers (the common
case: a session's events) are found with two set-based lookups and their first/last seen and visits moved
in one statement; only new or changing identities go through `customers.identify`, one at a time, in a
fixed order (so two batches touching the same customers lock them in the same order).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.service import customers as customer_service

# Every customer row first, then every visits row, each in id order, as the two statements this replaces did
# (the visits insert waits on the scalar subquery, which runs the whole update): two batches, or a batch and
# an identify, never lock the same rows in opposite orders. A customer row whose first/last seen and channel
# would stay the same is not written (a replayed batch): its update moves every index (last_seen is indexed).
_SEEN = """
WITH v AS (
    SELECT * FROM unnest($3::uuid[], $4::timestamptz[], $5::timestamptz[], $6::int[]) AS v(id, f, l, n)
), moved AS (
    UPDATE customers c
       SET first_seen = least(c.first_seen, v.f), last_seen = greatest(c.last_seen, v.l),
           channel = coalesce(c.channel, $7)
      FROM v
     WHERE c.org_id = $1 AND c.id = v.id
       AND (c.first_seen, c.last_seen, c.channel) IS DISTINCT FROM
           (least(c.first_seen, v.f), greatest(c.last_seen, v.l), coalesce(c.channel, $7))
    RETURNING 1
)
INSERT INTO customer_visits AS cv (org_id, customer_id, integration_id, first_seen, last_seen, visits)
SELECT $1, v.id, $2, v.f, v.l, v.n FROM v
 WHERE (SELECT count(*) FROM moved) >= 0
ON CONFLICT (customer_id, integration_id) DO UPDATE SET
    first_seen = least(cv.first_seen, EXCLUDED.first_seen),
    last_seen = greatest(cv.last_seen, EXCLUDED.last_seen),
    visits = cv.visits + EXCLUDED.visits
"""


@dataclass(frozen=True)
class Identity:
    email: str | None
    anonymous_id: str | None
    first_seen: datetime
    last_seen: datetime
    visits: int


async def _known(conn: asyncpg.Connection, org_id: UUID, column: str, values: list[str]) -> dict[str, UUID]:
    """Customer ids by email (lower-cased) or anonymous id, merged customers followed to their survivor."""
    if not values:
        return {}
    key = "lower(c.email)" if column == "email" else "c.anonymous_id"
    rows = await conn.fetch(
        f"SELECT {key} AS k, coalesce(c.merged_into, c.id) AS id FROM customers c"
        f" WHERE c.org_id = $1 AND {key} = ANY($2::text[])",
        org_id,
        values,
    )
    return {r["k"]: r["id"] for r in rows}


async def resolve(
    conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, channel: str | None, identities: list[Identity]
) -> list[UUID]:
    """The customer of each identity, in order (created, converted or merged as needed)."""
    by_email = await _known(conn, org_id, "email", sorted({i.email.lower() for i in identities if i.email}))
    by_anon = await _known(conn, org_id, "anon", sorted({i.anonymous_id for i in identities if i.anonymous_id}))
    found: list[UUID | None] = []
    for i in identities:
        e = by_email.get(i.email.lower()) if i.email else None
        a = by_anon.get(i.anonymous_id) if i.anonymous_id else None
        if i.email and i.anonymous_id:
            found.append(e if e is not None and e == a else None)
        else:
            found.append(e if i.email else a)
    # Known customers: first/last seen and visits in one statement (one row per customer, the arrays sent once).
    seen: dict[UUID, list[Any]] = {}
    for i, cid in zip(identities, found, strict=True):
        if cid is not None:
            s = seen.setdefault(cid, [i.first_seen, i.last_seen, 0])
            s[0], s[1], s[2] = min(s[0], i.first_seen), max(s[1], i.last_seen), s[2] + i.visits
    if seen:
        ids = sorted(seen)
        await conn.execute(
            _SEEN,
            org_id,
            integration_id,
            ids,
            [seen[c][0] for c in ids],
            [seen[c][1] for c in ids],
            [seen[c][2] for c in ids],
            channel,
        )
    # New or changing identities: one at a time, in a fixed order, through the same rules as /v1 identify.
    pending = sorted(
        (n for n, cid in enumerate(found) if cid is None),
        key=lambda n: (identities[n].email or "", identities[n].anonymous_id or ""),
    )
    out = list(found)
    for n in pending:
        i = identities[n]
        out[n] = await customer_service.identify(
            conn,
            org_id,
            email=i.email,
            anonymous_id=i.anonymous_id,
            integration_id=integration_id,
            channel=channel,
            seen_at=i.last_seen,
        )
    return [c for c in out if c is not None]
