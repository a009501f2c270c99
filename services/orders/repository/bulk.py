"""Bulk loads into the orders database: binary COPY, a bulk mode without foreign keys and
secondary indexes, the per-row rollup trigger switched off and the rollups rebuilt set-based.

Written for generated data sets (demo/orders.py loads 200,000 customers and 1,000,000 orders
in about 22 s on two cores), on a connection of the service's owner role, which bypasses
row-level security. As everywhere in `repository/`, nothing here commits: the loader runs the
whole load in one transaction, and since PostgreSQL's ALTER TABLE, DROP INDEX and DROP
CONSTRAINT are transactional, a failure anywhere leaves the database exactly as it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

# Advisory lock key of bulk loads (shared.migrations uses 7_421_001, bootstrap 7_421_002).
LOAD_LOCK = 7_421_101
# PostgreSQL's timestamp origin, 2000-01-01T00:00:00Z, in epoch seconds.
PG_EPOCH = 946_684_800.0

ORDER_COLUMNS = (
    "id",
    "org_id",
    "integration_id",
    "product_id",
    "category_id",
    "provider_id",
    "customer_id",
    "external_ref",
    "status",
    "comm_status",
    "commission_amount",
    "currency",
    "created_at",
    "updated_at",
)
CUSTOMER_COLUMNS = (
    "id",
    "org_id",
    "kind",
    "email",
    "anonymous_id",
    "display_name",
    "channel",
    "first_seen",
    "last_seen",
    "created_at",
)
VISIT_COLUMNS = ("org_id", "customer_id", "integration_id", "first_seen", "last_seen", "visits")

# Tables whose planner statistics a load makes stale: analyzed at its end rather than whenever autovacuum gets to them.
LOADED_TABLES = ("orders", "customers", "customer_visits", "order_rollups_daily")


async def organisation_exists(conn: asyncpg.Connection, org_id: UUID) -> bool:
    """Whether the organisation exists; on the owner role this sees through row-level security."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM organisations WHERE id = $1)", org_id))


async def lock_bulk_loads(conn: asyncpg.Connection) -> None:
    """One bulk load at a time, until the transaction ends: two loads taking each other's tables
    in bulk mode (ACCESS EXCLUSIVE locks in different orders) could deadlock."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", LOAD_LOCK)


# --- catalogue rows with the loader's own timestamps ---------------------------------------
# The service's create_* functions stamp rows with now(); a generated history needs its own times.


async def insert_organisation(
    conn: asyncpg.Connection,
    org_id: UUID,
    name: str,
    *,
    marketplace_url: str,
    primary_colour: str,
    base_currency: str,
    time_zone: str,
    created: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO organisations (id, name, marketplace_url, primary_colour, base_currency, time_zone, created_at,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        org_id,
        name,
        marketplace_url,
        primary_colour,
        base_currency,
        time_zone,
        created,
    )


async def insert_member(
    conn: asyncpg.Connection,
    org_id: UUID,
    subject: str,
    email: str,
    role: str,
    created: datetime,
    invited_by: UUID | None = None,
    provider_id: UUID | None = None,
) -> UUID:
    """An active team member (no invitation to accept); returns its id. `provider_id`: a provider user's."""
    member_id: UUID = await conn.fetchval(
        "INSERT INTO members (org_id, subject, email, role, status, invited_by, created_at, provider_id)"
        " VALUES ($1, $2, $3, $4, 'active', $5, $6, $7) RETURNING id",
        org_id,
        subject,
        email,
        role,
        invited_by,
        created,
        provider_id,
    )
    return member_id


async def insert_category(conn: asyncpg.Connection, org_id: UUID, name: str, created: datetime) -> UUID:
    category_id: UUID = await conn.fetchval(
        "INSERT INTO categories (org_id, name, created_at) VALUES ($1, $2, $3) RETURNING id", org_id, name, created
    )
    return category_id


async def insert_provider(
    conn: asyncpg.Connection, org_id: UUID, public_id: str, name: str, webhook_secret: str, created: datetime
) -> UUID:
    provider_id: UUID = await conn.fetchval(
        "INSERT INTO providers (org_id, public_id, name, webhook_secret, created_at) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id",
        org_id,
        public_id,
        name,
        webhook_secret,
        created,
    )
    return provider_id


