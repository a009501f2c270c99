"""Event and job contracts: the only code services share about each other.

Envelope of every domain event: id, type, org_id, occurred_at, version, payload.

A service that wants another's events declares a `Subscription` here, and nothing else:
the publisher's outbox relay sends each matching event to the subscription's queue, and the
kit's `shared.messaging.consumer.event_consumer` declares the actor that applies it once.
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
# A data-protection erasure (payload: customer_id, erased_at): every service removes what identifies them.
CUSTOMER_ERASED = "customer.erased"
# A customer's own fields changed (payload: customer_id, custom_fields, account_currency: None for the
# organisation's base currency); an order's custom fields changed (payload: the order events' payload).
CUSTOMER_UPDATED = "customer.updated"
ORDER_UPDATED = "order.updated"
# Custom field definitions (payload: id, entity, key, name, type, choices); `deleted` carries id, entity, key.
CUSTOM_FIELD_DEFINED = "custom_field.defined"
CUSTOM_FIELD_CHANGED = "custom_field.changed"
CUSTOM_FIELD_DELETED = "custom_field.deleted"
CUSTOM_FIELD_EVENTS = frozenset({CUSTOM_FIELD_DEFINED, CUSTOM_FIELD_CHANGED, CUSTOM_FIELD_DELETED})
# Payload: the organisation's settings other services need (see ORGANISATION_SETTINGS_FIELDS).
ORGANISATION_CREATED = "organisation.created"
ORGANISATION_SETTINGS_CHANGED = "organisation.settings_changed"
ORGANISATION_EVENTS = frozenset({ORGANISATION_CREATED, ORGANISATION_SETTINGS_CHANGED})
ORGANISATION_SETTINGS_FIELDS = ("name", "time_zone", "base_currency", "primary_colour")  # colour: reports' PDFs
# ECB euro reference rates, reference data of no organisation: payload {"rates": [{"day", "currency", "perEuro"}]}
# (at most 1,000 per event), org_id REFERENCE_DATA_ORG_ID (services/orders/service/fx_rates.py says why).
FX_RATES_PUBLISHED = "fx_rates.published"
REFERENCE_DATA_ORG_ID = UUID(int=0)

# Domain event types published by the insights service: a business event it stored (payload: the stored event,
# with `event_id` and whether it `counted`), for the services that report on business entities.
BUSINESS_EVENT_RECORDED = "business_event.recorded"
# A segment's membership changed (payload: segment_id, version, added and removed customer ids in batches) or it
# was deleted (segment_id, version): the event-fed copies of the services filtering by segment
# (shared/service/segment_copies.py).
SEGMENT_MEMBERS_CHANGED = "segment.members_changed"
SEGMENT_DELETED = "segment.deleted"
SEGMENT_EVENTS = frozenset({SEGMENT_MEMBERS_CHANGED, SEGMENT_DELETED})


@dataclass(frozen=True)
class Subscription:
    """`consumer` receives the events of `source` whose type is in `event_types`.

    Its queue is `<consumer>.events` and its actor `<consumer>.on_<source>_event`; the
    consumer records each event id it applied, so redeliveries and replays change nothing.
    """

    consumer: str
    source: str
    event_types: frozenset[str]

    @property
    def queue(self) -> str:
        return f"{self.consumer}.events"

    @property
    def actor(self) -> str:
        return f"{self.consumer}.on_{self.source}_event"

    def wants(self, event_type: str) -> bool:
        return event_type in self.event_types


# The insights service's copy of the orders service's orders, customers' merges and organisation settings
# (services/insights/actors.py): its funnel's order steps and the Analytics tab's order figures come from these.
INSIGHTS_FROM_ORDERS = Subscription(
    consumer="insights",
    source="orders",
    event_types=frozenset(
        {ORDER_CREATED, ORDER_STATUS_CHANGED, COMMISSION_CHANGED, CUSTOMER_CREATED, CUSTOMER_MERGED, CUSTOMER_ERASED}
        | ORGANISATION_EVENTS
        | {FX_RATES_PUBLISHED}
    ),
)
# The queue the insights worker consumes (INSIGHTS_FROM_ORDERS.queue).
INSIGHTS_EVENTS_QUEUE = "insights.events"


# The reports service's read model (services/reports/actors.py): contacts, orders and their commission ledger,
# organisation settings and FX rates from the orders service; both queue on `reports.events`.
REPORTS_FROM_ORDERS = Subscription(
    consumer="reports",
    source="orders",
    event_types=frozenset(
        {ORDER_CREATED, ORDER_STATUS_CHANGED, COMMISSION_CHANGED, CUSTOMER_CREATED, CUSTOMER_MERGED, CUSTOMER_ERASED}
        | {ORDER_UPDATED, CUSTOMER_UPDATED}
        | CUSTOM_FIELD_EVENTS
        | ORGANISATION_EVENTS
        | {FX_RATES_PUBLISHED}
    ),
)
# ... and every business event the insights service stored (upserted by the payload's own `event_id`).
REPORTS_FROM_INSIGHTS = Subscription(
    consumer="reports", source="insights", event_types=frozenset({BUSINESS_EVENT_RECORDED}) | SEGMENT_EVENTS
)
# The queue the reports worker consumes (the queue of both reports subscriptions).
REPORTS_EVENTS_QUEUE = "reports.events"

# The orders service's copy of segment membership (services/orders/actors.py): its customers, orders, summary
# and exports filter by segment on it. Queue `orders.events`, consumed by the orders worker.
ORDERS_FROM_INSIGHTS = Subscription(consumer="orders", source="insights", event_types=SEGMENT_EVENTS)
ORDERS_EVENTS_QUEUE = "orders.events"

# Every subscription of the platform. Insights and reports add theirs as they come online
# (each also takes ORGANISATION_EVENTS to keep its copy of organisation settings).
SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # Mail the orders service asks for in its own transactions (`shared.mail.request_mail`, e.g. invitations),
    # handed to the kit's mail actors (queue mail.events), which send it once per idempotency key.
    Subscription(consumer="mail", source="orders", event_types=frozenset({"mail.requested"})),
    INSIGHTS_FROM_ORDERS,
    REPORTS_FROM_ORDERS,
    REPORTS_FROM_INSIGHTS,
    ORDERS_FROM_INSIGHTS,
)


def subscriptions_of(source: str, subscriptions: tuple[Subscription, ...] = SUBSCRIPTIONS) -> tuple[Subscription, ...]:
    return tuple(s for s in subscriptions if s.source == source)


# Jobs the gateway hands to the orders worker.
ORDERS_QUEUE = "orders"
# A batch of verified webhooks: [{"org_id", "provider_id", "webhook_id", "data"}, ...]
APPLY_PROVIDER_WEBHOOKS = "orders.apply_provider_webhooks"


@dataclass(frozen=True)
class Event:
    """A domain event as a consumer receives it."""

    id: UUID
    type: str
    org_id: UUID
    occurred_at: datetime
    version: int
    payload: dict[str, Any]

    @classmethod
    def from_envelope(cls, doc: dict[str, Any]) -> Event:
        return cls(
            id=UUID(doc["id"]),
            type=str(doc["type"]),
            org_id=UUID(doc["org_id"]),
            occurred_at=datetime.fromisoformat(doc["occurred_at"]),
            version=int(doc["version"]),
            payload=dict(doc["payload"]),
        )


def envelope(
    *, id: UUID, type: str, org_id: UUID, occurred_at: datetime, version: int, payload: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": str(id),
        "type": type,
        "org_id": str(org_id),
        "occurred_at": occurred_at.isoformat(),
        "version": version,
        "payload": payload,
    }
