"""A toy service built only from the kit: one table under RLS, one endpoint, one actor, one subscription.

It exists to prove that a new service copies nothing: its API app, endpoint, worker actor,
outbox, event consumption and copy of organisation settings all come from `shared/`.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import dramatiq
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from shared.messaging import contracts
from shared.messaging.consumer import event_consumer
from shared.messaging.contracts import Event, Subscription
from shared.messaging.outbox import add_event
from shared.service import org_settings
from shared.service.endpoint import TenantCall, tenant_endpoint
from shared.service.worker import resources_of

SERVICE = "toy"
NOTE_CREATED = "note.created"
SUBSCRIPTION = Subscription(
    consumer=SERVICE, source="orders", event_types=contracts.ORGANISATION_EVENTS | {contracts.ORDER_CREATED}
)


class NewNote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=200)


@tenant_endpoint()
async def add_note(call: TenantCall) -> Any:
    note = call.parse(NewNote)
    row = await call.conn.fetchrow(
        "INSERT INTO notes (org_id, body) VALUES ($1, $2) RETURNING id, body", call.org_id, note.body
    )
    await add_event(call.conn, call.org_id, NOTE_CREATED, {"note_id": str(row["id"])})
    settings = await org_settings.get(call.conn, call.org_id)
    return {"id": row["id"], "body": row["body"], "time_zone": settings.time_zone}


@tenant_endpoint()
async def list_notes(call: TenantCall) -> Any:
    rows = await call.conn.fetch("SELECT id, body FROM notes WHERE org_id = $1 ORDER BY created_at", call.org_id)
    return [dict(r) for r in rows]


routes = [Route("/internal/notes", add_note, methods=["POST"]), Route("/internal/notes", list_notes, methods=["GET"])]


async def count_order(conn: asyncpg.Connection, event: Event) -> None:
    await conn.execute(
        "INSERT INTO order_counts AS c (org_id, orders) VALUES ($1, 1)"
        " ON CONFLICT (org_id) DO UPDATE SET orders = c.orders + 1",
        event.org_id,
    )


resources = resources_of(SERVICE)
on_orders_event: dramatiq.Actor = event_consumer(
    SUBSCRIPTION, resources, {**org_settings.HANDLERS, contracts.ORDER_CREATED: count_order}
)
