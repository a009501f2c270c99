"""Dramatiq actors of the reports service. Every actor is safe to run twice.

Both consumers are the kit's (`shared.messaging.consumer.event_consumer`): each event applied once, its id
recorded in `processed_events` in the same tenant transaction as its effect and its source's watermark.
`reports.on_orders_event` takes the orders service's events (REPORTS_FROM_ORDERS), `reports.on_insights_event`
the insights service's business events (REPORTS_FROM_INSIGHTS); both on the queue `reports.events`. A message is
acked only after the actor returns, so a worker killed mid-event has it redelivered and nothing is lost.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from uuid import UUID

import dramatiq
from dramatiq.broker import MessageProxy

from services.reports.service import insights_events, mongo_forwarding, orders_events, runs
from shared import logging as slog
from shared.config import get_settings
from shared.messaging import contracts
from shared.messaging.broker import async_actor, get_broker, retries_for_horizon
from shared.messaging.consumer import event_consumer
from shared.service import segment_copies
from shared.service.worker import resources_of

resources = resources_of("reports")
assert contracts.REPORTS_FROM_ORDERS.queue == contracts.REPORTS_FROM_INSIGHTS.queue == contracts.REPORTS_EVENTS_QUEUE

on_orders_event = event_consumer(contracts.REPORTS_FROM_ORDERS, resources, orders_events.HANDLERS)
on_insights_event = event_consumer(
    contracts.REPORTS_FROM_INSIGHTS, resources, {**insights_events.HANDLERS, **segment_copies.HANDLERS}
)

# Report runs (service/runs.py): built, stored and mailed once per run however often the job is delivered.
# Retried with back-off (1 s doubling to 10 min) for as long as the mail actors retry an SMTP outage; a build
# fails for good after REPORT_RUN_MAX_ATTEMPTS attempts (the run says why and its requester is told).
RUN_MIN_BACKOFF_MS = 1_000
RUN_MAX_BACKOFF_MS = 600_000


@async_actor(
    actor_name=runs.RUN_REPORT,
    queue_name=runs.RUNS_QUEUE,
    max_retries=retries_for_horizon(
        get_settings().mail_retry_horizon_seconds * 1000, min_backoff=RUN_MIN_BACKOFF_MS, max_backoff=RUN_MAX_BACKOFF_MS
    ),
    min_backoff=RUN_MIN_BACKOFF_MS,
    max_backoff=RUN_MAX_BACKOFF_MS,
)
async def run_report(org_id: str, run_id: str, enqueued_ms: int) -> None:
    with slog.bound_org(org_id):
        outcome = await runs.execute_run(resources.pool, UUID(org_id), UUID(run_id))
        if outcome == "missing" and time.time() * 1000 - enqueued_ms < runs.ORPHAN_SECONDS * 1000:
            raise runs.RunNotVisible(f"report run {run_id} is not committed (yet)")


# MongoDB forwarding (issue 11, service/mongo_forwarding.py): a pass of an organisation's connections (or of one) on
# the queue `reports.mongo`. The target's faults never raise here (a pass records them; the scheduler's sweep retries
# with back-off); anything else is retried a few times by Dramatiq. Safe to run twice: one pass per connection at a
# time (advisory lock), positions move only after an acknowledged bulk write, documents are upserts by `_id`.
mongo_sources = mongo_forwarding.Sources()


@async_actor(actor_name=mongo_forwarding.FORWARD, queue_name=mongo_forwarding.QUEUE, max_retries=3)
async def mongo_forward(org_id: str, connection_id: str | None) -> None:
    with slog.bound_org(org_id):
        if connection_id is None:
            await mongo_forwarding.forward_org(resources.pool, UUID(org_id), sources=mongo_sources)
        else:
            await mongo_forwarding.forward(
                resources.pool, UUID(org_id), UUID(connection_id), sources=mongo_sources, only_if_due=True
            )


class MongoAfterEvents(dramatiq.Middleware):
    """After an event was applied to the read model: a pass of the organisation's connections, debounced (one per
    organisation per `DEBOUNCE_MS`, however many events land meanwhile)."""

    consumers = frozenset({on_orders_event.actor_name, on_insights_event.actor_name})

    def after_process_message(
        self, broker: dramatiq.Broker, message: MessageProxy, *, result: Any = None, exception: Any = None
    ) -> None:
        if exception is not None or message.actor_name not in self.consumers or not message.args:
            return
        envelope = message.args[0]
        org_id = envelope.get("org_id") if isinstance(envelope, dict) else None
        if org_id:
            try:
                mongo_forwarding.send_debounced(str(org_id))
            except Exception:  # the sweep forwards it anyway
                logging.getLogger("reports.mongo").warning("could not enqueue a MongoDB pass", exc_info=True)


get_broker().add_middleware(MongoAfterEvents())
