"""Bulk loads into the insights database: binary COPY of raw events, devices and the orders copy, then
every read model built set-based from what was loaded.

Written for generated data sets (demo/insights.py: a million events in one transaction), on a connection
of the service's owner role, which bypasses row-level security. Nothing here commits: the loader runs the
whole load in one transaction, so a failure leaves nothing behind. The read models are built with the
recomputations of `repository/rollups.py` (the rules of the ingestion statement, `repository/events.py`,
and of the orders copy's trigger), so they equal what ingesting the same events batch by batch would have
left; they are plain INSERTs, so the organisation must have no events and no orders copy yet (`has_data`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.repository import rollups
from services.insights.repository.events import HOURLY_WINDOW_HOURS

# Advisory lock key of bulk loads into the insights database (the orders loader uses 7_421_101).
LOAD_LOCK = 7_421_201
# PostgreSQL's timestamp origin, 2000-01-01T00:00:00Z, in epoch seconds.
PG_EPOCH = 946_684_800.0
# maintenance_slots task that records a finished demo load (slot: the organisation id).
DEMO_TASK = "demo-load"

SESSION_EVENT_COLUMNS = (
    "org_id",
    "occurred_at",
    "integration_id",
    "source_key",
    "type",
    "class",
    "customer_id",
    "anonymous_id",
    "device_id",
    "product_id",
    "category_id",
    "channel",
    "properties",
)
ORDER_EVENT_COLUMNS = (
    "org_id",
    "occurred_at",
    "integration_id",
    "source_key",
    "type",
    "class",
    "customer_id",
    "product_id",
    "category_id",
    "channel",
    "amount",
    "currency",
    "entity_id",
    "state",
)
ORDER_COLUMNS = (
    "org_id",
    "id",
    "integration_id",
    "category_id",
    "product_id",
    "customer_id",
    "status",
    "comm_status",
    "amount",
    "currency",
    "kind",
    "created_at",
    "as_of",
)
# Business events (demo/business.py): `counted` decided by the loader as the ingestion statement decides it, with
# the one counted event of each (integration, type, entity, count key) copied into entity_counts.
BUSINESS_EVENT_COLUMNS = (
    "org_id",
    "occurred_at",
    "integration_id",
    "source_key",
    "type",
    "class",
    "customer_id",
    "anonymous_id",
    "product_id",
    "category_id",
    "channel",
    "amount",
    "currency",
    "entity_id",
    "state",
    "items",
    "properties",
    "fields",
    "custom_fields",
    "account_currency",
    "counted",
)
ENTITY_COUNT_COLUMNS = ("org_id", "integration_id", "type", "entity_id", "count_key", "source_key", "occurred_at")
DEVICE_COLUMNS = ("org_id", "customer_id", "device_id", "platform", "user_agent", "first_seen", "last_seen")

# Analyzed at the end of a load. Not `events`: ANALYZE of a partitioned table samples every partition and
# then each partition again (seconds for a million rows), and autovacuum analyzes each filled partition.
LOADED_TABLES = (
    "event_rollups_daily",
    "event_rollups_hourly",
    "customer_days",
    "active_customers",
    "active_counts",
    "customer_firsts",
    "funnel_firsts",
    "funnel_paths",
    "devices",
    "orders",
    "order_rollups_daily",
    "entity_counts",
)


async def lock_bulk_loads(conn: asyncpg.Connection) -> None:
    """One bulk load at a time, until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", LOAD_LOCK)


async def demo_loaded(conn: asyncpg.Connection, org_id: UUID) -> bool:
    """Whether a demo load of the organisation committed (its record in maintenance_slots)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM maintenance_slots WHERE task = $1 AND slot = $2)", DEMO_TASK, str(org_id)
        )
    )


async def record_demo_load(conn: asyncpg.Connection, org_id: UUID, outcome: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO maintenance_slots (task, slot, outcome) VALUES ($1, $2, $3::jsonb)",
        DEMO_TASK,
        str(org_id),
        json.dumps(outcome),
    )


async def has_data(conn: asyncpg.Connection, org_id: UUID) -> bool:
    """Whether the organisation has any event, counted entity or order in the insights database."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM events WHERE org_id = $1) OR EXISTS (SELECT 1 FROM orders WHERE org_id = $1)"
            " OR EXISTS (SELECT 1 FROM entity_counts WHERE org_id = $1)",
            org_id,
        )
    )


async def upsert_organisation_settings(
    conn: asyncpg.Connection, org_id: UUID, name: str, time_zone: str, base_currency: str, as_of: datetime
) -> None:
    """The local copy of the organisation's settings, as its organisation events would have left it."""
    await conn.execute(
        """INSERT INTO organisation_settings AS s (org_id, name, time_zone, base_currency, as_of)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (org_id) DO UPDATE SET name = EXCLUDED.name, time_zone = EXCLUDED.time_zone,
                  base_currency = EXCLUDED.base_currency, as_of = EXCLUDED.as_of
            WHERE s.as_of < EXCLUDED.as_of""",
        org_id,
        name,
        time_zone,
        base_currency,
        as_of,
    )


