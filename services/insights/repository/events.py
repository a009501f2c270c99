"""Raw events and the read models maintained as they land: all the SQL of storing an event batch.

One statement stores a batch: the events (a replay finds its source key and stores nothing; a business event
counts when it claims its entity's state group in entity_counts, migration 008), and, from exactly the rows it
stored, the daily and hourly rollups (of counted events), the customers' active days (customer_days, with their
projections active_customers, active_counts and first days customer_firsts), the funnel's first occurrences
(funnel_firsts, and their projection funnel_paths: its batch customers' rows recomputed under a per-customer
advisory lock taken first, `lock_funnel_customers`) and the devices. Rollup rows are written in key order, so
two batches of one organisation lock the rows they share in the same order.
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
from shared.messaging.contracts import BUSINESS_EVENT_RECORDED

NIL = UUID(int=0)
# "Any value" of a dimension in active_customers and customer_firsts (migration 003).
ALL = UUID(int=(1 << 128) - 1)
HOURLY_WINDOW_HOURS = 48

_FUNNEL_VALUES = ", ".join(f"('{name}', {step})" for step, name in enumerate(STEP_NAMES, start=1))
FUNNEL_STEP_NAMES = frozenset(STEP_NAMES)
# The class of the advisory locks a customer's funnel_paths rows are recomputed under (`lock_funnel_customers`).
_FUNNEL_LOCK_CLASS = 7_421_010
FUNNEL_PATH_COLUMNS = ("prev_day", "s1", "s2", "s3", "s4", "s5", "s6")


def funnel_paths_select(source: str, where: str) -> str:
    """The funnel_paths rows (migration 006: org_id, integration_id, day, customer_id, prev_day, s1..s6) of the
    funnel_firsts rows `source` (a relation aliased `c`: org_id, integration_id, day, customer_id, step, first_at)
    satisfying `where` (which may name the key as `k.integration_id`): per key (the row's integration, and ALL),
    day and customer, the previous day and each step's first time on or after the day. Every writer of
    funnel_paths (ingestion, merges, the rebuild, the bulk loader) computes its rows with this one query."""
    firsts = ",\n".join(
        f"min((extract(epoch FROM c.first_at) * 1000000)::bigint) FILTER (WHERE c.step = {k}) AS t{k}"
        for k in range(1, len(STEP_NAMES) + 1)
    )
    later = ", ".join(f"min(p.t{k}) OVER later" for k in range(1, len(STEP_NAMES) + 1))
    return f"""
        SELECT p.org_id, p.integration_id, p.day, p.customer_id, lag(p.day) OVER earlier, {later}
          FROM (SELECT c.org_id, k.integration_id, c.day, c.customer_id, {firsts}
                  FROM {source}, LATERAL (VALUES (c.integration_id), ('{ALL}'::uuid)) AS k(integration_id)
                 WHERE {where}
                 GROUP BY 1, 2, 3, 4) p
        WINDOW earlier AS (PARTITION BY p.org_id, p.integration_id, p.customer_id ORDER BY p.day),
               later AS (PARTITION BY p.org_id, p.integration_id, p.customer_id ORDER BY p.day DESC)"""


async def lock_funnel_customers(conn: asyncpg.Connection, org_id: UUID, customer_ids: Sequence[UUID]) -> None:
    """Takes the transaction's advisory lock of each customer's funnel_paths rows, in one order: a customer's rows
    are recomputed from funnel_firsts as the statement after this one sees it, so two transactions writing one
    customer's funnel must not both compute from a snapshot without the other's rows. Taken before any row lock
    of the batch, always in the same (sorted) order, so two batches cannot deadlock on them."""
    if customer_ids:
        await conn.execute(
            f"""SELECT pg_advisory_xact_lock({_FUNNEL_LOCK_CLASS}, h)
                  FROM (SELECT DISTINCT hashtext($1::uuid::text || c::text) AS h
                          FROM unnest($2::uuid[]) c ORDER BY 1) x""",
            org_id,
            list(customer_ids),
        )


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
    fields: dict[str, Any] | None = None
    custom_fields: dict[str, Any] | None = None
    account_currency: str | None = None
    # Business events (domain.business): the state group its entity counts once in, or "" for a state that never
    # counts. None: the event always counts (funnel and behaviour events).
    count_key: str | None = None


_PATH_COLUMNS = ", ".join(FUNNEL_PATH_COLUMNS)
_BATCH_PATHS = funnel_paths_select(
    """(SELECT f.org_id, f.integration_id, f.day, f.customer_id, f.step, f.first_at
          FROM (SELECT DISTINCT customer_id FROM batch_firsts) b
          -- OFFSET 0 keeps the lateral subquery a probe of the customer index per batch customer: flattened,
          -- a planner misled by an organisation's stale statistics hashes every row of the organisation.
          CROSS JOIN LATERAL (SELECT * FROM funnel_firsts f WHERE f.org_id = $1 AND f.customer_id = b.customer_id
                               OFFSET 0) f
        UNION ALL
        SELECT org_id, integration_id, day, customer_id, step, first_at FROM batch_firsts) c""",
    "k.integration_id IN ($2, $22)",
)
_PATHS_UPDATE = (
    ", ".join(f"{c} = EXCLUDED.{c}" for c in FUNNEL_PATH_COLUMNS)
    + f" WHERE ({', '.join(f'fp.{c}' for c in FUNNEL_PATH_COLUMNS)})"
    + f" IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in FUNNEL_PATH_COLUMNS)})"
)
_STORE = f"""
WITH tz AS (
    SELECT coalesce((SELECT time_zone FROM organisation_settings WHERE org_id = $1), 'UTC') AS name
), u AS (
    SELECT * FROM unnest($4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::uuid[], $9::text[],
                         $10::text[], $11::uuid[], $12::uuid[], $13::numeric[], $14::text[], $15::text[],
                         $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $23::text[], $24::text[],
                         $25::text[], $26::text[])
        AS u(occurred_at, source_key, type, class, customer_id, anonymous_id, device_id, product_id, category_id,
             amount, currency, entity_id, state, items, properties, platform, user_agent, fields, custom_fields,
             account_currency, count_key)
), claimed AS (
    -- The business events that count: the first of the batch per entity and state group, unless an earlier
    -- event holds it (entity_counts' key; a concurrent batch waits here, then finds it held).
    INSERT INTO entity_counts AS ec (org_id, integration_id, type, entity_id, count_key, source_key, occurred_at)
    SELECT DISTINCT ON (type, entity_id, count_key) $1, $2, type, entity_id, count_key, source_key, occurred_at
      FROM u WHERE count_key <> ''
     ORDER BY type, entity_id, count_key, occurred_at, source_key
    ON CONFLICT DO NOTHING
    RETURNING ec.source_key, ec.occurred_at
), ins AS (
    INSERT INTO events (org_id, occurred_at, integration_id, source_key, type, class, customer_id, anonymous_id,
                        device_id, product_id, category_id, channel, amount, currency, entity_id, state, items,
                        properties, fields, custom_fields, account_currency, counted)
    SELECT $1, u.occurred_at, $2, u.source_key, type, class, customer_id, anonymous_id, device_id, product_id,
           category_id, $3, amount, currency, entity_id, state, items::jsonb, coalesce(properties, '{{}}')::jsonb,
           fields::jsonb, custom_fields::jsonb, account_currency,
           u.count_key IS NULL OR EXISTS (SELECT 1 FROM claimed c
                                           WHERE c.source_key = u.source_key AND c.occurred_at = u.occurred_at)
      FROM u
    ON CONFLICT (org_id, integration_id, source_key, occurred_at) DO NOTHING
    RETURNING *
), published AS (
    -- The business events this statement stored, to the services that report on them (BUSINESS_EVENT_RECORDED:
    -- the reports service), through the outbox: sent after this transaction commits, each once.
    INSERT INTO outbox (org_id, type, payload)
    SELECT $1, '{BUSINESS_EVENT_RECORDED}',
           jsonb_build_object(
               'event_id', ins.id, 'source_key', ins.source_key, 'type', ins.type, 'occurred_at', ins.occurred_at,
               'integration_id', ins.integration_id, 'customer_id', ins.customer_id, 'product_id', ins.product_id,
               'category_id', ins.category_id, 'channel', ins.channel, 'amount', ins.amount::text,
               'currency', ins.currency, 'entity_id', ins.entity_id, 'state', ins.state, 'items', ins.items,
               'fields', ins.fields, 'custom_fields', ins.custom_fields, 'account_currency', ins.account_currency,
               'counted', ins.counted)
      FROM ins WHERE ins.class = 'business'
    RETURNING 1
), loc AS (
    SELECT ins.*, (ins.occurred_at AT TIME ZONE tz.name)::date AS day FROM ins, tz
), daily AS (
    INSERT INTO event_rollups_daily AS r
           (org_id, day, type, integration_id, category_id, product_id, channel, currency, events, amount)
    SELECT org_id, day, type, integration_id, coalesce(category_id, $21), coalesce(product_id, $21),
           coalesce(channel, ''), coalesce(currency, ''), count(*), coalesce(sum(amount), 0)
      FROM loc WHERE counted GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (org_id, day, type, integration_id, category_id, product_id, channel, currency)
    DO UPDATE SET events = r.events + EXCLUDED.events, amount = r.amount + EXCLUDED.amount
    RETURNING 1
), hourly AS (
    INSERT INTO event_rollups_hourly AS r
           (org_id, hour, type, integration_id, category_id, product_id, channel, currency, events, amount)
    SELECT org_id, date_trunc('hour', occurred_at), type, integration_id, coalesce(category_id, $21),
           coalesce(product_id, $21), coalesce(channel, ''), coalesce(currency, ''), count(*),
           coalesce(sum(amount), 0)
      FROM loc WHERE counted AND occurred_at >= now() - interval '{HOURLY_WINDOW_HOURS} hours'
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
    -- Only keys whose first day moves (a probe of the primary key first: a conflicting row the update's WHERE
    -- skips is still locked, a write per known customer and key).
    INSERT INTO customer_firsts AS cf (org_id, customer_id, integration_id, category_id, first_day)
    SELECT k.org_id, k.customer_id, k.integration_id, k.category_id, min(k.day) FROM keys k
     GROUP BY 1, 2, 3, 4
    HAVING NOT EXISTS (SELECT 1 FROM customer_firsts o
                        WHERE o.org_id = k.org_id AND o.customer_id = k.customer_id
                          AND o.integration_id = k.integration_id AND o.category_id = k.category_id
                          AND o.first_day <= min(k.day))
     ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, customer_id, integration_id, category_id)
    DO UPDATE SET first_day = EXCLUDED.first_day WHERE EXCLUDED.first_day < cf.first_day
    RETURNING 1
), batch_firsts AS (
    SELECT org_id, day, integration_id, coalesce(category_id, $21) AS category_id, customer_id,
           s.step::smallint AS step, min(occurred_at) AS first_at
      FROM loc JOIN (VALUES {_FUNNEL_VALUES}) AS s(type, step) USING (type)
     WHERE customer_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5, 6
), funnel AS (
    INSERT INTO funnel_firsts AS f (org_id, day, integration_id, category_id, customer_id, step, first_at)
    SELECT org_id, day, integration_id, category_id, customer_id, step, first_at FROM batch_firsts
     ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (org_id, day, integration_id, category_id, customer_id, step)
    DO UPDATE SET first_at = least(f.first_at, EXCLUDED.first_at)
    RETURNING 1
), paths AS (
    -- The batch's customers' funnel_paths rows under its integration and ALL, recomputed from their funnel_firsts
    -- (as before this statement) and the batch's (the caller holds their advisory locks); rows written only where
    -- they change.
    INSERT INTO funnel_paths AS fp (org_id, integration_id, day, customer_id, {_PATH_COLUMNS})
    {_BATCH_PATHS}
     ORDER BY 2, 3, 4
    ON CONFLICT (org_id, integration_id, day, customer_id) DO UPDATE SET {_PATHS_UPDATE}
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
    await lock_funnel_customers(
        conn,
        org_id,
        [e.customer_id for e in events if e.customer_id is not None and e.type in FUNNEL_STEP_NAMES],
    )
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
        [json.dumps(e.fields, separators=(",", ":")) if e.fields else None for e in events],
        [json.dumps(e.custom_fields, separators=(",", ":")) if e.custom_fields else None for e in events],
        [e.account_currency for e in events],
        [e.count_key for e in events],
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
