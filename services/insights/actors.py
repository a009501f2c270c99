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
from uuid import UUID

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware

from services.insights.repository.events import PartitionCache
from services.insights.service import maintenance, mixpanel, orders_events, segments
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


_orders_contacts: mixpanel.OrdersContacts | None = None


@async_actor(actor_name="insights.mixpanel_forward", queue_name=mixpanel.MIXPANEL_QUEUE, max_retries=20)
async def mixpanel_forward(org_id: str, connection_id: str) -> None:
    """Forwards one Mixpanel connection's events until caught up, backing off, or out of its time budget
    (services/insights/service/mixpanel.py); a second job for the same connection finds it locked and returns."""
    global _orders_contacts
    settings = get_settings()
    if _orders_contacts is None:
        _orders_contacts = mixpanel.OrdersContacts.from_settings(settings)
    done = await mixpanel.forward(resources.pool, settings, _orders_contacts, UUID(org_id), UUID(connection_id))
    slog.log(logger, logging.DEBUG, "mixpanel", connection=connection_id, events=done.events, stopped=done.stopped)


@async_actor(actor_name="insights.mixpanel_cohort_import", queue_name=mixpanel.MIXPANEL_QUEUE, max_retries=5)
async def mixpanel_cohort_import(org_id: str, connection_id: str, cohort_id: int) -> None:
    """A scheduled re-import of a Mixpanel cohort into its static segment."""
    await mixpanel.reimport_cohort(resources.pool, get_settings(), UUID(org_id), UUID(connection_id), cohort_id)


def _queue_forwarding(org_id: UUID, connection_id: UUID) -> None:
    mixpanel_forward.send(str(org_id), str(connection_id))


def _queue_cohort(org_id: UUID, connection_id: UUID, cohort_id: int) -> None:
    mixpanel_cohort_import.send(str(org_id), str(connection_id), cohort_id)


async def _upkeep() -> None:
    """The maintenance slots, the periodic recompute of dynamic segments (their "last D days" move), and the
    Mixpanel ticker (a forwarding job per connection due one, scheduled cohort re-imports)."""
    await asyncio.gather(
        maintenance.run_periodically(lambda: resources.pool),
        segments.run_periodically(lambda: resources.pool),
        mixpanel.tick_periodically(lambda: resources.pool, _queue_forwarding, _queue_cohort),
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
