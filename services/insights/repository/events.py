"""Raw events and the read models maintained as they land: all the SQL of storing an event batch.

One statement stores a batch: the events (a replay finds its source key and stores nothing), and, from
exactly the rows it stored, the daily and hourly rollups, the customers' active days (customer_days, with
their projections active_customers, active_counts and first days customer_firsts), the funnel's first
occurrences and the devices. Rollup rows are written in key order, so two batches of one organisation lock
the rows they share in the same order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.domain.catalogue import STEP_NAMES

NIL = UUID(int=0)
# "Any value" of a dimension in active_customers and customer_firsts (migration 003).
ALL = UUID(int=(1 << 128) - 1)
HOURLY_WINDOW_HOURS = 48

_FUNNEL_VALUES = ", ".join(f"('{name}', {step})" for step, name in enumerate(STEP_NAMES, start=1))


@dataclass
class NewEvent:
    occurred_at: datetime
    source_key: str
    type: str
    event_class: str
    customer_id: UUID | None
    anonymous_id: str | None = None
    device_id: str | None = None
    device_platform: str | None = None
    device_user_agent: str | None = None
    product_id: UUID | None = None
    category_id: UUID | None = None
    amount: Decimal | None = None
    currency: str | None = None
    entity_id: str | None = None
    state: str | None = None
    items: list[dict[str, Any]] | None = None
    properties: dict[str, Any] = field(default_factory=dict)


_STORE = f"""
WITH tz AS (
    SELECT coalesce((SELECT time_zone FROM organisation_settings WHERE org_id = $1), 'UTC') AS name
), u AS (
    SELECT * FROM unnest($4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::uuid[], $9::text[],
                         $10::text[], $11::uuid[], $12::uuid[], $13::numeric[], $14::text[], $15::text[],
                         $16::text[], $17::text[], $18::text[], $19::text[], $20::text[])
        AS u(occurred_at, source_key, type, class, customer_id, anonymous_id, device_id, product_id, category_id,
             amount, currency, entity_id, state, items, properties, platform, user_agent)
), ins AS (
    INSERT INTO events (org_id, occurred_at, integration_id, source_key, type, class, customer_id, anonymous_id,
                        device_id, product_id, category_id, channel, amount, currency, entity_id, state, items,
                        properties)
    SELECT $1, occurred_at, $2, source_key, type, class, customer_id, anonymous_id, device_id, product_id,
           category_id, $3, amount, currency, entity_id, state, items::jsonb, coalesce(properties, '{{}}')::jsonb
      FROM u
    ON CONFLICT (org_id, integration_id, source_key, occurred_at) DO NOTHING
    RETURNING org_id, occurred_at, integration_id, type, customer_id, product_id, category_id, channel, amount,
              currency, device_id
), loc AS (
    SELECT ins.*, (ins.occurred_at AT TIME ZONE tz.name)::date AS day FROM ins, tz
), daily AS (
    INSERT INTO event_rollups_daily AS r
           (org_id, day, type, integration_id, category_id, product_id, channel, currency, events, amount)
    SELECT org_id, day, type, integration_id, coalesce(category_id, $21), coalesce(product_id, $21),
           coalesce(channel, ''), coalesce(currency, ''), count(*), coalesce(sum(amount), 0)
      FROM loc GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (org_id, day, type, integration_id, category_id, product_id, channel, currency)
    DO UPDATE SET events = r.events + EXCLUDED.events, amount = r.amount + EXCLUDED.amount
    RETURNING 1
), hourly AS (
    INSERT INTO event_rollups_hourly AS r
           (org_id, hour, type, integration_id, category_id, product_id, channel, currency, events, amount)
    SELECT org_id, date_trunc('hour', occurred_at), type, integration_id, coalesce(category_id, $21),
           coalesce(product_id, $21), coalesce(channel, ''), coalesce(currency, ''), count(*),
           coalesce(sum(amount), 0)
      FROM loc WHERE occurred_at >= now() - interval '{HOURLY_WINDOW_HOURS} hours'
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (org_id, hour, type, integration_id, category_id, product_id, channel, currency)
    DO UPDATE SET events = r.events + EXCLUDED.events, amount = r.amount + EXCLUDED.amount
    RETURNING 1
), active AS (
    INSERT INTO customer_days AS c (org_id, day, integration_id, category_id, customer_id, events, visits)
    SELECT org_id, day, integration_id, coalesce(category_id, $21), customer_id, count(*),
           count(*) FILTER (WHERE type = 'visit')
      FROM loc WHERE customer_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (org_id, day, integration_id, category_id, customer_id)
    DO UPDATE SET events = c.events + EXCLUDED.events, visits = c.visits + EXCLUDED.visits
    RETURNING 1
), keys AS (
    -- Each active customer-day under its (integration, category) and the three projections a filter of at
    -- most one integration and one category reads (ALL: any value).
    SELECT DISTINCT loc.org_id, k.integration_id, k.category_id, loc.day, loc.customer_id
      FROM loc, LATERAL (VALUES (loc.integration_id, coalesce(loc.category_id, $21)),
                                (loc.integration_id, $22::uuid),
                                ($22::uuid, coalesce(loc.category_id, $21)),
                                ($22::uuid, $22::uuid)) AS k(integration_id, category_id)
     WHERE loc.customer_id IS NOT NULL
), actives AS (
    INSERT INTO active_customers (org_id, integration_id, category_id, day, customer_id)
    SELECT org_id, integration_id, category_id, day, customer_id FROM keys ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT DO NOTHING
    RETURNING org_id, integration_id, category_id, day
), counts AS (
    -- The customers each key and day gained (the rows active_customers did not hold yet).
    INSERT INTO active_counts AS n (org_id, integration_id, category_id, day, customers)
    SELECT org_id, integration_id, category_id, day, count(*) FROM actives GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, integration_id, category_id, day) DO UPDATE SET customers = n.customers + EXCLUDED.customers
    RETURNING 1
), firsts AS (
    INSERT INTO customer_firsts AS cf (org_id, customer_id, integration_id, category_id, first_day)
    SELECT org_id, customer_id, integration_id, category_id, min(day) FROM keys
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, customer_id, integration_id, category_id)
    DO UPDATE SET first_day = EXCLUDED.first_day WHERE EXCLUDED.first_day < cf.first_day
    RETURNING 1
), funnel AS (
    INSERT INTO funnel_firsts AS f (org_id, day, integration_id, category_id, customer_id, step, first_at)
    SELECT org_id, day, integration_id, coalesce(category_id, $21), customer_id, s.step, min(occurred_at)
      FROM loc JOIN (VALUES {_FUNNEL_VALUES}) AS s(type, step) USING (type)
     WHERE customer_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (org_id, day, integration_id, category_id, customer_id, step)
    DO UPDATE SET first_at = least(f.first_at, EXCLUDED.first_at)
    RETURNING 1
), devices AS (
    INSERT INTO devices AS d (org_id, customer_id, device_id, platform, user_agent, first_seen, last_seen)
    SELECT $1, customer_id, device_id, max(platform), max(user_agent), min(occurred_at), max(occurred_at)
      FROM u WHERE device_id IS NOT NULL AND customer_id IS NOT NULL
     GROUP BY customer_id, device_id ORDER BY customer_id, device_id
    ON CONFLICT (org_id, customer_id, device_id) DO UPDATE SET
        platform = coalesce(EXCLUDED.platform, d.platform), user_agent = coalesce(EXCLUDED.user_agent, d.user_agent),
        first_seen = least(d.first_seen, EXCLUDED.first_seen), last_seen = greatest(d.last_seen, EXCLUDED.last_seen)
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins) AS stored,
       (SELECT array_agg(DISTINCT type) FROM ins) AS types
