"""One organisation's customers, visits, catalogue and orders read whole, for another service's demo loader.

The insights demo (demo/insights.py) builds its events from the orders demo as it is stored, so that its
funnel ends in the real orders and every customer it shows exists here. Read on a connection of the owner
role (row-level security does not apply to it), in one REPEATABLE READ transaction of the caller's, so the
five reads agree with each other. Timestamps come back in whatever form the connection's codec gives
(the loader asks for microseconds since 2000-01-01, as the bulk loaders send them).
"""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def organisation(conn: asyncpg.Connection, org_id: UUID) -> asyncpg.Record | None:
    """name, time_zone, base_currency, updated_at; None when the organisation does not exist."""
    return await conn.fetchrow(
        "SELECT name, time_zone, base_currency, updated_at FROM organisations WHERE id = $1", org_id
    )


async def integrations(conn: asyncpg.Connection, org_id: UUID) -> list[asyncpg.Record]:
    """id, channel, in the order they were created."""
    return await conn.fetch("SELECT id, channel FROM integrations WHERE org_id = $1 ORDER BY created_at, id", org_id)


async def products(conn: asyncpg.Connection, org_id: UUID) -> list[asyncpg.Record]:
    """id, integration_id, category_id, category name, enabled; in each integration's order."""
    return await conn.fetch(
        """SELECT p.id, p.integration_id, p.category_id, c.name AS category, p.enabled
             FROM products p JOIN categories c ON c.id = p.category_id AND c.org_id = p.org_id
            WHERE p.org_id = $1 ORDER BY p.integration_id, p.position, p.id""",
        org_id,
    )


async def customers(conn: asyncpg.Connection, org_id: UUID) -> list[asyncpg.Record]:
    """id, kind, anonymous_id, first_seen, last_seen, in order of arrival."""
    return await conn.fetch(
        "SELECT id, kind, anonymous_id, first_seen, last_seen FROM customers WHERE org_id = $1 ORDER BY first_seen, id",
        org_id,
    )


async def customer_visits(conn: asyncpg.Connection, org_id: UUID) -> list[asyncpg.Record]:
    """customer_id, integration_id, first_seen, last_seen, visits."""
    return await conn.fetch(
        "SELECT customer_id, integration_id, first_seen, last_seen, visits FROM customer_visits WHERE org_id = $1"
        " ORDER BY customer_id, integration_id",
        org_id,
    )


async def orders(conn: asyncpg.Connection, org_id: UUID) -> list[asyncpg.Record]:
    """Every order with the fields of the orders service's order events (`service.orders.event_payload`)."""
    return await conn.fetch(
        """SELECT id, integration_id, product_id, category_id, customer_id, status, comm_status, commission_amount,
                  currency, kind, created_at, updated_at
             FROM orders WHERE org_id = $1 ORDER BY created_at, id""",
        org_id,
    )
