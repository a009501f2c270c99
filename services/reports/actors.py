"""Dramatiq actors of the reports service. Every actor is safe to run twice.

Both consumers are the kit's (`shared.messaging.consumer.event_consumer`): each event applied once, its id
recorded in `processed_events` in the same tenant transaction as its effect and its source's watermark.
`reports.on_orders_event` takes the orders service's events (REPORTS_FROM_ORDERS), `reports.on_insights_event`
the insights service's business events (REPORTS_FROM_INSIGHTS); both on the queue `reports.events`. A message is
acked only after the actor returns, so a worker killed mid-event has it redelivered and nothing is lost.
"""

from __future__ import annotations

import time
from uuid import UUID

from services.reports.service import insights_events, orders_events, runs
from shared import logging as slog
from shared.config import get_settings
from shared.messaging import contracts
from shared.messaging.broker import async_actor, retries_for_horizon
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