"""


async def store(
    conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, channel: str | None, events: Sequence[NewEvent]
) -> tuple[int, list[str]]:
    """Stores `events` (those not stored before) and their read models; returns how many were new, and
    their types. The event days' partitions must exist (`ensure_partitions`)."""
    if not events:
        return 0, []
    row = await conn.fetchrow(
        _STORE,
        org_id,
        integration_id,
        channel,
        [e.occurred_at for e in events],
        [e.source_key for e in events],
        [e.type for e in events],
        [e.event_class for e in events],
        [e.customer_id for e in events],
        [e.anonymous_id for e in events],
        [e.device_id for e in events],
        [e.product_id for e in events],
        [e.category_id for e in events],
        [e.amount for e in events],
        [e.currency for e in events],
        [e.entity_id for e in events],
        [e.state for e in events],
        [json.dumps(e.items) if e.items is not None else None for e in events],
        [json.dumps(e.properties, separators=(",", ":")) if e.properties else None for e in events],
        [e.device_platform for e in events],
        [e.device_user_agent for e in events],
        NIL,
        ALL,
    )
    assert row is not None
    return int(row["stored"]), list(row["types"] or [])


class PartitionCache:
    """The UTC days whose event partitions this process knows exist (made through the owner's function)."""

    def __init__(self) -> None:
        self.known: set[date] = set()

    async def ensure(self, conn: asyncpg.Connection, days: set[date]) -> None:
        missing = days - self.known
        if missing:
            await conn.execute("SELECT ensure_event_partitions($1, $2)", min(missing), max(missing))
            self.known |= missing
