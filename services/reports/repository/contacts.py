"""The SQL of the contacts copy (the orders service's customers, migration 001): created, seen, merged, erased.

Every statement filters by organisation and runs in the caller's tenant transaction. Rows are made on first
mention, whichever event mentions the contact first (a customer.created may arrive after the contact's first
order), and `first_seen`/`last_seen` only widen, so arrival order changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

# A merge chain is at most one step today (anonymous into generic, never generic into anything); the bound
# guards against a cycle a bad event could make.
_MAX_HOPS = 8


async def created(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, kind: str, at: datetime) -> None:
    """customer.created: the contact's kind and creation time (the earliest a replay or a race could give)."""
    await conn.execute(
        """INSERT INTO contacts AS c (org_id, id, kind, created_at, first_seen, last_seen)
           VALUES ($1, $2, $3, $4, $4, $4)
           ON CONFLICT (org_id, id) DO UPDATE SET
               kind = coalesce(c.kind, EXCLUDED.kind),
               created_at = LEAST(c.created_at, EXCLUDED.created_at),
               first_seen = LEAST(c.first_seen, EXCLUDED.first_seen),
               last_seen = GREATEST(c.last_seen, EXCLUDED.last_seen)""",
        org_id,
        customer_id,
        kind,
        at,
    )


async def seen(
    conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, at: datetime, channel: str | None = None
) -> None:
    """The contact appeared at `at` (an order, a business event): made if unknown, its seen times widened,
    its channel the first one known."""
    await conn.execute(
        """INSERT INTO contacts AS c (org_id, id, channel, first_seen, last_seen)
           VALUES ($1, $2, $3, $4, $4)
           ON CONFLICT (org_id, id) DO UPDATE SET
               channel = coalesce(c.channel, EXCLUDED.channel),
               first_seen = LEAST(c.first_seen, EXCLUDED.first_seen),
               last_seen = GREATEST(c.last_seen, EXCLUDED.last_seen)
            WHERE c.first_seen IS DISTINCT FROM LEAST(c.first_seen, EXCLUDED.first_seen)
               OR c.last_seen IS DISTINCT FROM GREATEST(c.last_seen, EXCLUDED.last_seen)
               OR (c.channel IS NULL AND EXCLUDED.channel IS NOT NULL)""",
        org_id,
        customer_id,
        channel,
        at,
    )


async def set_account_currency(
    conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, currency: str, at: datetime
) -> None:
    """The account currency an event of time `at` carried, unless a newer event's is already stored."""
    await conn.execute(
        """UPDATE contacts SET account_currency = $3, account_currency_at = $4
            WHERE org_id = $1 AND id = $2
              AND (account_currency_at IS NULL OR account_currency_at < $4)""",
        org_id,
        customer_id,
        currency,
        at,
    )


