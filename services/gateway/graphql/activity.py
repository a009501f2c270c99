"""The activity feed (seed 002): the organisation's newest events across all customers, by type and class.

Pages come from the insights service (keyset, newest first); each event names its customer, loaded from
the orders service (the owner of identity) through the request's DataLoader: one call per page.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.common import PageInfo, check_page
from services.gateway.graphql.context import Context
from services.gateway.graphql.customers import Customer
from services.gateway.graphql.errors import ErrorCode, PublicError, from_service
from services.gateway.graphql.timeline import EVENT_CLASSES, TimelineClass, TimelineEvent, event_fields

MAX_TYPES = 50


@strawberry.type(description="An event of the organisation, with the customer it is about.")
class ActivityEvent(TimelineEvent):
    customer_id: strawberry.ID | None = None

    @strawberry.field
    async def customer(self, info: Info[Context, None]) -> Customer | None:
        if self.customer_id is None:
            return None
        row = await info.context.loader("orders", "customers").load(str(self.customer_id))
        return Customer.from_row(row) if row else None


@strawberry.type
class ActivityEdge:
    cursor: str
    node: ActivityEvent


@strawberry.type(description="A page of the activity feed, newest first.")
class ActivityConnection:
    edges: list[ActivityEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[ActivityEvent]:
        return [e.node for e in self.edges]


@strawberry.input
class ActivityFilterInput:
    types: list[str] | None = strawberry.field(
        default=None, description=f"Event types as eventTypes names them (at most {MAX_TYPES})."
    )
    classes: list[TimelineClass] | None = strawberry.field(
        default=None, description="FUNNEL, BEHAVIOUR or BUSINESS (order changes are on a customer's timeline)."
    )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.types is not None:
            out["types"] = self.types
        if self.classes is not None:
            out["classes"] = [c.value for c in self.classes]
        return out


@strawberry.type
class ActivityQuery:
    @strawberry.field(description="The organisation's newest events across all customers, newest first.")
    async def activity(
        self,
        info: Info[Context, None],
        filter: ActivityFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> ActivityConnection:
        check_page(first, info.context.settings.max_page_size)
        filter_json = filter.to_json() if filter else {}
        if filter and filter.classes and any(c not in EVENT_CLASSES for c in filter.classes):
            raise PublicError(
                "filter.classes: the activity feed holds events: FUNNEL, BEHAVIOUR or BUSINESS",
                ErrorCode.INVALID_INPUT,
                "filter.classes",
            )
        try:
            page = await info.context.call(
                "insights", "POST", "/internal/activity", json={"filter": filter_json, "first": first, "after": after}
            )
        except ServiceError as exc:
            raise from_service(exc) from None
        edges = [
            ActivityEdge(
                cursor=r["cursor"],
                node=ActivityEvent(
                    **event_fields(r), customer_id=strawberry.ID(str(r["customer_id"])) if r["customer_id"] else None
                ),
            )
            for r in page["rows"]
        ]
        return ActivityConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page["has_next_page"], end_cursor=edges[-1].cursor if edges else None),
        )
