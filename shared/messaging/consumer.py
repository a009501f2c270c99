"""The consuming side of a subscription: one actor that applies each event exactly once.

A service declares, in its actors module, `event_consumer(subscription, resources, handlers)`
with one handler per event type. The actor opens a tenant transaction for the event's
organisation, records the event id in `processed_events` and calls the handler in that same
transaction: a redelivered or replayed event finds its id and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
import dramatiq

from shared import logging as slog
from shared.db import tenant_tx
from shared.messaging.broker import async_actor
from shared.messaging.contracts import Event, Subscription
from shared.messaging.outbox import first_delivery
from shared.service.worker import WorkerResources

logger = logging.getLogger("consumer")
EventHandler = Callable[[asyncpg.Connection, Event], Awaitable[None]]


async def apply_event(pool: asyncpg.Pool, consumer: str, event: Event, handlers: Mapping[str, EventHandler]) -> bool:
    """Applies `event` once for `consumer`; False when it was applied before (or is not handled)."""
    handler = handlers.get(event.type)
    if handler is None:
        return False
    with slog.bound_org(str(event.org_id)):
        async with tenant_tx(pool, event.org_id) as conn:
            if not await first_delivery(conn, consumer, event.id, event.org_id):
                return False
            await handler(conn, event)
    return True


def event_consumer(
    subscription: Subscription, resources: WorkerResources, handlers: Mapping[str, EventHandler]
) -> dramatiq.Actor:
    """Declares the actor of `subscription`; every handled type must be one the subscription takes."""
    unknown = set(handlers) - subscription.event_types
    if unknown:
        raise ValueError(f"handlers for events {sorted(unknown)} that {subscription.actor} does not subscribe to")

    async def consume(envelope: dict[str, Any]) -> None:
        event = Event.from_envelope(envelope)
        applied = await apply_event(resources.pool, subscription.consumer, event, handlers)
        slog.log(logger, logging.DEBUG, "event", type=event.type, event_id=str(event.id), applied=applied)

    consume.__name__ = consume.__qualname__ = subscription.actor.replace(".", "_")
    return async_actor(actor_name=subscription.actor, queue_name=subscription.queue)(consume)
