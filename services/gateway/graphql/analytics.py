"""The Analytics tab (insights service): series, funnel, metric definitions, the rows behind every number,
and the event catalogue.

Every number drills down: a series point's customers (`analyticsCustomers`), visits (`analyticsVisits`)
and orders (`analyticsOrders`, from the insights copy of the orders; for a daily point `orders` with the same
categories, integrations and that day as range lists the same orders), and a funnel step's customers
(`funnelCustomers`), each with a `totalCount` equal to the number. Category and integration ids that are not
the organisation's are refused here, naming the field (the insights service does not own the catalogue).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.catalogue import Integration
from services.gateway.graphql.common import DateRangeInput, Money, PageInfo, check_page
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.customers import Customer
from services.gateway.graphql.errors import ErrorCode, PublicError, from_service
from services.gateway.graphql.orders import CommStatus, Order, OrderStatus

MAX_FILTER_IDS = 100


@strawberry.type(description="A field of a business event type, sent under the event's `fields`.")
class BusinessField:
    name: str
    kind: str = strawberry.field(description="text, number, date (YYYY-MM-DD) or enum (one of `values`).")
    description: str
    values: list[str]
    required: bool
    filterable: bool
    breakdown: bool = strawberry.field(description="Whether insights can break down by it (numbers cannot).")


@strawberry.type(description="What a business event type carries and when it counts in insights.")
class BusinessEventSpec:
    states: list[str]
    count_rule: str = strawberry.field(
        description="final: an entity counts once, at its first event in a final state; logged: once per state, "
        "when logged (activities, service requests, passes, leads, stock movements)."
    )
    final_states: list[str]
    count_rule_text: str
    amount: str | None = strawberry.field(description="What the amount is, for types that carry one.")
    line_items: bool
    fields: list[BusinessField]


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
    business: BusinessEventSpec | None = strawberry.field(
        description="Business events (seed 002): states, the rule that makes one count, and the type's fields."
    )

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> EventType:
        b = r.get("business")
        return cls(
            name=r["name"],
            event_class=r["class"],
            description=r["description"],
            carries_amount=r["carriesAmount"],
            accepted_from_integrations=r["acceptedFromIntegrations"],
            funnel_step=r["funnelStep"],
            dimensions=r["dimensions"],
            business=None
            if b is None
            else BusinessEventSpec(
                states=b["states"],
                count_rule=b["countRule"],
                final_states=b["finalStates"],
                count_rule_text=b["countRuleText"],
                amount=b["amount"],
                line_items=b["lineItems"],
                fields=[
                    BusinessField(
                        name=f["name"],
                        kind=f["kind"],
                        description=f["description"],
                        values=f["values"],
                        required=f["required"],
                        filterable=f["filterable"],
                        breakdown=f["breakdown"],
                    )
                    for f in b["fields"]
                ],
            ),
        )


@strawberry.enum(description="One point per hour for ranges of up to 2 days, else one per organisation-local day.")
class SeriesGranularity(Enum):
    HOUR = "HOUR"
    DAY = "DAY"


@strawberry.enum(description="A series of the Analytics tab; `metricDefinitions` says what each counts.")
class AnalyticsMetric(Enum):
    NEW_CUSTOMERS = "NEW_CUSTOMERS"
    RETURNING_CUSTOMERS = "RETURNING_CUSTOMERS"
    VISITS = "VISITS"
    ORDERS_CREATED = "ORDERS_CREATED"
    SUCCESSFUL_ORDERS = "SUCCESSFUL_ORDERS"
    COMMISSION_PENDING = "COMMISSION_PENDING"
    COMMISSION_PAID = "COMMISSION_PAID"


_CUSTOMER_METRICS = {AnalyticsMetric.NEW_CUSTOMERS, AnalyticsMetric.RETURNING_CUSTOMERS}
_ORDER_METRICS = {
    AnalyticsMetric.ORDERS_CREATED,
    AnalyticsMetric.SUCCESSFUL_ORDERS,
    AnalyticsMetric.COMMISSION_PENDING,
    AnalyticsMetric.COMMISSION_PAID,
}


@strawberry.input(
    description="The Analytics tab's filter: a range (required), and optionally categories and integrations."
)
class AnalyticsFilterInput:
    range: DateRangeInput
    category_ids: list[strawberry.ID] | None = None
    integration_ids: list[strawberry.ID] | None = None
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Customers of this segment only (their visits, orders and funnel)."
    )

    async def to_json(self, info: Info[Context, None]) -> dict[str, Any]:
        """The filter as the insights service takes it, once every id is known to be the organisation's."""
        out: dict[str, Any] = {"range": self.range.to_json()}
        if self.segment_id is not None:
            out["segmentId"] = str(parse_id(self.segment_id, "filter.segmentId"))
        for name, ids, kind in (
            ("categoryIds", self.category_ids, "categories"),
            ("integrationIds", self.integration_ids, "integrations"),
        ):
            if not ids:
                continue
            field = f"filter.{name}"
            if len(ids) > MAX_FILTER_IDS:
                raise PublicError(f"{field}: at most {MAX_FILTER_IDS} ids", ErrorCode.INVALID_INPUT, field)
            parsed = [str(parse_id(i, field)) for i in ids]
            rows = await info.context.loader("orders", kind).load_many(parsed)
            for i, (value, row) in enumerate(zip(parsed, rows, strict=True)):
                if row is None:
                    raise PublicError(
                        f"{field}[{i}]: {value} is not one of this organisation's {kind}",
                        ErrorCode.INVALID_INPUT,
                        field,
                    )
            out[name] = parsed
        return out


