"""The orders service's domain events, as the insights service records them.

Each handler runs in the event's tenant transaction, which the kit's consumer opens and in which it
records the event id (`shared.messaging.consumer.apply_event`): a redelivered or replayed event changes
nothing. Handlers are also safe in any order and against the backfill (`publish-orders` republishes every
order as `order.created` with its current state):

- the orders copy keeps the state of the newest event (`as_of`), so a late older event changes nothing;
- the funnel's `order_placed` and `order_successful` are keyed `order:<id>:placed` / `order:<id>:successful`
  and stored only when no event of that key exists, so every path that records them records them once.
  Any order event records `order_placed` (a status change applied before its creation still places it);
  `order_successful` is recorded when an order is seen SUCCESSFUL, at the time it became so.
- a customer id that a merge (`customer.merged`) retired is recorded under the surviving customer.

Raw events are kept 90 days (`RAW_RETENTION_DAYS`): an order older than that is copied, but gets no raw
funnel event (its partition is gone, and the rollups of those days are not rebuilt from raw events).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from services.insights.domain.catalogue import EventClass
from services.insights.repository import erasure, merges, rollups, source_keys
from services.insights.repository import events as store
from services.insights.repository import orders as orders_copy
from services.insights.service import fx_rates, live, segments
from shared import logging as slog
from shared.config import Settings
from shared.db import connection
from shared.messaging import contracts
from shared.messaging.consumer import EventHandler, apply_event
from shared.messaging.contracts import Event
from shared.service import org_settings

logger = logging.getLogger("insights.orders_events")

RAW_RETENTION_DAYS = 90
HOURLY_WINDOW = timedelta(hours=store.HOURLY_WINDOW_HOURS)
ORDER_EVENTS = frozenset({contracts.ORDER_CREATED, contracts.ORDER_STATUS_CHANGED, contracts.COMMISSION_CHANGED})
SUCCESSFUL = "SUCCESSFUL"
CONSUMER = contracts.INSIGHTS_FROM_ORDERS.consumer


def raw_window_start(now: datetime | None = None) -> datetime:
    """The oldest instant raw events are kept for: midnight UTC, RAW_RETENTION_DAYS days back (partitions are
    UTC days and are dropped whole before that day)."""
    day = (now or datetime.now(UTC)).astimezone(UTC).date() - timedelta(days=RAW_RETENTION_DAYS)
    return datetime.combine(day, time(), UTC)


def _funnel_events(event: Event) -> list[store.NewEvent]:
    """The funnel events an order event stands for (before the customer is mapped through merges)."""
    p = event.payload
    created_at = datetime.fromisoformat(p["created_at"])
    order_id = p["order_id"]
    common: dict[str, Any] = {
        "event_class": EventClass.FUNNEL.value,
        "customer_id": UUID(p["customer_id"]),
        "product_id": UUID(p["product_id"]),
        "category_id": UUID(p["category_id"]),
        "amount": Decimal(p["amount"]),
        "currency": p["currency"],
        "entity_id": order_id,
        "state": p["status"],
    }
    out = [store.NewEvent(occurred_at=created_at, source_key=f"order:{order_id}:placed", type="order_placed", **common)]
    successful_at: datetime | None = None
    if p["status"] == SUCCESSFUL:
        if event.type == contracts.ORDER_STATUS_CHANGED:
            successful_at = event.occurred_at  # the change that made it successful
        elif event.type == contracts.ORDER_CREATED:
            # Created successful, or republished by the backfill with the time it became so.
            successful_at = datetime.fromisoformat(p["successful_at"]) if p.get("successful_at") else created_at
        # A commission change of a successful order: its status change records the step.
    if successful_at is not None:
        out.append(
            store.NewEvent(
                occurred_at=successful_at, source_key=f"order:{order_id}:successful", type="order_successful", **common
            )
        )
    return out


def _kept(events: list[store.NewEvent], now: datetime | None = None) -> list[store.NewEvent]:
    start = raw_window_start(now)
    return [e for e in events if e.occurred_at >= start]


async def prepare(pool: asyncpg.Pool, partitions: store.PartitionCache, event: Event) -> None:
    """Before the event's transaction: the partitions its raw events go to (made by the owner's function on a
    connection of its own, so the transaction never waits on the catalogue lock)."""
    if event.type not in ORDER_EVENTS:
        return
    days: set[date] = {e.occurred_at.astimezone(UTC).date() for e in _kept(_funnel_events(event))}
    if days:
        async with connection(pool) as conn:
            await partitions.ensure(conn, days)


async def on_order(conn: asyncpg.Connection, event: Event) -> None:
    """order.created / status_changed / commission_changed: the orders copy, and the order's funnel steps."""
    customer = await merges.surviving(conn, event.org_id, UUID(event.payload["customer_id"]))
    payload = {**event.payload, "customer_id": str(customer)}
    await orders_copy.upsert(conn, event.org_id, payload, event.occurred_at)
    funnel = _kept(_funnel_events(event))
    if not funnel:
        return
    integration_id = UUID(payload["integration_id"])
    recorded = await source_keys.recorded(conn, event.org_id, integration_id, [e.source_key for e in funnel])
    new = [e for e in funnel if e.source_key not in recorded]
    for e in new:
        e.customer_id = customer
    await store.store(conn, event.org_id, integration_id, None, new)


