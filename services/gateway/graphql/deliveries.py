"""Provider webhook deliveries: what each provider sent about an order and what became of it."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, NewType

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.common import PageInfo, check_page
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.errors import from_service
from services.gateway.graphql.organisation import require_admin

# A provider's sequence goes up to 2^62 (webhooks.CommissionData): beyond GraphQL's Int (32 bits), and beyond
# what a JSON number carries exactly into JavaScript (2^53), so it travels as text.
# The schema maps the type to the scalar (schema.py, `StrawberryConfig.scalar_map`).
BigInt = NewType("BigInt", int)
BIG_INT = strawberry.scalar(
    name="BigInt",
    description="A 64-bit integer, written as a string of decimal digits (exact beyond 2^53, where numbers "
    "in JavaScript are not).",
    serialize=str,
    parse_value=int,
)


@strawberry.enum(description="What a provider's delivery did to the order.")
class DeliveryOutcome(Enum):
    APPLIED = "APPLIED"
    UNCHANGED = "UNCHANGED"
    STALE = "STALE"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    REFUSED = "REFUSED"


_PREFIXES = {
    "applied": DeliveryOutcome.APPLIED,
    "unchanged": DeliveryOutcome.UNCHANGED,
    "stale": DeliveryOutcome.STALE,
    "unknown_order": DeliveryOutcome.UNKNOWN_ORDER,
    "rejected": DeliveryOutcome.REFUSED,
}


@strawberry.type(description="One webhook delivery of a provider, with its outcome and, when refused, why.")
class ProviderDelivery:
    id: strawberry.ID
    webhook_id: str
    order_id: strawberry.ID | None
    sequence: BigInt | None = strawberry.field(
        description="The provider's event order for this order (up to 2^62, hence a string)."
    )
    requested: JSON | None = strawberry.field(description="What the delivery asked for (status, commission).")
    outcome: DeliveryOutcome
    reason: str | None = strawberry.field(
        description="Why a refused delivery changed nothing; stale: older than one applied."
    )
    received_at: dt.datetime

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> ProviderDelivery:
        kind, _, detail = str(r["outcome"]).partition(": ")
        outcome = _PREFIXES.get(kind, DeliveryOutcome.REFUSED)
        reason = detail or ("older than an update already applied" if outcome is DeliveryOutcome.STALE else None)
        return cls(
            id=strawberry.ID(str(r["id"])),
            webhook_id=r["webhook_id"],
            order_id=strawberry.ID(str(r["order_id"])) if r["order_id"] else None,
            sequence=r["sequence"],
            requested=r["requested"],
            outcome=outcome,
            reason=reason,
            received_at=dt.datetime.fromisoformat(r["received_at"]),
        )


@strawberry.type
class ProviderDeliveryEdge:
    cursor: str
    node: ProviderDelivery


@strawberry.type
class ProviderDeliveryConnection:
    edges: list[ProviderDeliveryEdge]
    page_info: PageInfo


@strawberry.type
class DeliveriesQuery:
    @strawberry.field(description="Admins only. A provider's deliveries, newest first; filter by outcome.")
    async def provider_deliveries(
        self,
        info: Info[Context, None],
        provider_id: strawberry.ID,
        outcomes: list[DeliveryOutcome] | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> ProviderDeliveryConnection:
        require_admin(info)
        check_page(first, info.context.settings.max_page_size)
        body = {
            "providerId": str(parse_id(provider_id, "providerId")),
            "outcomes": [o.value for o in outcomes or []],
            "first": first,
            "after": after,
        }
        try:
            page = await info.context.call("orders", "POST", "/internal/deliveries/list", json=body)
        except ServiceError as exc:
            raise from_service(exc) from None
        edges = [ProviderDeliveryEdge(cursor=r["cursor"], node=ProviderDelivery.from_row(r)) for r in page["rows"]]
        return ProviderDeliveryConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page["has_next_page"], end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(description="Admins only. Every provider delivery about an order, oldest first.")
    async def order_deliveries(self, info: Info[Context, None], id: strawberry.ID) -> list[ProviderDelivery]:
        require_admin(info)
        oid = parse_id(id, "id")
        rows = await info.context.call("orders", "GET", f"/internal/orders/{oid}/deliveries")
        return [ProviderDelivery.from_row(r) for r in rows]
