"""The SQL of the orders copy and its commission ledger (migration 001), fed by the orders service's order
events (payload: its `event_payload`, plus previous_status/previous_comm_status on changes and successful_at
on the backfill's republished order.created).

The order row keeps the state of the newest event (`as_of`): a late older event changes nothing. The ledger is
history keyed by the event that carried each change, so every change is recorded once whatever the order.

Every write of an order row also moves it in `orders_hourly` (migration 008's statement triggers, in the same
transaction): the rollup the analytical orders reports read always counts each order once, in the bucket of
the state `upsert` kept; a replayed or late event that changes no row changes no bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class OrderState:
    """An order as one event describes it."""

    id: UUID
    integration_id: UUID
    category_id: UUID
    product_id: UUID
    customer_id: UUID
    kind: str
    status: str
    comm_status: str
    failure_reason: str | None
    amount: Decimal
    currency: str
    created_at: datetime
    successful_at: datetime | None
    custom_fields: dict[str, Any] | None = None
    provider_id: UUID | None = None


async def upsert(conn: asyncpg.Connection, org_id: UUID, order: OrderState, as_of: datetime) -> bool:
    """The order as of `as_of`; False when a newer (or the same) state was applied already. successful_at is
    kept once known (a later event without it does not clear it)."""
    changed = await conn.fetchval(
        """INSERT INTO orders AS o (org_id, id, integration_id, category_id, product_id, customer_id, kind, status,
                                    comm_status, failure_reason, amount, currency, created_at, successful_at,
                                    updated_at, as_of, custom_fields, provider_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17)
           ON CONFLICT (org_id, id) DO UPDATE SET
               customer_id = EXCLUDED.customer_id, kind = EXCLUDED.kind, status = EXCLUDED.status,
               comm_status = EXCLUDED.comm_status, failure_reason = EXCLUDED.failure_reason,
               amount = EXCLUDED.amount, currency = EXCLUDED.currency,
               successful_at = coalesce(EXCLUDED.successful_at, o.successful_at),
               updated_at = EXCLUDED.updated_at, as_of = EXCLUDED.as_of, custom_fields = EXCLUDED.custom_fields,
               provider_id = coalesce(EXCLUDED.provider_id, o.provider_id)
            WHERE o.as_of < EXCLUDED.as_of
           RETURNING true""",
        org_id,
        order.id,
        order.integration_id,
        order.category_id,
        order.product_id,
        order.customer_id,
        order.kind,
        order.status,
        order.comm_status,
        order.failure_reason,
        order.amount,
        order.currency,
        order.created_at,
        order.successful_at,
        as_of,
        order.custom_fields,
        order.provider_id,
    )
    return bool(changed)


async def fill_successful_at(conn: asyncpg.Connection, org_id: UUID, order_id: UUID, at: datetime) -> None:
    """The time the order became SUCCESSFUL, learnt from a change event (even a late one): the earliest wins."""
    await conn.execute(
        """UPDATE orders SET successful_at = $3
            WHERE org_id = $1 AND id = $2 AND (successful_at IS NULL OR successful_at > $3)""",
        org_id,
        order_id,
        at,
    )


@dataclass(frozen=True)
class LedgerEntry:
    event_id: UUID
    order_id: UUID
    from_status: str | None
    to_status: str
    from_comm: str | None
    to_comm: str
    amount: Decimal
    currency: str
    source: str | None
    occurred_at: datetime


async def record_change(conn: asyncpg.Connection, org_id: UUID, entry: LedgerEntry) -> bool:
    """One commission-ledger row per change event; False when that event's row exists."""
    done = await conn.fetchval(
        """INSERT INTO commission_ledger (org_id, event_id, order_id, from_status, to_status, from_comm, to_comm,
                                          amount, currency, source, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (org_id, event_id) DO NOTHING
           RETURNING true""",
        org_id,
        entry.event_id,
        entry.order_id,
        entry.from_status,
        entry.to_status,
        entry.from_comm,
        entry.to_comm,
        entry.amount,
        entry.currency,
        entry.source,
        entry.occurred_at,
    )
    return bool(done)
