"""Erasing a customer (a data-protection request): personal fields go, orders and figures stay.

The orders service owns customers, so it erases first, in one transaction: the email, the anonymous ids (the
customer's own and those of visitors merged into it) and the channel are removed, the display name becomes the
stable anonymous word name of the customer's id, and `customer.erased` is published through the outbox. The
insights service then removes what it holds of that customer (identifiers, devices, event properties): no later
answer, export or timeline shows them, while counts and amounts stay as they were.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.names import anonymous_name
from services.orders.repository import erasure
from shared.errors import DomainError, ErrorCode, NotFound
from shared.messaging.contracts import CUSTOMER_ERASED
from shared.messaging.outbox import add_event


async def erase(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> dict[str, Any]:
    """Erases the customer once; a second request changes nothing (`erased` false)."""
    row = await erasure.lock(conn, org_id, customer_id)
    if row is None:
        raise NotFound("customer", "id")
    if row["merged_into"] is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "this customer was merged into another: erase that customer instead", "id"
        )
    if row["erased_at"] is not None:
        return {"id": customer_id, "erased": False}
    erased_at = await erasure.erase(conn, org_id, customer_id, anonymous_name(f"erased:{customer_id}"))
    await add_event(
        conn, org_id, CUSTOMER_ERASED, {"customer_id": str(customer_id), "erased_at": erased_at.isoformat()}
    )
    return {"id": customer_id, "erased": True}