async def on_customer_merged(conn: asyncpg.Connection, event: Event) -> None:
    """The anonymous customer's history moves to the surviving one, back-dated (repository/merges.py)."""
    moved = await merges.merge(
        conn,
        event.org_id,
        UUID(event.payload["from_customer_id"]),
        UUID(event.payload["into_customer_id"]),
        event.occurred_at,
    )
    moved["segments"] = await segments.follow_merge(
        conn, event.org_id, UUID(event.payload["from_customer_id"]), UUID(event.payload["into_customer_id"])
    )
    slog.log(logger, logging.INFO, "customer merged", **moved)


async def on_customer_erased(conn: asyncpg.Connection, event: Event) -> None:
    """A data-protection erasure: what identifies the customer goes (repository/erasure.py); counts stay."""
    removed = await erasure.erase(conn, event.org_id, UUID(event.payload["customer_id"]))
    removed["segments"] = await segments.follow_erasure(conn, event.org_id, UUID(event.payload["customer_id"]))
    slog.log(logger, logging.INFO, "customer erased", **removed)


async def on_organisation(conn: asyncpg.Connection, event: Event) -> None:
    """The local copy of the organisation's settings; a new time zone re-buckets the day-bucketed models.

    Days are rebuilt from the raw events for the days the raw window covers whole (and the orders rollup
    from the orders copy, which is kept whole); days older than the raw window keep their old zone, as
    nothing is left to re-bucket them from.
    """
    before = await conn.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", event.org_id)
    await org_settings.apply(conn, event)
    after = await conn.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", event.org_id)
    if before is not None and after != before:
        await rebuild_local_days(conn, event.org_id)


async def rebuild_local_days(conn: asyncpg.Connection, org_id: UUID, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    await rollups.rebuild(
        conn,
        org_id,
        rollups.LOCAL_DAY_MODELS,
        since_day=first_whole_local_day(now, await _zone(conn, org_id)),
        hour_from=now,
    )


async def _zone(conn: asyncpg.Connection, org_id: UUID) -> str:
    zone = await conn.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", org_id)
    return str(zone or "UTC")


def first_whole_local_day(now: datetime, zone: str) -> date:
    """The first day of `zone` that the raw window holds whole: the day after the one it starts in."""
    return raw_window_start(now).astimezone(ZoneInfo(zone)).date() + timedelta(days=1)


HANDLERS: dict[str, EventHandler] = {
    contracts.ORDER_CREATED: on_order,
    contracts.ORDER_STATUS_CHANGED: on_order,
    contracts.COMMISSION_CHANGED: on_order,
    # customer.created is subscribed to but needs nothing yet (a customer appears with its first event or
    # order): without a handler the consumer skips it without a transaction.
    contracts.CUSTOMER_MERGED: on_customer_merged,
    contracts.CUSTOMER_ERASED: on_customer_erased,
    **{t: on_organisation for t in contracts.ORGANISATION_EVENTS},
    contracts.FX_RATES_PUBLISHED: fx_rates.on_fx_rates_published,  # reference data (service/fx_rates.py)
}


async def announce(settings: Settings, event: Event) -> None:
    """After the event's transaction committed: tell the organisation's live subscribers what changed."""
    if event.type in ORDER_EVENTS:
        await live.publish(settings, event.org_id, {"kind": "orders", "types": [event.type]})
    elif event.type in {contracts.CUSTOMER_MERGED, contracts.CUSTOMER_ERASED} | contracts.ORGANISATION_EVENTS:
        await live.publish(settings, event.org_id, {"kind": "events", "types": [event.type]})


async def consume(pool: asyncpg.Pool, partitions: store.PartitionCache, settings: Settings, event: Event) -> bool:
    """One delivery of `event`: partitions first, then the kit's consumer (the event id recorded in the same
    tenant transaction as its effect: a redelivery or replay changes nothing), then, only once that
    transaction committed a change, the live message. True when this delivery applied it."""
    await prepare(pool, partitions, event)
    applied = await apply_event(pool, CONSUMER, event, HANDLERS)
    if applied:
        await announce(settings, event)
    return applied
