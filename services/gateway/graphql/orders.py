"""Orders, their commission, the summary header, and manual commission updates."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from services.gateway.clients import ServiceError
from services.gateway.graphql.catalogue import Category, Integration, Product
from services.gateway.graphql.common import DateRangeInput, Money, PageInfo, check_page
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.customers import Customer
from services.gateway.graphql.errors import ErrorCode, PublicError, UserError, from_service, user_errors
from shared.api_contracts import OrderRelation

T = TypeVar("T")


@strawberry.enum(description="Delivery of the order: PENDING awaits the provider's confirmation.")
class OrderStatus(Enum):
    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"


@strawberry.enum(
    description="Commission: NA (shown N/A) unless the order is SUCCESSFUL; then PENDING until the provider pays."
)
class CommStatus(Enum):
    NA = "N/A"
    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"


@strawberry.enum(description="What the customer did: placed an order, or signed up (e.g. for an account).")
class OrderKind(Enum):
    ORDER = "order"
    SIGN_UP = "sign_up"


@strawberry.type
class Order:
    id: strawberry.ID
    external_ref: str
    status: OrderStatus
    comm_status: CommStatus
    commission: Money | None = strawberry.field(
        description="What the order earns: none while its commission status is N/A (the order is not SUCCESSFUL)."
    )
    expected_commission: Money = strawberry.field(
        description="The amount the order earns once successful, whatever its status (shown for N/A orders too)."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    kind: OrderKind
    failure_reason: str | None = strawberry.field(
        description="Why a FAILED order failed (a data capture or delivery problem), as the provider reported it."
    )
    custom_fields: JSON = strawberry.field(
        description='The order\'s custom field values by key (customFields(entity: "order") defines them).'
    )
    customer_id: strawberry.Private[str]
    integration_id: strawberry.Private[str]
    category_id: strawberry.Private[str]
    product_id: strawberry.Private[str]
    # Relations that came with the page (see `orders`); others load through the DataLoaders.
    related: strawberry.Private[dict[OrderRelation, dict[str, Any] | None]] = dataclasses.field(default_factory=dict)

    def _relation(
        self, info: Info[Context, None], relation: OrderRelation, key: str, build: Callable[[dict[str, Any]], T]
    ) -> Any:
        """The related object, synchronously when prefetched (no task per row), else an awaitable."""
        if relation in self.related:
            row = self.related[relation]
            return build(row) if row else None

        async def load() -> T | None:
            row = await info.context.loader("orders", relation.batch_kind).load(key)
            return build(row) if row else None

        return load()

    @strawberry.field(description="Null for provider users: the partner's customers are not theirs to see.")
    def customer(self, info: Info[Context, None]) -> Customer | None:
        if info.context.viewer.role == "provider":
            return None
        return self._relation(info, OrderRelation.CUSTOMER, self.customer_id, Customer.from_row)

    @strawberry.field(description="Null for provider users: the partner's integrations are not theirs to see.")
    def integration(self, info: Info[Context, None]) -> Integration | None:
        if info.context.viewer.role == "provider":
            return None
        return self._relation(info, OrderRelation.INTEGRATION, self.integration_id, Integration.from_row)

    @strawberry.field
    def category(self, info: Info[Context, None]) -> Category | None:
        return self._relation(info, OrderRelation.CATEGORY, self.category_id, Category.from_row)

    @strawberry.field
    def product(self, info: Info[Context, None]) -> Product | None:
        return self._relation(info, OrderRelation.PRODUCT, self.product_id, Product.from_row)

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Order:
        expected = Money(amount=Decimal(r["commission_amount"]), currency=r["currency"])
        return cls(
            id=strawberry.ID(str(r["id"])),
            external_ref=r["external_ref"],
            status=OrderStatus(r["status"]),
            comm_status=CommStatus(r["comm_status"]),
            commission=None if r["comm_status"] == CommStatus.NA.value else expected,
            expected_commission=expected,
            created_at=dt.datetime.fromisoformat(r["created_at"]),
            updated_at=dt.datetime.fromisoformat(r["updated_at"]),
            kind=OrderKind(r["kind"]),
            failure_reason=r["failure_reason"],
            custom_fields=JSON(r.get("custom_fields") or {}),
            customer_id=str(r["customer_id"]),
            integration_id=str(r["integration_id"]),
            category_id=str(r["category_id"]),
            product_id=str(r["product_id"]),
        )


def _selected_names(selections: Iterable[Any]) -> set[str]:
    """Every field name selected anywhere below, through fragments too."""
    names: set[str] = set()
    for sel in selections:
        if isinstance(sel, SelectedField):
            names.add(sel.name)
        names |= _selected_names(getattr(sel, "selections", None) or [])
    return names


@strawberry.type
class CommissionChange:
    from_status: OrderStatus | None
    to_status: OrderStatus
    from_comm_status: CommStatus | None
    to_comm_status: CommStatus
    amount: Money
    source: str = strawberry.field(
        description="integration (the order as sent), provider (a signed webhook), manual (a provider user), "
        "operator (the platform operator acting for the provider), demo."
    )
    actor: str | None
    on_behalf_of_provider_id: strawberry.ID | None = strawberry.field(
        description="For manual and operator changes: the provider the change was made for."
    )
    on_behalf_of_provider_name: str | None
    occurred_at: dt.datetime


@strawberry.type
class OrderEdge:
    cursor: str
    node: Order


@strawberry.type
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo
    filter_json: strawberry.Private[dict[str, Any]] = dataclasses.field(default_factory=dict)

    @strawberry.field
    def nodes(self) -> list[Order]:
        return [e.node for e in self.edges]

    @strawberry.field(
        description="How many orders this filter selects in all (every page): the summary's totalOrders, "
        "read from the daily rollup when the filter allows."
    )
    async def total_count(self, info: Info[Context, None]) -> int:
        try:
            s = await info.context.call("orders", "POST", "/internal/orders/summary", json={"filter": self.filter_json})
        except ServiceError as exc:
            raise from_service(exc) from None
        return int(s["total_orders"])


@strawberry.type(
    description="The Orders header. Every number drills down: `orders` with the same filter lists its rows."
)
class OrdersSummary:
    total_orders: int
    successful_orders: int
    pending_orders: int
    failed_orders: int
    commission_pending: list[Money]
    commission_paid: list[Money]


@strawberry.input
class OrderFilterInput:
    range: DateRangeInput | None = None
    category_ids: list[strawberry.ID] | None = None
    integration_ids: list[strawberry.ID] | None = None
    statuses: list[OrderStatus] | None = None
    comm_statuses: list[CommStatus] | None = None
    customer_id: strawberry.ID | None = None
    search: str | None = strawberry.field(
        default=None,
        description="The start of the integration's order reference, or part of a product or category name.",
    )
    kinds: list[OrderKind] | None = None
    provider_ids: list[strawberry.ID] | None = None
    segment_id: strawberry.ID | None = strawberry.field(default=None, description="Orders of this segment's customers.")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.range:
            out["range"] = self.range.to_json()
        if self.category_ids:
            out["categoryIds"] = [str(parse_id(i, "filter.categoryIds")) for i in self.category_ids]
        if self.integration_ids:
            out["integrationIds"] = [str(parse_id(i, "filter.integrationIds")) for i in self.integration_ids]
        if self.statuses:
            out["statuses"] = [s.value for s in self.statuses]
        if self.comm_statuses:
            out["commStatuses"] = [s.value for s in self.comm_statuses]
        if self.customer_id:
            out["customerId"] = str(parse_id(self.customer_id, "filter.customerId"))
        if self.search:
            out["search"] = self.search
        if self.kinds:
            out["kinds"] = [k.value for k in self.kinds]
        if self.provider_ids:
            out["providerIds"] = [str(parse_id(i, "filter.providerIds")) for i in self.provider_ids]
        if self.segment_id is not None:
            out["segmentId"] = str(parse_id(self.segment_id, "filter.segmentId"))
        return out


@strawberry.type
class CommissionPayload:
    order: Order | None
    changed: bool
    errors: list[UserError]


def _change(r: dict[str, Any]) -> CommissionChange:
    return CommissionChange(
        from_status=OrderStatus(r["from_status"]) if r["from_status"] else None,
        to_status=OrderStatus(r["to_status"]),
        from_comm_status=CommStatus(r["from_comm"]) if r["from_comm"] else None,
        to_comm_status=CommStatus(r["to_comm"]),
        amount=Money(amount=Decimal(r["amount"]), currency=r["currency"]),
        source=r["source"],
        actor=r["actor"],
        on_behalf_of_provider_id=strawberry.ID(str(r["on_behalf_of"])) if r.get("on_behalf_of") else None,
        on_behalf_of_provider_name=r.get("on_behalf_of_name"),
        occurred_at=dt.datetime.fromisoformat(r["occurred_at"]),
    )


@strawberry.type
class OrdersQuery:
    @strawberry.field
    async def orders(
        self,
        info: Info[Context, None],
        filter: OrderFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> OrderConnection:
        check_page(first, info.context.settings.max_page_size)
        # Relations selected anywhere below come with the page (`expand`), one query each in the service
        # (a provider user's orders show no customer or integration: nothing to fetch).
        selected = _selected_names(info.selected_fields)
        if info.context.viewer.role == "provider":
            selected -= {OrderRelation.CUSTOMER.value, OrderRelation.INTEGRATION.value}
        expand = sorted(r.value for r in OrderRelation if r.value in selected)
        filter_json = filter.to_json() if filter else {}
        body = {"filter": filter_json, "first": first, "after": after, "expand": expand}
        try:
            page = await info.context.call("orders", "POST", "/internal/orders/list", json=body)
        except ServiceError as exc:
            raise from_service(exc) from None
        by_id = {OrderRelation(name): {str(r["id"]): r for r in rows} for name, rows in page["related"].items()}
        edges = []
        for r in page["rows"]:
            order = Order.from_row(r)
            order.related = {rel: rows_by_id.get(str(r[f"{rel.value}_id"])) for rel, rows_by_id in by_id.items()}
            edges.append(OrderEdge(cursor=r["cursor"], node=order))
        return OrderConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page["has_next_page"], end_cursor=edges[-1].cursor if edges else None),
            filter_json=filter_json,
        )

    @strawberry.field
    async def order(self, info: Info[Context, None], id: strawberry.ID) -> Order | None:
        row = await info.context.loader("orders", "orders").load(str(parse_id(id, "id")))
        return Order.from_row(row) if row else None

    @strawberry.field(description="Every change of an order's status and commission, oldest first.")
    async def order_history(self, info: Info[Context, None], id: strawberry.ID) -> list[CommissionChange]:
        oid = parse_id(id, "id")
        return [_change(r) for r in await info.context.call("orders", "GET", f"/internal/orders/{oid}/ledger")]

    @strawberry.field
    async def orders_summary(self, info: Info[Context, None], filter: OrderFilterInput | None = None) -> OrdersSummary:
        try:
            s = await info.context.call(
                "orders", "POST", "/internal/orders/summary", json={"filter": filter.to_json() if filter else {}}
            )
        except ServiceError as exc:
            raise from_service(exc) from None
        return OrdersSummary(
            total_orders=s["total_orders"],
            successful_orders=s["successful_orders"],
            pending_orders=s["pending_orders"],
            failed_orders=s["failed_orders"],
            commission_pending=[
                Money(amount=Decimal(m["amount"]), currency=m["currency"]) for m in s["commission_pending"]
            ],
            commission_paid=[Money(amount=Decimal(m["amount"]), currency=m["currency"]) for m in s["commission_paid"]],
        )


@strawberry.type
class OrdersMutation:
    @strawberry.mutation(
        description="Provider users only (the seed: commission is updated by the service provider, through its "
        "webhooks or by hand): confirm a commission of their provider's order as paid (SUCCESSFUL) or correct "
        "a pending amount. The ledger records the change for their provider. Partner admins and members read."
    )
    async def update_commission_status(
        self, info: Info[Context, None], order_id: strawberry.ID, comm_status: CommStatus, amount: Decimal | None = None
    ) -> CommissionPayload:
        if info.context.viewer.role != "provider":
            raise PublicError(
                "commission is updated by the order's provider (its users, its webhooks or the operator acting for "
                "it); partner admins and members read it",
                ErrorCode.FORBIDDEN,
            )
        oid = parse_id(order_id, "orderId")
        body: dict[str, Any] = {"commStatus": comm_status.value}
        if amount is not None:
            body["amount"] = str(amount)
        try:
            result = await info.context.call("orders", "POST", f"/internal/orders/{oid}/commission", json=body)
        except ServiceError as exc:
            return CommissionPayload(order=None, changed=False, errors=user_errors(exc))
        return CommissionPayload(order=Order.from_row(result["order"]), changed=result["changed"], errors=[])
