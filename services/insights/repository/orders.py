"""The insights service's copy of the orders service's orders, as of its latest domain event.

Fed by `order.created`, `order.status_changed` and `order.commission_changed` (payload: the orders service's
`event_payload`); the trigger of migration 001 keeps `order_rollups_daily` in step, in the organisation's
time zone. An event older than the copy (`as_of`) changes nothing, so events may arrive in any order.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg


async def upsert(conn: asyncpg.Connection, org_id: UUID, payload: dict[str, Any], as_of: datetime) -> bool:
    """The order as `payload` describes it at `as_of`; False when a newer state was applied already."""
    changed = await conn.fetchval(
        """INSERT INTO orders AS o (org_id, id, integration_id, category_id, product_id, customer_id, status,
                                    comm_status, amount, currency, kind, created_at, as_of)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (org_id, id) DO UPDATE SET
               customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, comm_status = EXCLUDED.comm_status,
               amount = EXCLUDED.amount, currency = EXCLUDED.currency, as_of = EXCLUDED.as_of
            WHERE o.as_of < EXCLUDED.as_of
           RETURNING true""",
        org_id,
        UUID(payload["order_id"]),
        UUID(payload["integration_id"]),
        UUID(payload["category_id"]),
        UUID(payload["product_id"]),
        UUID(payload["customer_id"]),
        payload["status"],
        payload["comm_status"],
        Decimal(payload["amount"]),
        payload["currency"],
        payload.get("kind") or "order",
        datetime.fromisoformat(payload["created_at"]),
        as_of,
    )
    return bool(changed)
