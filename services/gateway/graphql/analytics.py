"""The Analytics tab (insights service): series, funnel, metric definitions, event catalogue."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from services.gateway.graphql.context import Context


@strawberry.type(description="An event type the platform knows: its class, what it carries, what it filters by.")
class EventType:
    name: str
    event_class: str = strawberry.field(name="class")
    description: str
    carries_amount: bool
    accepted_from_integrations: bool = strawberry.field(
        description="False for types recorded from the orders service (send orders to POST /v1/orders)."
    )
    funnel_step: int | None
    dimensions: list[str]

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> EventType:
        return cls(
            name=r["name"],
            event_class=r["class"],
            description=r["description"],
            carries_amount=r["carriesAmount"],
            accepted_from_integrations=r["acceptedFromIntegrations"],
            funnel_step=r["funnelStep"],
            dimensions=r["dimensions"],
        )


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="The event catalogue: funnel, behaviour and business event types.")
    async def event_types(self, info: Info[Context, None]) -> list[EventType]:
        return [EventType.from_row(r) for r in await info.context.call("insights", "GET", "/internal/event-types")]
