"""The insights service's business events, as the reports service records them (REPORTS_FROM_INSIGHTS).

`business_event.recorded` is published by the insights service's ingestion statement for each business event
it stored (services/insights/repository/events.py, its `published` CTE), and by its `publish-business-events`
command for a backfill, which writes new outbox rows (new envelope ids) for events already sent. The kit's
consumer dedupes on the envelope id; the store dedupes on the payload's own `event_id`, so a republished copy
changes nothing either. The entity row is recomputed from its events, so arrival order never matters; the
contact is mapped through merges, made on first mention, and takes the newest account currency an event carried.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.reports.repository import business, contacts
from services.reports.service import watermarks
from shared.messaging import contracts
from shared.messaging.consumer import EventHandler
from shared.messaging.contracts import Event

CONSUMER = contracts.REPORTS_FROM_INSIGHTS.consumer


def _uuid(value: Any) -> UUID | None:
    return UUID(str(value)) if value else None


def parse(payload: dict[str, Any]) -> business.BusinessEvent:
    """The payload as the insights service builds it (jsonb_build_object of the stored row: amounts as text)."""
    return business.BusinessEvent(
        event_id=UUID(str(payload["event_id"])),
        occurred_at=datetime.fromisoformat(payload["occurred_at"]),
        integration_id=UUID(str(payload["integration_id"])),
        source_key=str(payload["source_key"]),
        type=str(payload["type"]),
        entity_id=str(payload["entity_id"]),
        state=str(payload["state"]),
        customer_id=_uuid(payload.get("customer_id")),
        product_id=_uuid(payload.get("product_id")),
        category_id=_uuid(payload.get("category_id")),
        channel=payload.get("channel"),
        amount=Decimal(payload["amount"]) if payload.get("amount") is not None else None,
        currency=(payload.get("currency") or "").strip() or None,
        account_currency=(payload.get("account_currency") or "").strip() or None,
        fields=payload.get("fields"),
        custom_fields=payload.get("custom_fields"),
        items=payload.get("items"),
        counted=bool(payload["counted"]),
    )


async def on_business_event(conn: asyncpg.Connection, event: Event) -> None:
    """business_event.recorded: the event stored once by its own id; its entity and contact brought up to date."""
    e = parse(event.payload)
    if e.customer_id is not None:
        customer = await contacts.surviving(conn, event.org_id, e.customer_id)
        e = dataclasses.replace(e, customer_id=customer)
    if not await business.insert(conn, event.org_id, e, event.occurred_at):
        return
    await business.refresh_entity(conn, event.org_id, e.integration_id, e.type, e.entity_id)
    if e.customer_id is not None:
        await contacts.seen(conn, event.org_id, e.customer_id, e.occurred_at, e.channel)
        if e.account_currency is not None:
            await contacts.set_account_currency(conn, event.org_id, e.customer_id, e.account_currency, e.occurred_at)


HANDLERS: dict[str, EventHandler] = watermarks.tracked(
    watermarks.INSIGHTS, {contracts.BUSINESS_EVENT_RECORDED: on_business_event}
)
