"""Custom field definitions and the custom field values of customers and orders: their SQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.errors import Conflict, ErrorCode

COLUMNS = "id, entity, key, name, type, choices, position, created_at, updated_at"


def _row(r: asyncpg.Record) -> dict[str, Any]:
    row = dict(r)
    row["choices"] = list(row["choices"])
    return row


async def list_for(conn: asyncpg.Connection, org_id: UUID, entity: str | None) -> list[dict[str, Any]]:
    """The organisation's definitions (of one entity, or all), in the order they were defined."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM custom_fields WHERE org_id = $1 AND ($2::text IS NULL OR entity = $2)"
        " ORDER BY entity, position, created_at, id",
        org_id,
        entity,
    )
    return [_row(r) for r in rows]


async def get(conn: asyncpg.Connection, org_id: UUID, field_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM custom_fields WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, field_id
    )
    return _row(row) if row else None


async def lock_entity(conn: asyncpg.Connection, org_id: UUID, entity: str) -> int:
    """How many definitions the entity has, with the entity's definitions locked against concurrent ones (a
    transaction-scoped advisory lock per organisation and entity): two admins defining the 50th field at once
    cannot both pass the cap."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':custom_fields:' || $2, 0))", str(org_id), entity
    )
    return int(
        await conn.fetchval("SELECT count(*) FROM custom_fields WHERE org_id = $1 AND entity = $2", org_id, entity)
    )


def _duplicate() -> Conflict:
    return Conflict(ErrorCode.DUPLICATE_NAME, "this entity already has a custom field of this name or key", "name")


async def insert(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    entity: str,
    key: str,
    name: str,
    type: str,
    choices: list[str],
    position: int,
) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(
            "INSERT INTO custom_fields (org_id, entity, key, name, type, choices, position)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}",
            org_id,
            entity,
            key,
            name,
            type,
            choices,
            position,
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate() from None
    return _row(row)


async def update(
    conn: asyncpg.Connection, org_id: UUID, field_id: UUID, *, name: str, choices: list[str]
) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(
            "UPDATE custom_fields SET name = $3, choices = $4, updated_at = now() WHERE org_id = $1 AND id = $2"
            f" RETURNING {COLUMNS}",
            org_id,
            field_id,
            name,
            choices,
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate() from None
    return _row(row)


async def delete(conn: asyncpg.Connection, org_id: UUID, field_id: UUID) -> None:
    await conn.execute("DELETE FROM custom_fields WHERE org_id = $1 AND id = $2", org_id, field_id)


# The tables holding values of each entity this service owns.
VALUE_TABLES = {"customer": "customers", "order": "orders"}


async def drop_values(conn: asyncpg.Connection, org_id: UUID, entity: str, key: str) -> int:
    """Removes a deleted field's values from every row of the entity (none are left to a later field that reuses
    the key). Only rows holding the key are written."""
    table = VALUE_TABLES.get(entity)
    if table is None:
        return 0
    status: str = await conn.execute(
        f"UPDATE {table} SET custom_fields = custom_fields - $2::text WHERE org_id = $1 AND custom_fields ? $2::text",
        org_id,
        key,
    )
    return int(status.rsplit(" ", 1)[-1])


async def customer_for_update(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> dict[str, Any] | None:
    """The customer's id, custom fields and account currency, locked; merged customers lead to their survivor."""
    row = await conn.fetchrow(
        "SELECT id, merged_into, custom_fields, account_currency FROM customers"
        " WHERE org_id = $1 AND id = $2 FOR UPDATE",
        org_id,
        customer_id,
    )
    if row is not None and row["merged_into"] is not None:
        return await customer_for_update(conn, org_id, row["merged_into"])
    return dict(row) if row else None


async def set_customer(
    conn: asyncpg.Connection, org_id: UUID, customer_id: UUID, values: dict[str, Any], account_currency: str | None
) -> None:
    await conn.execute(
        "UPDATE customers SET custom_fields = $3, account_currency = $4 WHERE org_id = $1 AND id = $2",
        org_id,
        customer_id,
        values,
        account_currency,
    )


async def order_values_for_update(
    conn: asyncpg.Connection, org_id: UUID, order_id: UUID, integration_id: UUID | None = None
) -> dict[str, Any] | None:
    """The order's custom fields, locked (None when there is no such order, or it is not `integration_id`'s)."""
    values: dict[str, Any] | None = await conn.fetchval(
        "SELECT custom_fields FROM orders WHERE org_id = $1 AND id = $2"
        " AND ($3::uuid IS NULL OR integration_id = $3) FOR UPDATE",
        org_id,
        order_id,
        integration_id,
    )
    return values


async def set_order(conn: asyncpg.Connection, org_id: UUID, order_id: UUID, values: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE orders SET custom_fields = $3, updated_at = now() WHERE org_id = $1 AND id = $2",
        org_id,
        order_id,
        values,
    )