def _money(items: list[dict[str, Any]]) -> list[Money]:
    return [Money(amount=Decimal(m["amount"]), currency=m["currency"]) for m in items]


@strawberry.type(description="One bucket of the series: [start, end) in UTC, within the organisation-local `day`.")
class AnalyticsPoint:
    start: dt.datetime = strawberry.field(description="Pass it as `bucket` to list the rows behind this point.")
    end: dt.datetime
    day: dt.date
    new_customers: int
    returning_customers: int
    visits: int
    orders_created: int
    successful_orders: int
    commission_pending: list[Money]
    commission_paid: list[Money]

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> AnalyticsPoint:
        return cls(
            start=dt.datetime.fromisoformat(r["start"]),
            end=dt.datetime.fromisoformat(r["end"]),
            day=dt.date.fromisoformat(r["day"]),
            new_customers=r["newCustomers"],
            returning_customers=r["returningCustomers"],
            visits=r["visits"],
            orders_created=r["ordersCreated"],
            successful_orders=r["successfulOrders"],
            commission_pending=_money(r["commissionPending"]),
            commission_paid=_money(r["commissionPaid"]),
        )


@strawberry.type(description="The series of the range, every bucket present (zeros where nothing happened).")
class Analytics:
    from_: dt.date = strawberry.field(name="from")
    to: dt.date
    time_zone: str
    granularity: SeriesGranularity
    points: list[AnalyticsPoint]


@strawberry.type(
    description="What a number of the Analytics tab means: the tooltip text, served so none is hard-coded."
)
class MetricDefinition:
    key: str
    label: str
    description: str
    unit: str = strawberry.field(description="COUNT, MONEY (per currency), RATIO or SECONDS.")
    drill_down: str | None = strawberry.field(
        description="CUSTOMERS, VISITS or ORDERS: the list behind the number (none for ratios and medians)."
    )


@strawberry.type
class FunnelStep:
    step: int
    key: str = strawberry.field(description="The step's `metricDefinitions` key.")
    name: str
    customers: int
    conversion_from_previous: float | None
    conversion_from_first: float | None
    median_seconds_from_previous: float | None = strawberry.field(
        description="Median time between the first occurrences of the previous step and this one."
    )


@strawberry.type(description="Distinct customers reaching each step in order within the range.")
class Funnel:
    from_: dt.date = strawberry.field(name="from")
    to: dt.date
    steps: list[FunnelStep]


@strawberry.type
class AnalyticsCustomerEdge:
    cursor: str
    at: dt.datetime = strawberry.field(
        description="For a funnel step: when the customer first did it. For an hourly point: their first matching "
        "event in it. For a daily point: the day's start."
    )
    customer_id: strawberry.ID

    @strawberry.field
    async def node(self, info: Info[Context, None]) -> Customer | None:
        row = await info.context.loader("orders", "customers").load(str(self.customer_id))
        return Customer.from_row(row) if row else None


