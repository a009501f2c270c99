"""The SQL of the business events copy and the entities the itemised reports list (migration 001).

An event is stored once per its own id (the insights service's `event_id`): a redelivery, a replay or the
backfill's republished copy (a new envelope id, the same `event_id`) stores nothing. The entity row is then
recomputed from all its stored events in one statement, so the order events arrive in never matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class BusinessEvent:
    """A business event as the insights service published it (business_event.recorded)."""

    event_id: UUID
    occurred_at: datetime
    integration_id: UUID
    source_key: str
    type: str
    entity_id: str
    state: str
    customer_id: UUID | None
    product_id: UUID | None
    category_id: UUID | None
    channel: str | None
    amount: Decimal | None
    currency: str | None
    account_currency: str | None
    fields: dict[str, Any] | None
    custom_fields: dict[str, Any] | None
    items: list[Any] | None
    counted: bool


async def insert(conn: asyncpg.Connection, org_id: UUID, e: BusinessEvent, recorded_at: datetime) -> bool:
    """Stores the event; False when an event of that id is stored already."""
    done = await conn.fetchval(
        """INSERT INTO business_events (org_id, event_id, occurred_at, recorded_at, integration_id, source_key, type,
                                        entity_id, state, customer_id, product_id, category_id, channel, amount,
                                        currency, account_currency, fields, custom_fields, items, counted)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
           ON CONFLICT (org_id, event_id) DO NOTHING
           RETURNING true""",
        org_id,
        e.event_id,
        e.occurred_at,
        recorded_at,
        e.integration_id,
        e.source_key,
        e.type,
        e.entity_id,
        e.state,
        e.customer_id,
        e.product_id,
        e.category_id,
        e.channel,
        e.amount,
        e.currency,
        e.account_currency,
        e.fields,
        e.custom_fields,
        e.items,
        e.counted,
    )
    return bool(done)


# The entity from its events: latest by (occurred_at, event_id) for the state, contact, fields and account
# currency; the latest counted one for the counted time and amount.
_REFRESH_ENTITY = """
WITH ev AS (
    SELECT * FROM business_events
     WHERE org_id = $1 AND integration_id = $2 AND type = $3 AND entity_id = $4
), latest AS (
    SELECT * FROM ev ORDER BY occurred_at DESC, event_id DESC LIMIT 1
), counted AS (
    SELECT * FROM ev WHERE counted ORDER BY occurred_at DESC, event_id DESC LIMIT 1
), span AS (
    SELECT min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n FROM ev
)
INSERT INTO business_entities AS b (org_id, integration_id, type, entity_id, customer_id, state, state_at,
                                    first_event_at, last_event_at, events, counted_at, amount, currency,
                                    account_currency, fields, custom_fields)
SELECT $1, $2, $3, $4, l.customer_id, l.state, l.occurred_at, s.first_at, s.last_at, s.n, c.occurred_at, c.amount,
       c.currency, l.account_currency, l.fields, l.custom_fields
  FROM latest l CROSS JOIN span s LEFT JOIN counted c ON true
ON CONFLICT (org_id, integration_id, type, entity_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, state = EXCLUDED.state, state_at = EXCLUDED.state_at,
    first_event_at = EXCLUDED.first_event_at, last_event_at = EXCLUDED.last_event_at, events = EXCLUDED.events,
    counted_at = EXCLUDED.counted_at, amount = EXCLUDED.amount, currency = EXCLUDED.currency,
    account_currency = EXCLUDED.account_currency, fields = EXCLUDED.fields, custom_fields = EXCLUDED.custom_fields
"""


async def refresh_entity(
    conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, type_: str, entity_id: str
) -> None:
    """Recomputes the entity's row from its stored events (a handful per entity: read through the entity index)."""
    await conn.execute(_REFRESH_ENTITY, org_id, integration_id, type_, entity_id)