async def insert_integration(
    conn: asyncpg.Connection,
    org_id: UUID,
    name: str,
    channel: str,
    api_key_hash: bytes,
    api_key_prefix: str,
    created: datetime,
) -> UUID:
    """An integration whose key was last rotated when it was created; the caller keeps the plain key."""
    integration_id: UUID = await conn.fetchval(
        "INSERT INTO integrations (org_id, name, channel, api_key_hash, api_key_prefix, key_rotated_at, created_at,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $6) RETURNING id",
        org_id,
        name,
        channel,
        api_key_hash,
        api_key_prefix,
        created,
    )
    return integration_id


async def link_integration_category(
    conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, category_id: UUID
) -> None:
    await conn.execute(
        "INSERT INTO integration_categories (org_id, integration_id, category_id) VALUES ($1, $2, $3)",
        org_id,
        integration_id,
        category_id,
    )


async def insert_product(
    conn: asyncpg.Connection,
    org_id: UUID,
    integration_id: UUID,
    category_id: UUID,
    provider_id: UUID,
    name: str,
    commission_rate: Decimal,
    currency: str,
    created: datetime,
) -> UUID:
    product_id: UUID = await conn.fetchval(
        "INSERT INTO products (org_id, integration_id, category_id, provider_id, name, commission_rate,"
        " currency, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        org_id,
        integration_id,
        category_id,
        provider_id,
        name,
        commission_rate,
        currency,
        created,
    )
    return product_id


# --- COPY -----------------------------------------------------------------------------------


async def send_timestamps_as_epoch_tuples(conn: asyncpg.Connection) -> None:
    """From now on this connection sends and reads timestamptz as `pg_timestamp` tuples.

    Building a million datetime objects costs more than the COPY itself; a tuple of
    microseconds since 2000-01-01 is PostgreSQL's own binary form.
    """
    await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=tuple, decoder=tuple, format="tuple")


def pg_timestamp(epoch_seconds: float) -> tuple[int]:
    """A timestamptz in the form `send_timestamps_as_epoch_tuples` sets up."""
    return (int((epoch_seconds - PG_EPOCH) * 1_000_000),)


async def copy_rows(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Binary COPY of `rows` (tuples in `columns` order) into `table`; no row-by-row INSERT."""
    await conn.copy_records_to_table(table, records=rows, columns=list(columns))


# --- bulk mode ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkMode:
    """What `bulk_mode` did to a table: nothing (`active` False), or dropped and rebuilt these."""

    table: str
    active: bool
    indexes: int = 0
    foreign_keys: int = 0


def _identifier(table: str) -> str:
    # Table names are interpolated into DDL: only plain identifiers of our own schema.
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
        raise ValueError(f"not a table name: {table!r}")
    return table


@asynccontextmanager
async def bulk_mode(conn: asyncpg.Connection, table: str, enabled: bool | None) -> AsyncIterator[BulkMode]:
    """Load into `table` without its foreign keys and secondary indexes, when it is empty.

    Checking a foreign key costs a lookup per row and maintaining an index an insert per row;
    building the index and validating the key once over the loaded table is several times
    faster. Only done when the table holds no rows at all (a fresh database, e.g. for a
    benchmark) and `enabled` is not False, under an ACCESS EXCLUSIVE lock held to the end of
    the transaction. The definitions are read from the catalogue and recreated as they were,
    in the same transaction, so a failure anywhere leaves the table as it was (and, when the
    body raises, nothing is recreated here: the rollback restores them). Primary keys and
    unique constraints stay. The value it yields is final once the block has exited.
    """
    table = _identifier(table)
    if enabled is False or await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
        yield BulkMode(table, False)
        return
    await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):  # filled while we waited for the lock
        yield BulkMode(table, False)
        return
    foreign_keys = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
        " WHERE conrelid = $1::regclass AND contype = 'f' ORDER BY conname",
        table,
    )
    indexes = await conn.fetch(
        """SELECT c.relname, pg_get_indexdef(i.indexrelid) AS definition
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = $1::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = i.indrelid AND k.conindid = i.indexrelid)
            ORDER BY c.relname""",
        table,
    )
    for fk in foreign_keys:
        await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{fk["conname"]}"')
    for index in indexes:
        await conn.execute(f'DROP INDEX "{index["relname"]}"')
    yield BulkMode(table, True, len(indexes), len(foreign_keys))
    for index in indexes:
        await conn.execute(index["definition"])
    for fk in foreign_keys:
        await conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{fk["conname"]}" {fk["definition"]}')


@asynccontextmanager
async def rollup_trigger_disabled(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Orders inserted in this block skip the per-row rollup trigger (one upsert per order);
    call `rebuild_rollups` afterwards. ALTER TABLE is transactional: should the block raise, the
    rollback turns the trigger back on, so it is re-enabled here only on success."""
    await conn.execute("ALTER TABLE orders DISABLE TRIGGER orders_rollup_insert")
    yield
    await conn.execute("ALTER TABLE orders ENABLE TRIGGER orders_rollup_insert")


