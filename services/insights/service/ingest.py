"""Ingesting a batch of events from an integration: validate each, resolve identities once, store once.

1. Each event is validated on its own (shape, catalogue, clock, journey data): refusals name the index and
   the field, and never cost the batch's other events their place (the shapes of a well-formed batch are
   checked in one call: `validate_batch`).
2. One call to the orders service per batch authenticates the integration's key, resolves every distinct
   identity to its customer (creating, converting or merging there, the one owner of customers) and says
   which product ids are the organisation's.
3. One statement stores the events that were not stored before and their read models, in one transaction
   of the key's organisation: the 202 is sent after it committed (acknowledged means durable).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.domain import catalogue
from services.insights.domain.ingest import Refusal, validate_batch
from services.insights.repository import events as store
from shared import logging as slog
from shared.api_events import MAX_EVENTS, IncomingEvent
from shared.db import connection, tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.service.client import ServiceClient

logger = logging.getLogger("insights.ingest")


class OrdersIdentities(ServiceClient):
    """The orders service as the insights service calls it: identities and products of a batch."""

    service = "orders"
    caller = "insights"

    async def resolve(self, key: str, identities: list[dict[str, Any]], product_ids: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST",
            "/internal/ingest/resolve",
            json={"identities": identities, "productIds": product_ids},
            headers={"x-integration-key": key},
        )
        return result


@dataclass
class Outcome:
    received: int
    stored: int = 0
    refused: list[Refusal] = field(default_factory=list)
    org_id: UUID | None = None
    types: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.received - len({r.index for r in self.refused})

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "stored": self.stored,
            "duplicates": self.accepted - self.stored,
            "refused": [r.as_json() for r in sorted(self.refused, key=lambda r: (r.index, r.field))],
        }


def _count_key(event_type: catalogue.EventType, state: str | None) -> str | None:
    """The state group a business event's entity counts once in ("" when its state never counts); None for
    events that always count."""
    business = event_type.business
    if business is None:
        return None
    return business.count_key(state) if state is not None and business.counts(state) else ""


def _identity_key(e: IncomingEvent) -> tuple[str | None, str | None]:
    return (str(e.email).lower() if e.email else None, e.anonymous_id)


async def ingest(
    pool: asyncpg.Pool,
    orders: OrdersIdentities,
    partitions: store.PartitionCache,
    key: str,
    raw: Sequence[Any],
    *,
    forbidden_keys: frozenset[str],
    now: datetime | None = None,
) -> Outcome:
    if len(raw) > MAX_EVENTS:
        raise DomainError(ErrorCode.TOO_LARGE, f"at most {MAX_EVENTS} events per batch", "events", status=413)
    now = now or datetime.now(UTC)
    outcome = Outcome(received=len(raw))
    valid, outcome.refused = validate_batch(raw, now, forbidden_keys)

    # One call for the whole batch: the key's organisation, every identity's customer, the products.
    keys = [_identity_key(e) for _, e in valid]
    spans: dict[tuple[str | None, str | None], list[Any]] = {}
    for (_, e), ident in zip(valid, keys, strict=True):
        span = spans.setdefault(ident, [e.occurred_at, e.occurred_at, 0])
        span[0], span[1] = min(span[0], e.occurred_at), max(span[1], e.occurred_at)
        span[2] += e.type == "visit"
    identities = [
        {
            "email": email,
            "anonymousId": anon,
            "firstSeen": s[0].isoformat(),
            "lastSeen": s[1].isoformat(),
            "visits": s[2],
        }
        for (email, anon), s in spans.items()
    ]
    product_ids = sorted(
        {str(e.product_id) for _, e in valid if e.product_id}
        | {str(i.product_id) for _, e in valid for i in e.items or [] if i.product_id}
    )
    resolved = await orders.resolve(key, identities, product_ids)
    outcome.org_id = UUID(resolved["orgId"])
    customers = dict(zip(spans, (UUID(c) for c in resolved["customers"]), strict=True))
    products: dict[str, dict[str, str]] = resolved["products"]
    categories = {UUID(p): UUID(c["categoryId"]) for p, c in products.items()}

    rows: list[store.NewEvent] = []
    for (index, e), ident in zip(valid, keys, strict=True):
        unknown = [] if e.product_id is None or e.product_id in categories else ["productId"]
        if e.items:
            unknown += [
                f"items[{k}].productId"
                for k, i in enumerate(e.items)
                if i.product_id and i.product_id not in categories
            ]
        if unknown:
            outcome.refused.extend(
                Refusal(index, f"events[{index}].{f}", "not a product of this organisation") for f in unknown
            )
            continue
        event_type = catalogue.lookup(e.type)
        assert event_type is not None  # validated
        rows.append(
            store.NewEvent(
                occurred_at=e.occurred_at,
                source_key=e.id,
                type=e.type,
                event_class=event_type.event_class.value,
                customer_id=customers[ident],
                anonymous_id=e.anonymous_id,
                device_id=e.device.id if e.device else None,
                device_platform=e.device.platform if e.device else None,
                device_user_agent=e.device.user_agent if e.device else None,
                product_id=e.product_id,
                category_id=categories[e.product_id] if e.product_id is not None else None,
                amount=e.amount,
                currency=e.currency,
                entity_id=e.entity_id,
                state=e.state,
                items=[i.model_dump(mode="json", by_alias=True, exclude_none=True) for i in e.items]
                if e.items
                else None,
                properties=e.properties,
                fields=e.fields or None,
                custom_fields=e.custom_fields or None,
                account_currency=e.account_currency,
                count_key=_count_key(event_type, e.state),
            )
        )
    if rows:
        days: set[date] = {r.occurred_at.astimezone(UTC).date() for r in rows}
        if days - partitions.known:  # a connection only when a partition may be missing (a day a process first sees)
            async with connection(pool) as conn:
                await partitions.ensure(conn, days)
        with slog.bound_org(str(outcome.org_id)):
            async with tenant_tx(pool, outcome.org_id) as conn:
                outcome.stored, outcome.types = await store.store(
                    conn, outcome.org_id, UUID(resolved["integrationId"]), resolved.get("channel"), rows
                )
    slog.log(
        logger,
        logging.INFO,
        "events ingested",
        received=outcome.received,
        stored=outcome.stored,
        refused=len(outcome.refused),
    )
    return outcome
