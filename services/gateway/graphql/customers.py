"""Customers (generic and anonymous), their profile and timeline."""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.common import DateRangeInput, PageInfo, check_page
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.errors import from_service
from services.gateway.graphql.timeline import (
    Device,
    TimelineClass,
    TimelineConnection,
    customer_devices,
    customer_timeline,
)


@strawberry.enum
class CustomerKind(Enum):
    GENERIC = "generic"
    ANONYMOUS = "anonymous"


@strawberry.type(
    description="A generic customer (identified by email) or an anonymous one (shown by a stable word name)."
)
class Customer:
    id: strawberry.ID
    kind: CustomerKind
    email: str | None
    display_name: str
    channel: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    custom_fields: JSON = strawberry.field(
        description='The customer\'s custom field values by key (customFields(entity: "customer") defines them).'
    )
    account_currency: str | None = strawberry.field(
        description="The currency itemised reports show the customer's amounts in; null: the base currency."
    )

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Customer:
        return cls(
            id=strawberry.ID(str(r["id"])),
            kind=CustomerKind(r["kind"]),
            email=r["email"],
            display_name=r["display_name"],
            channel=r["channel"],
            first_seen=dt.datetime.fromisoformat(r["first_seen"]),
            last_seen=dt.datetime.fromisoformat(r["last_seen"]),
            custom_fields=JSON(r.get("custom_fields") or {}),
            account_currency=r.get("account_currency"),
        )


@strawberry.type
class IntegrationVisit:
    integration_id: strawberry.ID
    integration_name: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    visits: int


@strawberry.type(description="What the platform captured about a customer; never data typed into a provider's journey.")
class CustomerProfile(Customer):
    integrations_visited: list[IntegrationVisit]
    orders_count: int
    successful_orders_count: int

    @strawberry.field(
        description="Newest first: the customer's events (funnel, behaviour, business; each visit its own entry)"
        " and the changes of their orders (ORDER), filtered by `classes` (all when left out)."
    )
    async def timeline(
        self,
        info: Info[Context, None],
        first: int = 50,
        after: str | None = None,
        classes: list[TimelineClass] | None = None,
    ) -> TimelineConnection:
        return await customer_timeline(info, str(self.id), first, after, classes)

    @strawberry.field(
        description="The devices the customer's events came from, last seen first (at most MAX_PAGE_SIZE)."
    )
    async def devices(self, info: Info[Context, None]) -> list[Device]:
        return await customer_devices(info, str(self.id))


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo
    filter_json: strawberry.Private[dict[str, Any]] = dataclasses.field(default_factory=dict)

    @strawberry.field
    def nodes(self) -> list[Customer]:
        return [e.node for e in self.edges]

    @strawberry.field(description="How many customers this filter selects in all (every page), counted exactly.")
    async def total_count(self, info: Info[Context, None]) -> int:
        try:
            result = await info.context.call(
                "orders", "POST", "/internal/customers/count", json={"filter": self.filter_json}
            )
        except ServiceError as exc:
            raise from_service(exc) from None
        return int(result["total_count"])


@strawberry.input
class CustomerFilterInput:
    search: str | None = strawberry.field(default=None, description="Prefix of the email or the word name.")
    kind: CustomerKind | None = None
    integration_ids: list[strawberry.ID] | None = None
    range: DateRangeInput | None = strawberry.field(default=None, description="On the last time the customer was seen.")
    segment_id: strawberry.ID | None = strawberry.field(default=None, description="Members of this segment only.")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.search:
            out["search"] = self.search
        if self.kind:
            out["kind"] = self.kind.value
        if self.integration_ids:
            out["integrationIds"] = [str(parse_id(i, "filter.integrationIds")) for i in self.integration_ids]
        if self.range:
            out["range"] = self.range.to_json()
        if self.segment_id is not None:
            out["segmentId"] = str(parse_id(self.segment_id, "filter.segmentId"))
        return out


@strawberry.type
class CustomersQuery:
    @strawberry.field
    async def customers(
        self,
        info: Info[Context, None],
        filter: CustomerFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> CustomerConnection:
        check_page(first, info.context.settings.max_page_size)
        filter_json = filter.to_json() if filter else {}
        body = {"filter": filter_json, "first": first, "after": after}
        try:
            page = await info.context.call("orders", "POST", "/internal/customers/list", json=body)
        except ServiceError as exc:
            raise from_service(exc) from None
        edges = [CustomerEdge(cursor=r["cursor"], node=Customer.from_row(r)) for r in page["rows"]]
        return CustomerConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page["has_next_page"], end_cursor=edges[-1].cursor if edges else None),
            filter_json=filter_json,
        )

    @strawberry.field
    async def customer(self, info: Info[Context, None], id: strawberry.ID) -> CustomerProfile | None:
        cid = parse_id(id, "id")
        try:
            r = await info.context.call("orders", "GET", f"/internal/customers/{cid}")
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise from_service(exc) from None
        base = Customer.from_row(r)
        return CustomerProfile(
            **{
                f: getattr(base, f)
                for f in (
                    "id",
                    "kind",
                    "email",
                    "display_name",
                    "channel",
                    "first_seen",
                    "last_seen",
                    "custom_fields",
                    "account_currency",
                )
            },
            integrations_visited=[
                IntegrationVisit(
                    integration_id=strawberry.ID(str(v["integration_id"])),
                    integration_name=v["integration_name"],
                    first_seen=dt.datetime.fromisoformat(v["first_seen"]),
                    last_seen=dt.datetime.fromisoformat(v["last_seen"]),
                    visits=v["visits"],
                )
                for v in r["visits"]
            ],
            orders_count=r["orders"],
            successful_orders_count=r["successful_orders"],
        )
