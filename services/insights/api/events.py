"""Event ingestion (`/internal/events/ingest`, reached through the gateway's `POST /v1/events`) and the
event catalogue (`/internal/event-types`)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from services.insights.domain import catalogue
from services.insights.domain.business import BusinessType
from services.insights.repository.events import PartitionCache
from services.insights.service import ingest
from services.insights.service.live import publish
from shared.errors import DomainError, ErrorCode
from shared.http import JSON
from shared.service.endpoint import Call, system_endpoint, tenant_endpoint


def _orders(call: Call) -> ingest.OrdersIdentities:
    """This process's client of the orders service, made on first use (one per app)."""
    state = call.request.app.state
    client: ingest.OrdersIdentities | None = getattr(state, "orders_identities", None)
    if client is None:
        client = state.orders_identities = ingest.OrdersIdentities.from_settings(call.service.settings)
    return client


def _partitions(call: Call) -> PartitionCache:
    state = call.request.app.state
    cache: PartitionCache | None = getattr(state, "event_partitions", None)
    if cache is None:
        cache = state.event_partitions = PartitionCache()
    return cache


@system_endpoint(callers=frozenset({"gateway"}))
async def ingest_events(call: Call) -> Any:
    """202 once the batch's valid events are stored (committed), with every refused event's index, field and
    reason. The integration's key is the gateway's forwarded `x-integration-key`, checked by the orders service."""
    key = call.request.headers.get("x-integration-key", "")
    if not key:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "integration API key required", "apiKey", status=401)
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("events"), list) or set(body) != {"events"}:
        raise DomainError(
            ErrorCode.INVALID_INPUT, 'the body is {"events": [ ... ]} and nothing else', "events", status=422
        )
    if not body["events"]:
        raise DomainError(ErrorCode.INVALID_INPUT, "send at least one event", "events", status=422)
    outcome = await ingest.ingest(
        call.pool,
        _orders(call),
        _partitions(call),
        key,
        body["events"],
        forbidden_keys=call.service.settings.insights_forbidden_property_keys,
    )
    if outcome.stored and outcome.org_id is not None:
        await publish(call.service.settings, outcome.org_id, {"kind": "events", "types": outcome.types})
    return JSON(outcome.as_json(), status_code=202)


@tenant_endpoint()
async def event_types(call: Call) -> Any:
    return [
        {
            "name": t.name,
            "class": t.event_class.value,
            "description": t.description,
            "carriesAmount": t.carries_amount,
            "acceptedFromIntegrations": t.accepted_from_integrations,
            "funnelStep": t.funnel_step,
            "dimensions": list(t.dimensions),
            "business": _business(t.business) if t.business is not None else None,
        }
        for t in catalogue.CATALOGUE.values()
    ]


def _business(b: BusinessType) -> dict[str, Any]:
    return {
        "states": list(b.states),
        "countRule": b.rule.value,
        "finalStates": sorted(b.final_states),
        "countRuleText": b.rule_text,
        "amount": b.amount,
        "lineItems": b.line_items,
        "fields": [
            {
                "name": f.name,
                "kind": f.kind.value,
                "description": f.description,
                "values": list(f.values),
                "required": f.required,
                "filterable": True,
                "breakdown": f.breakdown,
            }
            for f in b.fields
        ],
    }


routes = [
    Route("/internal/events/ingest", ingest_events, methods=["POST"]),
    Route("/internal/event-types", event_types, methods=["GET"]),
]
