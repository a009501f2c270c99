"""Data watermarks: per organisation and source, the newest event applied (its source time), so a report can say
how fresh its data is.

Every handler of a source is wrapped (`tracked`): the watermark moves in the same transaction as the event's
effect and the record of its id, forward only (`repository/watermarks.advance`), so a redelivered, replayed or
late older event never moves it back. The time is the envelope's `occurred_at`: when the source recorded the
change (for a republished event, when the backfill republished it, which is when its state was read). Reference
data of no organisation (FX rates) moves no watermark.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import asyncpg

from services.reports.repository import watermarks as store
from shared.messaging.consumer import EventHandler
from shared.messaging.contracts import REFERENCE_DATA_ORG_ID, Event

ORDERS = "orders"
INSIGHTS = "insights"


def tracked(source: str, handlers: Mapping[str, EventHandler]) -> dict[str, EventHandler]:
    """`handlers`, each followed by the watermark of `source` in the same transaction."""

    def wrap(handler: EventHandler) -> EventHandler:
        async def apply(conn: asyncpg.Connection, event: Event) -> None:
            await handler(conn, event)
            if event.org_id != REFERENCE_DATA_ORG_ID:
                await store.advance(conn, event.org_id, source, event.occurred_at, event.id)

        apply.__name__ = apply.__qualname__ = getattr(handler, "__name__", "handler")
        return apply

    return {event_type: wrap(handler) for event_type, handler in handlers.items()}


async def of_organisation(conn: asyncpg.Connection, org_id: UUID) -> dict[str, Any]:
    """Each source's watermark (`null` for a source nothing has arrived from yet)."""
    rows = {r["source"]: r for r in await store.of_organisation(conn, org_id)}
    return {
        source: (
            {
                "occurredAt": rows[source]["occurred_at"].isoformat(),
                "eventId": str(rows[source]["event_id"]),
                "appliedAt": rows[source]["applied_at"].isoformat(),
            }
            if source in rows
            else None
        )
        for source in (ORDERS, INSIGHTS)
    }
