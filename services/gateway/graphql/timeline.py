"""A customer's timeline: the insights service's events merged with the orders service's order changes.

Two keyset streams, each in its own service (events in insights, the commission ledger in orders), are
merged here by the order and cursors of `shared.service.merged_pages`: each service is asked, at once, for
a page after the client's cursor, and the newest `first` of both answers make the page. The gateway is
the one place that composes services, so neither service reads the other on this path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.catalogue import Integration, Product
from services.gateway.graphql.common import Money, PageInfo, check_page
from services.gateway.graphql.context import Context
from services.gateway.graphql.errors import ErrorCode, PublicError, from_service
from shared.service.merged_pages import merge_newest_first


@strawberry.enum(description="What a timeline entry is: an event of a class, or a change of an order.")
class TimelineClass(Enum):
    FUNNEL = "funnel"
    BEHAVIOUR = "behaviour"
    BUSINESS = "business"
    ORDER = "order"


EVENT_CLASSES = (TimelineClass.FUNNEL, TimelineClass.BEHAVIOUR, TimelineClass.BUSINESS)


@strawberry.type(description="A device a customer's events came from (as the integration reported it).")
class Device:
    device_id: str
    platform: str | None
    user_agent: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Device:
        return cls(
            device_id=r["device_id"],
            platform=r["platform"],
            user_agent=r["user_agent"],
            first_seen=dt.datetime.fromisoformat(r["first_seen"]),
            last_seen=dt.datetime.fromisoformat(r["last_seen"]),
        )


def _id(value: Any) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


@strawberry.type(
    description="An entry of a customer's timeline: an event (funnel, behaviour, business) or a change"
    " of one of their orders (status or commission, from the commission ledger)."
)
class TimelineEvent:
    id: strawberry.ID = strawberry.field(description="The event's id, or the ledger entry's for ORDER entries.")
    at: dt.datetime
    kind: str = strawberry.field(
        description="The event type upper-cased (VISIT, PRODUCT_VIEWED, ORDER_PLACED, ...), or for ORDER entries"
        " ORDER_<STATUS> (the order's status moved) or COMMISSION_<STATUS> (its commission status moved)."
    )
    type: str | None = strawberry.field(description="The event type as eventTypes names it; null for ORDER entries.")
    entry_class: TimelineClass = strawberry.field(name="class")
    integration_id: strawberry.ID | None
    order_id: strawberry.ID | None
    product_id: strawberry.ID | None
    amount: Money | None = strawberry.field(
        description="The event's amount, or for ORDER entries the order's commission at that change."
    )
    properties: JSON | None = strawberry.field(description="The event's properties; null for ORDER entries.")
    device: Device | None
    source: str | None = strawberry.field(
        description="ORDER entries: who made the change (provider, manual, operator, integration, demo)."
    )
    product_name: strawberry.Private[str | None] = None

    @strawberry.field(description="What the entry is about, by name: its product's, else its integration's.")
    async def detail(self, info: Info[Context, None]) -> str | None:
        if self.product_name is not None:
            return self.product_name
        if self.product_id is not None:
            row = await info.context.loader("orders", "products").load(str(self.product_id))
            if row:
                return str(row["name"])
        if self.integration_id is not None:
            row = await info.context.loader("orders", "integrations").load(str(self.integration_id))
            if row:
                return str(row["name"])
        return None

    @strawberry.field
    async def product(self, info: Info[Context, None]) -> Product | None:
        if self.product_id is None:
            return None
        row = await info.context.loader("orders", "products").load(str(self.product_id))
        return Product.from_row(row) if row else None

    @strawberry.field
    async def integration(self, info: Info[Context, None]) -> Integration | None:
        if self.integration_id is None:
            return None
        row = await info.context.loader("orders", "integrations").load(str(self.integration_id))
        return Integration.from_row(row) if row else None


ORDER_STEP_TYPES = frozenset({"order_placed", "order_successful"})
"""Funnel events recorded from the orders service, one per order step (their entity is the order)."""


def event_fields(r: dict[str, Any]) -> dict[str, Any]:
    """The TimelineEvent fields of an event row of the insights service (timeline and activity alike)."""
    at = dt.datetime.fromisoformat(r["occurred_at"])
    device = None
    if r.get("device_id") is not None:
        device = Device(
            device_id=r["device_id"],
            platform=r.get("device_platform"),
            user_agent=r.get("device_user_agent"),
            first_seen=dt.datetime.fromisoformat(r["device_first_seen"]) if r.get("device_first_seen") else at,
            last_seen=dt.datetime.fromisoformat(r["device_last_seen"]) if r.get("device_last_seen") else at,
        )
    return {
        "id": strawberry.ID(str(r["id"])),
        "at": at,
        "kind": r["type"].upper(),
        "type": r["type"],
        "entry_class": TimelineClass(r["class"]),
        "integration_id": _id(r["integration_id"]),
        # The funnel's order steps are keyed by their order (entity_id): the entry links to it.
        "order_id": _id(r.get("entity_id")) if r["type"] in ORDER_STEP_TYPES else None,
        "product_id": _id(r["product_id"]),
        "amount": Money(amount=Decimal(r["amount"]), currency=r["currency"]) if r["amount"] is not None else None,
        "properties": r["properties"],
        "device": device,
        "source": None,
    }


def _ledger_entry(r: dict[str, Any]) -> TimelineEvent:
    return TimelineEvent(
        id=strawberry.ID(str(r["id"])),
        at=dt.datetime.fromisoformat(r["occurred_at"]),
        kind=r["entry"],
        type=None,
        entry_class=TimelineClass.ORDER,
        integration_id=_id(r["integration_id"]),
        order_id=_id(r["order_id"]),
        product_id=_id(r["product_id"]),
        amount=Money(amount=Decimal(r["amount"]), currency=r["currency"]),
        properties=None,
        device=None,
        source=r["source"],
        product_name=r["product_name"],
    )


@strawberry.type
class TimelineEdge:
    cursor: str
    node: TimelineEvent


@strawberry.type(description="A page of a customer's timeline, newest first.")
class TimelineConnection:
    edges: list[TimelineEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[TimelineEvent]:
        return [e.node for e in self.edges]


async def customer_timeline(
    info: Info[Context, None], customer_id: str, first: int, after: str | None, classes: list[TimelineClass] | None
) -> TimelineConnection:
    """One page of the customer's timeline (a customer the orders service has already resolved)."""
    check_page(first, info.context.settings.max_page_size)
    if classes is not None and not classes:
        raise PublicError(
            "classes: give at least one class, or leave it out for all", ErrorCode.INVALID_INPUT, "classes"
        )
    wanted = set(classes) if classes is not None else set(TimelineClass)
    event_classes = sorted(c.value for c in EVENT_CLASSES if c in wanted)
    page = {"first": first, "after": after}
    calls: dict[str, Any] = {}
    if event_classes:
        body = {**page, "classes": event_classes if len(event_classes) < len(EVENT_CLASSES) else None}
        calls["event"] = info.context.call("insights", "POST", f"/internal/customers/{customer_id}/timeline", json=body)
    if TimelineClass.ORDER in wanted:
        calls["order"] = info.context.call("orders", "POST", f"/internal/customers/{customer_id}/ledger", json=page)
    answers = await asyncio.gather(*calls.values(), return_exceptions=True)
    pages: dict[str, dict[str, Any]] = {}
    for kind, answer in zip(calls, answers, strict=True):
        if isinstance(answer, ServiceError):
            raise from_service(answer) from None
        if isinstance(answer, BaseException):
            raise answer
        pages[kind] = answer
    rows = merge_newest_first(
        [(kind, p["rows"]) for kind, p in pages.items()],
        at=lambda r: dt.datetime.fromisoformat(r["occurred_at"]),
        first=first,
    )
    more = any(p["has_next_page"] for p in pages.values()) or sum(len(p["rows"]) for p in pages.values()) > first
    edges = [
        TimelineEdge(
            cursor=r["cursor"],
            node=_ledger_entry(r) if r["kind"] == "order" else TimelineEvent(**event_fields(r)),
        )
        for r in rows
    ]
    return TimelineConnection(
        edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None)
    )


async def customer_devices(info: Info[Context, None], customer_id: str) -> list[Device]:
    rows = await info.context.call("insights", "GET", f"/internal/customers/{customer_id}/devices")
    return [Device.from_row(r) for r in rows]
