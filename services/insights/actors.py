"""Dramatiq actors of the insights service, and its maintenance loop. Every actor is safe to run twice.

The orders service's events arrive on `insights.events` (the `INSIGHTS_FROM_ORDERS` subscription). The
actor is the kit's consumer (`shared.messaging.consumer.apply_event`: the event id recorded in the same
tenant transaction as its effect, so redeliveries and replays change nothing) wrapped, in
`orders_events.consume`, with what the insights service needs around that transaction: the raw events'
partitions made before it (on a connection of their own) and, once it committed with a change, one live
message to the organisation's subscribers. A message is
acked only after the actor returns, so a worker killed mid-batch has it redelivered and nothing is lost.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware

from services.insights.repository.events import PartitionCache
from services.insights.service import maintenance, orders_events, segments
from shared import logging as slog
from shared.config import get_settings
from shared.messaging import contracts
from shared.messaging.broker import async_actor, get_broker
from shared.messaging.contracts import Event
from shared.service.worker import resources_of

logger = logging.getLogger("insights.actors")
resources = resources_of("insights")
SUBSCRIPTION = contracts.INSIGHTS_FROM_ORDERS
assert SUBSCRIPTION.queue == contracts.INSIGHTS_EVENTS_QUEUE
if set(orders_events.HANDLERS) - SUBSCRIPTION.event_types:
    raise ValueError(f"handlers for events {SUBSCRIPTION.actor} does not subscribe to")

# The days this process knows have partitions (a process-local shortcut; the owner's function is the truth).
_partitions = PartitionCache()


@async_actor(actor_name=SUBSCRIPTION.actor, queue_name=SUBSCRIPTION.queue)
async def on_orders_event(envelope: dict[str, Any]) -> None:
    event = Event.from_envelope(envelope)
    applied = await orders_events.consume(resources.pool, _partitions, get_settings(), event)
    slog.log(logger, logging.DEBUG, "event", type=event.type, event_id=str(event.id), applied=applied)


async def _upkeep() -> None:
    """The maintenance slots, and the periodic recompute of dynamic segments (their "last D days" move)."""
    await asyncio.gather(
        maintenance.run_periodically(lambda: resources.pool), segments.run_periodically(lambda: resources.pool)
    )


class MaintenanceMiddleware(Middleware):
    """Runs the maintenance loop (services/insights/service/maintenance.py) on the actors' event loop from
    worker boot (after the pool exists) to shutdown."""

    def __init__(self) -> None:
        self._future: concurrent.futures.Future[None] | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            raise RuntimeError("the AsyncIO middleware is not running")
        self._future = asyncio.run_coroutine_threadsafe(_upkeep(), loop_thread.loop)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._future is not None:
            self._future.cancel()
            self._future = None


def install_maintenance(broker: dramatiq.Broker | None = None) -> None:
    """Adds the maintenance loop to the worker (once); `services.insights.worker` calls it."""
    broker = broker or get_broker()
    if not any(isinstance(m, MaintenanceMiddleware) for m in broker.middleware):
        broker.add_middleware(MaintenanceMiddleware())