# --- after the rows -------------------------------------------------------------------------


async def insert_history_ledger(conn: asyncpg.Connection, org_id: UUID, now: datetime) -> None:
    """Each order's history in the commission ledger, set-based: placed PENDING by its integration,
    decided (SUCCESSFUL or FAILED) by its provider 1 to 72 hours later, and for paid commissions
    confirmed 3 to 20 days after that, never after `now`. Delays come from a hash of the order id,
    so equal data gives an equal history. Inserted step by step, so ledger ids follow time per order.
    """
    await conn.execute(
        """WITH o AS (
               SELECT org_id, id, status, comm_status, commission_amount AS amount, currency, external_ref, provider_id,
                      integration_id, created_at, (abs(hashtext(id::text)) % 1000) / 1000.0 AS r
                 FROM orders WHERE org_id = $1),
           d AS (SELECT o.*, least(created_at + (1 + r * 71) * interval '1 hour', $2::text::timestamptz) AS decided_at
                   FROM o)
           INSERT INTO commission_ledger (org_id, order_id, from_status, to_status, from_comm, to_comm,
                                          amount, currency, source, reference, actor, occurred_at)
           SELECT org_id, id, NULL, 'PENDING', NULL, 'N/A', amount, currency, 'integration', external_ref,
                  'integration:' || integration_id, created_at FROM d
           UNION ALL
           SELECT org_id, id, 'PENDING', status, 'N/A', CASE WHEN status = 'SUCCESSFUL' THEN 'PENDING' ELSE 'N/A' END,
                  amount, currency, 'provider', NULL, 'provider:' || provider_id, decided_at
             FROM d WHERE status <> 'PENDING'
           UNION ALL
           SELECT org_id, id, 'SUCCESSFUL', 'SUCCESSFUL', 'PENDING', 'SUCCESSFUL', amount, currency, 'provider', NULL,
                  'provider:' || provider_id, least(decided_at + (3 + r * 17) * interval '1 day', $2::text::timestamptz)
             FROM d WHERE status = 'SUCCESSFUL' AND comm_status = 'SUCCESSFUL'""",
        org_id,
        now.isoformat(),  # as text: the loader's connection encodes timestamps its own (binary COPY) way
    )


FAILURE_REASONS = (
    "identity check failed",
    "application abandoned at the provider",
    "address could not be verified",
    "documents never arrived",
)
SUCCESS_DEFINITIONS = {
    "Broadband": "broadband installed",
    "Credit Cards": "card issued",
    "Current Accounts": "account opened",
}


async def describe_demo_orders(conn: asyncpg.Connection, org_id: UUID) -> None:
    """The seed's vocabulary on the demo: current accounts are sign-ups reached by affiliate links, every
    product says what success is, and FAILED orders carry a reason (chosen by a hash of the order id)."""
    await conn.execute(
        """UPDATE products p SET success_definition = ($2::text::jsonb) ->> c.name,
                  journey_type = CASE WHEN c.name = 'Current Accounts' THEN 'affiliate' ELSE 'embedded' END
             FROM categories c WHERE p.org_id = $1 AND c.org_id = $1 AND c.id = p.category_id""",
        org_id,
        json.dumps(SUCCESS_DEFINITIONS),
    )
    # Only the rows that change: an UPDATE of every order would rewrite the whole table.
    await conn.execute(
        """UPDATE orders o SET kind = 'sign_up' FROM categories c
            WHERE o.org_id = $1 AND c.org_id = $1 AND c.id = o.category_id AND c.name = 'Current Accounts'""",
        org_id,
    )
    await conn.execute(
        """UPDATE orders o SET failure_reason = ($2::text[])[1 + abs(hashtext(o.id::text)) % cardinality($2::text[])]
            WHERE o.org_id = $1 AND o.status = 'FAILED'""",
        org_id,
        list(FAILURE_REASONS),
    )


async def rebuild_rollups(conn: asyncpg.Connection, org_id: UUID) -> None:
    """Recompute the organisation's daily order rollups from its orders, set-based."""
    await conn.execute("SELECT rebuild_order_rollups($1)", org_id)


async def analyze_loaded_tables(conn: asyncpg.Connection) -> None:
    """Fresh planner statistics after a load, outside its transaction (autovacuum would come later)."""
    await conn.execute(f"ANALYZE {', '.join(LOADED_TABLES)}")
