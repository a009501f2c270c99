"""Dramatiq actors of the reports service. Every actor is safe to run twice.

Both consumers are the kit's (`shared.messaging.consumer.event_consumer`): each event applied once, its id
recorded in `processed_events` in the same tenant transaction as its effect and its source's watermark.
`reports.on_orders_event` takes the orders service's events (REPORTS_FROM_ORDERS), `reports.on_insights_event`
the insights service's business events (REPORTS_FROM_INSIGHTS); both on the queue `reports.events`. A message is
acked only after the actor returns, so a worker killed mid-event has it redelivered and nothing is lost.
"""

from __future__ import annotations

from services.reports.service import insights_events, orders_events
from shared.messaging import contracts
from shared.messaging.consumer import event_consumer
from shared.service.worker import resources_of

resources = resources_of("reports")
assert contracts.REPORTS_FROM_ORDERS.queue == contracts.REPORTS_FROM_INSIGHTS.queue == contracts.REPORTS_EVENTS_QUEUE

on_orders_event = event_consumer(contracts.REPORTS_FROM_ORDERS, resources, orders_events.HANDLERS)
on_insights_event = event_consumer(contracts.REPORTS_FROM_INSIGHTS, resources, insights_events.HANDLERS)