async def ensure_partitions(conn: asyncpg.Connection, first: date, last: date) -> int:
    """The event partitions of UTC days `first`..`last`; how many were made."""
    return int(await conn.fetchval("SELECT ensure_event_partitions($1, $2)", first, last))


# --- COPY -----------------------------------------------------------------------------------


async def send_timestamps_as_epoch_tuples(conn: asyncpg.Connection) -> None:
    """From now on this connection sends and reads timestamptz as `pg_timestamp` tuples: building a
    million datetime objects costs more than the COPY itself."""
    await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=tuple, decoder=tuple, format="tuple")


def pg_timestamp(epoch_seconds: float) -> tuple[int]:
    """A timestamptz in the form `send_timestamps_as_epoch_tuples` sets up."""
    return (int((epoch_seconds - PG_EPOCH) * 1_000_000),)


def epoch_seconds(pg_time: tuple[int]) -> float:
    """The inverse of `pg_timestamp`."""
    return pg_time[0] / 1_000_000 + PG_EPOCH


async def copy_rows(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Binary COPY of `rows` (tuples in `columns` order) into `table`. Rows for `events` go through
    its parent table: PostgreSQL routes each to its day's partition."""
    await conn.copy_records_to_table(table, records=rows, columns=list(columns))


@asynccontextmanager
async def orders_trigger_disabled(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Orders copied in this block skip the per-row rollup trigger; build order_rollups_daily after
    (`build_read_model`).
    ALTER TABLE is transactional: should the block raise, the rollback turns the trigger back on."""
    await conn.execute("ALTER TABLE orders DISABLE TRIGGER orders_rollup")
    yield
    await conn.execute("ALTER TABLE orders ENABLE TRIGGER orders_rollup")


@asynccontextmanager
async def events_without_secondary_indexes(conn: asyncpg.Connection, enabled: bool = True) -> AsyncIterator[bool]:
    """Loads into `events` without its secondary indexes when no organisation has any event yet (a fresh
    database: the platform's first start): maintaining three indexes row by row costs several times what
    building them once over the loaded rows does. Under an ACCESS EXCLUSIVE lock held to the end of the
    transaction; the definitions are read from the catalogue and recreated as they were (on the parent,
    so every partition gets its own), in the same transaction, so a failure leaves them as they were.
    Yields whether it dropped them."""
    if not enabled or await conn.fetchval("SELECT EXISTS (SELECT 1 FROM events)"):
        yield False
        return
    await conn.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM events)"):
        yield False
        return
    indexes = await conn.fetch(
        """SELECT c.relname, pg_get_indexdef(i.indexrelid) AS definition
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = 'events'::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = i.indrelid AND k.conindid = i.indexrelid)
            ORDER BY c.relname"""
    )
    for index in indexes:
        await conn.execute(f'DROP INDEX "{index["relname"]}"')
    yield True
    for index in indexes:
        # The catalogue describes a partitioned index as made `ON ONLY` the parent; made on the parent
        # itself, it is built on every partition and attached.
        await conn.execute(index["definition"].replace(" ON ONLY ", " ON ", 1))


# --- read models, set-based -----------------------------------------------------------------
# The recomputations of repository/rollups.py (the same rules as the ingestion statement and the orders
# trigger), inserted straight into the empty read models of the organisation.

READ_MODELS = (
    "event_rollups_daily",
    "event_rollups_hourly",
    "customer_days",
    "active_customers",  # these three derived from customer_days: after it
    "active_counts",
    "customer_firsts",
    "funnel_firsts",
    "funnel_paths",  # derived from funnel_firsts: after it
)
_PARAMS = "WITH _params AS (SELECT $1::uuid, $2::date, $3::timestamptz)"


async def build_read_model(conn: asyncpg.Connection, org_id: UUID, table: str, since_day: date) -> int:
    """Builds the read model `table` (of READ_MODELS, or order_rollups_daily) of the organisation from its
    events from `since_day` on (and, for the hourly rollup, the last 48 hours as of the transaction's start,
    as the ingestion statement keeps it) or from its orders copy; returns how many rows it has."""
    model = rollups.BY_TABLE[table]
    hour_from = await conn.fetchval(f"SELECT now() - interval '{HOURLY_WINDOW_HOURS} hours'")
    cols = ", ".join((*model.keys, *model.values))
    if table == "order_rollups_daily":
        await conn.execute("DELETE FROM order_rollups_daily WHERE org_id = $1", org_id)
    status = await conn.execute(
        f"{_PARAMS} INSERT INTO {model.table} (org_id, {cols}) {model.recompute}", org_id, since_day, hour_from
    )
    return int(status.rsplit(" ", 1)[-1])


async def analyze_loaded_tables(conn: asyncpg.Connection) -> None:
    """Fresh planner statistics after a load, outside its transaction (autovacuum would come later)."""
    await conn.execute(f"ANALYZE {', '.join(LOADED_TABLES)}")
