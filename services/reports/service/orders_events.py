"""The orders service's domain events, as the reports service records them (REPORTS_FROM_ORDERS).

Each handler runs in the tenant transaction the kit's consumer opens (`shared.messaging.consumer.apply_event`),
which records the event id: a redelivered or replayed event changes nothing. Handlers are also safe in any order
and against the backfill (`publish-orders` republishes every order as `order.created` with its current state):

- the order row keeps the state of the newest event (`as_of`): a late older event changes nothing; its hourly
  rollup (`orders_hourly`, the analytical orders reports' source) follows the row in the same transaction;
- the commission ledger gets one row per change event (history: a late one is still added);
- contacts are made on first mention and only widen their seen times; a customer id a merge retired is
  recorded under the surviving contact, and a merge re-points what arrived before it.

What the events do not carry stays NULL (the report of this part names it): the order's provider and journey
type, the ledger's source, the contact's email, display name and custom fields.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.reports.repository import contacts, custom_fields
from services.reports.repository import orders as store
from services.reports.service import fx_rates, organisation, watermarks
from shared import logging as slog
from shared.messaging import contracts
from shared.messaging.consumer import EventHandler
from shared.messaging.contracts import Event

logger = logging.getLogger("reports.orders_events")

SUCCESSFUL = "SUCCESSFUL"
CONSUMER = contracts.REPORTS_FROM_ORDERS.consumer


def _state(payload: dict[str, Any], customer_id: UUID, event: Event) -> store.OrderState:
    created_at = datetime.fromisoformat(payload["created_at"])
    successful_at: datetime | None = None
    if payload["status"] == SUCCESSFUL:
        if payload.get("successful_at"):  # the backfill's republished order says when
            successful_at = datetime.fromisoformat(payload["successful_at"])
        elif event.type == contracts.ORDER_CREATED:
            successful_at = created_at
        elif event.type == contracts.ORDER_STATUS_CHANGED and payload.get("previous_status") != SUCCESSFUL:
            successful_at = event.occurred_at
    return store.OrderState(
        id=UUID(payload["order_id"]),
        integration_id=UUID(payload["integration_id"]),
        category_id=UUID(payload["category_id"]),
        product_id=UUID(payload["product_id"]),
        customer_id=customer_id,
        kind=payload.get("kind") or "order",
        status=payload["status"],
        comm_status=payload["comm_status"],
        failure_reason=payload.get("failure_reason"),
        amount=Decimal(payload["amount"]),
        currency=payload["currency"],
        created_at=created_at,
        successful_at=successful_at,
        custom_fields=payload.get("custom_fields") or None,
        provider_id=UUID(payload["provider_id"]) if payload.get("provider_id") else None,
    )


async def on_order(conn: asyncpg.Connection, event: Event) -> None:
    """order.created / status_changed / commission_changed: the order row, its contact, and (changes) the ledger."""
    p = event.payload
    customer = await contacts.surviving(conn, event.org_id, UUID(p["customer_id"]))
    order = _state(p, customer, event)
    await store.upsert(conn, event.org_id, order, event.occurred_at)
    if order.successful_at is not None:  # a late change event still says when it became successful
        await store.fill_successful_at(conn, event.org_id, order.id, order.successful_at)
    await contacts.seen(conn, event.org_id, customer, order.created_at)
    if event.type in (contracts.ORDER_STATUS_CHANGED, contracts.COMMISSION_CHANGED):
        await store.record_change(
            conn,
            event.org_id,
            store.LedgerEntry(
                event_id=event.id,
                order_id=order.id,
                from_status=p.get("previous_status"),
                to_status=order.status,
                from_comm=p.get("previous_comm_status"),
                to_comm=order.comm_status,
                amount=order.amount,
                currency=order.currency,
                source=p.get("source"),
                occurred_at=event.occurred_at,
            ),
        )


async def on_customer_updated(conn: asyncpg.Connection, event: Event) -> None:
    """customer.updated: the contact's custom fields and account currency (newest event wins)."""
    p = event.payload
    customer = await contacts.surviving(conn, event.org_id, UUID(p["customer_id"]))
    await contacts.set_profile(
        conn, event.org_id, customer, p.get("custom_fields") or {}, p.get("account_currency"), event.occurred_at
    )


async def on_custom_field(conn: asyncpg.Connection, event: Event) -> None:
    """custom_field.defined / changed / deleted: the organisation's definitions, for the report columns."""
    if event.type == contracts.CUSTOM_FIELD_DELETED:
        await custom_fields.delete(conn, event.org_id, event.payload, event.occurred_at)
    else:
        await custom_fields.upsert(conn, event.org_id, event.payload, event.occurred_at)


async def on_customer_created(conn: asyncpg.Connection, event: Event) -> None:
    """customer.created (payload: customer_id, kind): the contact, created at the event's time."""
    p = event.payload
    await contacts.created(conn, event.org_id, UUID(p["customer_id"]), p["kind"], event.occurred_at)


async def on_customer_merged(conn: asyncpg.Connection, event: Event) -> None:
    """customer.merged: the anonymous contact folds into the generic one; what it had moves there."""
    moved = await contacts.merge(
        conn, event.org_id, UUID(event.payload["from_customer_id"]), UUID(event.payload["into_customer_id"])
    )
    slog.log(logger, logging.INFO, "customer merged", **moved)


async def on_customer_erased(conn: asyncpg.Connection, event: Event) -> None:
    """customer.erased: the contact's personal columns emptied; figures stay."""
    at = datetime.fromisoformat(event.payload["erased_at"]) if event.payload.get("erased_at") else event.occurred_at
    erased = await contacts.erase(conn, event.org_id, UUID(event.payload["customer_id"]), at)
    slog.log(logger, logging.INFO, "customer erased", erased=erased)


HANDLERS: dict[str, EventHandler] = watermarks.tracked(
    watermarks.ORDERS,
    {
        contracts.ORDER_CREATED: on_order,
        contracts.ORDER_STATUS_CHANGED: on_order,
        contracts.COMMISSION_CHANGED: on_order,
        contracts.ORDER_UPDATED: on_order,
        contracts.CUSTOMER_CREATED: on_customer_created,
        contracts.CUSTOMER_UPDATED: on_customer_updated,
        **{t: on_custom_field for t in contracts.CUSTOM_FIELD_EVENTS},
        contracts.CUSTOMER_MERGED: on_customer_merged,
        contracts.CUSTOMER_ERASED: on_customer_erased,
        **organisation.HANDLERS,  # the kit's copy of the settings, and the colour PDFs print
        contracts.FX_RATES_PUBLISHED: fx_rates.on_fx_rates_published,  # reference data: no watermark
    },
)
