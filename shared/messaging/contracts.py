"""Event and job contracts: the only code services share about each other.

Envelope of every domain event: id, type, org_id, occurred_at, version, payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

# Domain event types published by the orders service.
ORDER_CREATED = "order.created"
ORDER_STATUS_CHANGED = "order.status_changed"
COMMISSION_CHANGED = "order.commission_changed"
CUSTOMER_CREATED = "customer.created"
CUSTOMER_MERGED = "customer.merged"


@dataclass(frozen=True)
class Subscriber:
    queue: str
    actor: str


# Every subscriber receives every event; consumers ignore types they do not handle and
# are idempotent on the event id. Insights and reports subscribe as they come online.
SUBSCRIBERS: dict[str, tuple[Subscriber, ...]] = {
    "orders": (),
}

# Jobs the gateway hands to the orders worker.
ORDERS_QUEUE = "orders"
# A batch of verified webhooks: [{"org_id", "provider_id", "webhook_id", "data"}, ...]
APPLY_PROVIDER_WEBHOOKS = "orders.apply_provider_webhooks"


def envelope(*, id: UUID, type: str, org_id: UUID, occurred_at: datetime, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(id),
        "type": type,
        "org_id": str(org_id),
        "occurred_at": occurred_at.isoformat(),
        "version": version,
        "payload": payload,
    }