@strawberry.type
class AnalyticsCustomerConnection:
    edges: list[AnalyticsCustomerEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Equals the number drilled into.")


@strawberry.type(description="A visit event.")
class Visit:
    id: strawberry.ID
    occurred_at: dt.datetime
    customer_id: strawberry.ID
    integration_id: strawberry.ID
    device_id: str | None

    @strawberry.field
    async def customer(self, info: Info[Context, None]) -> Customer | None:
        row = await info.context.loader("orders", "customers").load(str(self.customer_id))
        return Customer.from_row(row) if row else None

    @strawberry.field
    async def integration(self, info: Info[Context, None]) -> Integration | None:
        row = await info.context.loader("orders", "integrations").load(str(self.integration_id))
        return Integration.from_row(row) if row else None


@strawberry.type
class VisitEdge:
    cursor: str
    node: Visit


@strawberry.type
class VisitConnection:
    edges: list[VisitEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Equals the point's visits (raw events are kept 90 days).")


@strawberry.type(description="An order behind an orders point, as the insights copy has it, with the order itself.")
class AnalyticsOrderEdge:
    cursor: str
    order_id: strawberry.ID
    created_at: dt.datetime
    status: OrderStatus
    comm_status: CommStatus
    commission: Money = strawberry.field(description="The amount a commission point sums (per currency).")

    @strawberry.field
    async def node(self, info: Info[Context, None]) -> Order | None:
        row = await info.context.loader("orders", "orders").load(str(self.order_id))
        return Order.from_row(row) if row else None


@strawberry.type
class AnalyticsOrderConnection:
    edges: list[AnalyticsOrderEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Equals the point's orders (the orders summed, for commission).")


def _page_info(rows: list[dict[str, Any]], more: bool) -> PageInfo:
    return PageInfo(has_next_page=more, end_cursor=rows[-1]["cursor"] if rows else None)


async def _call(info: Info[Context, None], method: str, path: str, **kw: Any) -> Any:
    try:
        return await info.context.call("insights", method, path, **kw)
    except ServiceError as exc:
        raise from_service(exc) from None


async def _point_rows(
    info: Info[Context, None],
    filter: AnalyticsFilterInput,
    metric: AnalyticsMetric,
    bucket: dt.datetime,
    first: int,
    after: str | None,
) -> dict[str, Any]:
    check_page(first, info.context.settings.max_page_size)
    body = {
        "filter": await filter.to_json(info),
        "metric": metric.value,
        "bucket": bucket.isoformat(),
        "first": first,
        "after": after,
    }
    result: dict[str, Any] = await _call(info, "POST", "/internal/analytics/rows", json=body)
    return result


def _customers(page: dict[str, Any]) -> AnalyticsCustomerConnection:
    rows = page["rows"]
    return AnalyticsCustomerConnection(
        edges=[
            AnalyticsCustomerEdge(
                cursor=r["cursor"], at=dt.datetime.fromisoformat(r["at"]), customer_id=strawberry.ID(str(r["id"]))
            )
            for r in rows
        ],
        page_info=_page_info(rows, page["has_next_page"]),
        total_count=page["total_count"],
    )


def _kind(metric: AnalyticsMetric, allowed: set[AnalyticsMetric], where: str) -> None:
    if metric not in allowed:
        raise PublicError(f"metric: {metric.value} is not listed by {where}", ErrorCode.INVALID_INPUT, "metric")


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="The event catalogue: funnel, behaviour and business event types.")
    async def event_types(self, info: Info[Context, None]) -> list[EventType]:
        return [EventType.from_row(r) for r in await info.context.call("insights", "GET", "/internal/event-types")]

    @strawberry.field(
        description="The Analytics series: new and returning customers, visits, orders and commission per point "
        "(hourly up to 2 days, else daily, in the organisation's time zone). Orders figures equal `ordersSummary` "
        "for the same range, categories and integrations."
    )
    async def analytics(self, info: Info[Context, None], filter: AnalyticsFilterInput) -> Analytics:
        r = await _call(info, "POST", "/internal/analytics/series", json={"filter": await filter.to_json(info)})
        return Analytics(
            from_=dt.date.fromisoformat(r["from"]),
            to=dt.date.fromisoformat(r["to"]),
            time_zone=r["timeZone"],
            granularity=SeriesGranularity(r["granularity"]),
            points=[AnalyticsPoint.from_row(p) for p in r["points"]],
        )

    @strawberry.field(description="What each Analytics number and funnel step means (tooltips).")
    async def metric_definitions(self, info: Info[Context, None]) -> list[MetricDefinition]:
        rows = await _call(info, "GET", "/internal/analytics/metrics")
        return [
            MetricDefinition(
                key=r["key"], label=r["label"], description=r["description"], unit=r["unit"], drill_down=r["drillDown"]
            )
            for r in rows
        ]

    @strawberry.field(
        description="The user funnel of the range: visit → journey started → product viewed → "
        "order started → order placed → order successful."
    )
    async def funnel(self, info: Info[Context, None], filter: AnalyticsFilterInput) -> Funnel:
        r = await _call(info, "POST", "/internal/analytics/funnel", json={"filter": await filter.to_json(info)})
        return Funnel(
            from_=dt.date.fromisoformat(r["from"]),
            to=dt.date.fromisoformat(r["to"]),
            steps=[
                FunnelStep(
                    step=s["step"],
                    key=s["key"],
                    name=s["name"],
                    customers=s["customers"],
                    conversion_from_previous=s["conversionFromPrevious"],
                    conversion_from_first=s["conversionFromFirst"],
                    median_seconds_from_previous=s["medianSecondsFromPrevious"],
                )
                for s in r["steps"]
            ],
        )

    @strawberry.field(
        description="The customers behind a NEW_CUSTOMERS or RETURNING_CUSTOMERS point (`bucket`: "
        "the point's `start`); `totalCount` equals the point."
    )
    async def analytics_customers(
        self,
        info: Info[Context, None],
        filter: AnalyticsFilterInput,
        metric: AnalyticsMetric,
        bucket: dt.datetime,
        first: int = 50,
        after: str | None = None,
    ) -> AnalyticsCustomerConnection:
        _kind(metric, _CUSTOMER_METRICS, "analyticsCustomers (NEW_CUSTOMERS, RETURNING_CUSTOMERS)")
        return _customers(await _point_rows(info, filter, metric, bucket, first, after))

    @strawberry.field(description="The visit events behind a VISITS point (`bucket`: the point's `start`).")
    async def analytics_visits(
        self,
        info: Info[Context, None],
        filter: AnalyticsFilterInput,
        bucket: dt.datetime,
        first: int = 50,
        after: str | None = None,
    ) -> VisitConnection:
        page = await _point_rows(info, filter, AnalyticsMetric.VISITS, bucket, first, after)
        rows = page["rows"]
        return VisitConnection(
            edges=[
                VisitEdge(
                    cursor=r["cursor"],
                    node=Visit(
                        id=strawberry.ID(str(r["id"])),
                        occurred_at=dt.datetime.fromisoformat(r["at"]),
                        customer_id=strawberry.ID(str(r["customer_id"])),
                        integration_id=strawberry.ID(str(r["integration_id"])),
                        device_id=r["device_id"],
                    ),
                )
                for r in rows
            ],
            page_info=_page_info(rows, page["has_next_page"]),
            total_count=page["total_count"],
        )

    @strawberry.field(
        description="The orders behind an orders or commission point (`bucket`: the point's "
        "`start`); `totalCount` equals an orders point, and commission points are the sum per currency."
    )
    async def analytics_orders(
        self,
        info: Info[Context, None],
        filter: AnalyticsFilterInput,
        metric: AnalyticsMetric,
        bucket: dt.datetime,
        first: int = 50,
        after: str | None = None,
    ) -> AnalyticsOrderConnection:
        _kind(metric, _ORDER_METRICS, "analyticsOrders (ORDERS_CREATED, SUCCESSFUL_ORDERS, COMMISSION_*)")
        page = await _point_rows(info, filter, metric, bucket, first, after)
        rows = page["rows"]
        return AnalyticsOrderConnection(
            edges=[
                AnalyticsOrderEdge(
                    cursor=r["cursor"],
                    order_id=strawberry.ID(str(r["id"])),
                    created_at=dt.datetime.fromisoformat(r["at"]),
                    status=OrderStatus(r["status"]),
                    comm_status=CommStatus(r["comm_status"]),
                    commission=Money(amount=Decimal(r["amount"]), currency=r["currency"].strip()),
                )
                for r in rows
            ],
            page_info=_page_info(rows, page["has_next_page"]),
            total_count=page["total_count"],
        )

    @strawberry.field(
        description="The customers counted at a funnel step (1 visit … 6 order successful), latest to "
        "reach it first; `totalCount` equals the step's customers."
    )
    async def funnel_customers(
        self,
        info: Info[Context, None],
        filter: AnalyticsFilterInput,
        step: int,
        first: int = 50,
        after: str | None = None,
    ) -> AnalyticsCustomerConnection:
        check_page(first, info.context.settings.max_page_size)
        body = {"filter": await filter.to_json(info), "step": step, "first": first, "after": after}
        return _customers(await _call(info, "POST", "/internal/analytics/funnel/customers", json=body))