async def surviving(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> UUID:
    """The contact `customer_id` stands for now: itself, or the one a merge folded it into."""
    found = await conn.fetchval(
        """WITH RECURSIVE chain(id, hops) AS (
               SELECT $2::uuid, 0
               UNION ALL
               SELECT c.merged_into, chain.hops + 1 FROM chain
                 JOIN contacts c ON c.org_id = $1 AND c.id = chain.id
                WHERE c.merged_into IS NOT NULL AND chain.hops < $3)
           SELECT id FROM chain ORDER BY hops DESC LIMIT 1""",
        org_id,
        customer_id,
        _MAX_HOPS,
    )
    return UUID(str(found))


async def merge(conn: asyncpg.Connection, org_id: UUID, from_id: UUID, into_id: UUID) -> dict[str, int]:
    """customer.merged: `from_id` folds into `into_id`. The surviving contact's seen times widen to cover the
    merged one's; every order, business event and entity of `from_id` (and contacts merged into it) moves to
    `into_id`. Safe to run twice (the second finds nothing to move)."""
    await conn.execute(
        """INSERT INTO contacts AS c (org_id, id, first_seen, last_seen, channel)
           SELECT $1, $3::uuid, f.first_seen, f.last_seen, f.channel
             FROM (SELECT 1) one LEFT JOIN contacts f ON f.org_id = $1 AND f.id = $2
           ON CONFLICT (org_id, id) DO UPDATE SET
               first_seen = LEAST(c.first_seen, EXCLUDED.first_seen),
               last_seen = GREATEST(c.last_seen, EXCLUDED.last_seen),
               channel = coalesce(c.channel, EXCLUDED.channel)""",
        org_id,
        from_id,
        into_id,
    )
    await conn.execute(
        """INSERT INTO contacts AS c (org_id, id, merged_into) VALUES ($1, $2, $3)
           ON CONFLICT (org_id, id) DO UPDATE SET merged_into = EXCLUDED.merged_into""",
        org_id,
        from_id,
        into_id,
    )
    row = await conn.fetchrow(
        """WITH contacts_moved AS (
               UPDATE contacts SET merged_into = $3 WHERE org_id = $1 AND merged_into = $2 AND id <> $3 RETURNING 1
           ), orders_moved AS (
               UPDATE orders SET customer_id = $3 WHERE org_id = $1 AND customer_id = $2 RETURNING 1
           ), events_moved AS (
               UPDATE business_events SET customer_id = $3 WHERE org_id = $1 AND customer_id = $2 RETURNING 1
           ), entities_moved AS (
               UPDATE business_entities SET customer_id = $3 WHERE org_id = $1 AND customer_id = $2 RETURNING 1
           )
           SELECT (SELECT count(*) FROM contacts_moved) AS contacts, (SELECT count(*) FROM orders_moved) AS orders,
                  (SELECT count(*) FROM events_moved) AS business_events,
                  (SELECT count(*) FROM entities_moved) AS business_entities""",
        org_id,
        from_id,
        into_id,
    )
    assert row is not None
    return {k: int(v) for k, v in row.items()}


async def erase(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, erased_at: datetime) -> bool:
    """customer.erased: every personal column of the contact (email, display name, custom fields) emptied,
    erased_at set (made if unknown, so a
    later event about the contact finds it erased). Orders, ledger and business events stay under the
    pseudonymous id: every figure stays as it was. False when it was erased already."""
    done = await conn.fetchval(
        """INSERT INTO contacts AS c (org_id, id, erased_at) VALUES ($1, $2, $3)
           ON CONFLICT (org_id, id) DO UPDATE SET
               email = NULL, display_name = NULL, custom_fields = NULL, erased_at = EXCLUDED.erased_at
            WHERE c.erased_at IS NULL
           RETURNING true""",
        org_id,
        customer_id,
        erased_at,
    )
    return bool(done)


async def set_profile(
    conn: asyncpg.Connection,
    org_id: UUID,
    customer_id: UUID,
    custom_fields: dict[str, Any],
    account_currency: str | None,
    at: datetime,
) -> None:
    """customer.updated: the contact's custom fields and account currency (NULL: the organisation's base
    currency) as of `at`, unless a newer event's are stored; the contact is made if its creation is yet to come."""
    await conn.execute(
        """INSERT INTO contacts AS c (org_id, id, custom_fields, custom_fields_at, account_currency,
                                      account_currency_at)
           VALUES ($1, $2, $3, $5, $4, $5)
           ON CONFLICT (org_id, id) DO UPDATE SET
               custom_fields = CASE WHEN c.custom_fields_at IS NULL OR c.custom_fields_at < $5
                                    THEN EXCLUDED.custom_fields ELSE c.custom_fields END,
               custom_fields_at = GREATEST(c.custom_fields_at, $5),
               account_currency = CASE WHEN c.account_currency_at IS NULL OR c.account_currency_at < $5
                                       THEN EXCLUDED.account_currency ELSE c.account_currency END,
               account_currency_at = GREATEST(c.account_currency_at, $5)""",
        org_id,
        customer_id,
        custom_fields,
        account_currency,
        at,
    )
