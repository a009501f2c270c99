"""The insights builder (seed 002): `insight(input)` answers a question about one event type, and
`insightEvents` lists the events behind any cell of the answer (its `totalCount` equals the cell).

The input travels to the insights service as JSON (`InsightInput.to_json`), which validates it and names
the field of any error (`input.breakdowns[1]`, `input.filters[0].operator`); ids in filters that are not
the organisation's simply match nothing (no other organisation's events are ever read).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway.graphql.analytics import _call
from services.gateway.graphql.common import DateRangeInput, PageInfo, check_page
from services.gateway.graphql.context import Context, parse_id


@strawberry.enum(description="COUNT of events; TOTAL_AMOUNT / AVERAGE_AMOUNT for types that carry an amount.")
class InsightMeasure(Enum):
    COUNT = "COUNT"
    TOTAL_AMOUNT = "TOTAL_AMOUNT"
    AVERAGE_AMOUNT = "AVERAGE_AMOUNT"
    UNIQUE_CUSTOMERS = "UNIQUE_CUSTOMERS"


@strawberry.enum
class InsightOperator(Enum):
    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    IN = "IN"
    CONTAINS = "CONTAINS"
    GREATER_THAN = "GREATER_THAN"
    LESS_THAN = "LESS_THAN"
    IS_SET = "IS_SET"


@strawberry.enum(description="Buckets in the organisation's time zone; weeks start on Monday.")
class InsightInterval(Enum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@strawberry.enum(description="How the answer is drawn (BAR by default); the numbers are the same for each.")
class InsightChartType(Enum):
    BAR = "BAR"
    LIST = "LIST"
    TABLE = "TABLE"
    STACKED_BAR = "STACKED_BAR"
    PIE = "PIE"
    LINE = "LINE"


@strawberry.input(
    description="A filter: a field of the event type (`eventTypes`: integrationId, categoryId, productId, channel, "
    "currency, state, entityId, fields.<name>, item.productId, customer.id, customer.accountCurrency, "
    "customer.firstSeenMonth, customer.isNew, properties.<key>, custom.<key>), an operator and its values."
)
class InsightFilterInput:
    field: str
    operator: InsightOperator
    values: list[str] = strawberry.field(
        default_factory=list, description="One value (IN: several; IS_SET: none, or 'false' for not set)."
    )

    def to_json(self) -> dict[str, Any]:
        values: list[Any] = list(self.values)
        if self.operator is InsightOperator.IS_SET:
            values = [v.lower() != "false" for v in values]
        return {"field": self.field, "operator": self.operator.value, "values": values}


@strawberry.input(description="An insight: an event type, a measure, filters, up to 3 breakdowns, a range.")
class InsightInput:
    event_type: str
    range: DateRangeInput
    measure: InsightMeasure = InsightMeasure.COUNT
    filters: list[InsightFilterInput] = strawberry.field(default_factory=list)
    breakdowns: list[str] = strawberry.field(
        default_factory=list, description="Up to 3 fields; item.productId counts an event in each of its products."
    )
    interval: InsightInterval = InsightInterval.DAY
    chart_type: InsightChartType = InsightChartType.BAR
    top: int = strawberry.field(default=25, description="Series returned (1-500), largest first.")
    breakdown_offset: int = strawberry.field(default=0, description="Series skipped: page the rest.")
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Events of this segment's customers only (read from raw events: 90 days)."
    )
    currency: str | None = strawberry.field(
        default=None, description="BASE: amounts converted to the organisation's base currency (rates listed)."
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "eventType": self.event_type,
            "range": self.range.to_json(),
            "measure": self.measure.value,
            "filters": [f.to_json() for f in self.filters],
            "breakdowns": list(self.breakdowns),
            "interval": self.interval.value,
            "chartType": self.chart_type.value,
            "top": self.top,
            "breakdownOffset": self.breakdown_offset,
            **({"currency": self.currency} if self.currency is not None else {}),
            **({"segmentId": str(parse_id(self.segment_id, "input.segmentId"))} if self.segment_id else {}),
        }


@strawberry.type
class InsightBucket:
    start: dt.datetime = strawberry.field(description="Pass it as `bucket` to list the events behind a point.")
    end: dt.datetime
    label: str
    partial: bool = strawberry.field(
        description="Part of the bucket is older than raw events are kept (90 days) and the answer needs them."
    )


@strawberry.type(description="A value per currency (currency null for counts).")
class InsightTotal:
    currency: str | None
    value: JSON = strawberry.field(description="A count, or an amount as a decimal string; null when unknown.")


@strawberry.type(description="One breakdown combination (and currency, for amounts not converted).")
class InsightSeries:
    rank: int
    values: list[str | None] = strawberry.field(description="The breakdown values, in order (null: not set).")
    currency: str | None
    points: list[JSON] = strawberry.field(description="One per bucket, in order.")
    total: JSON


@strawberry.type(description="The series outside the page: how many, and their combined measure.")
class InsightOthers:
    series: int
    total: list[InsightTotal]


@strawberry.type
class InsightDistinctEvents:
    currency: str | None
    events: int
    amount: str | None


@strawberry.type(description="A rate used to convert: units of the base currency per 1 unit of `currency`.")
class InsightRate:
    currency: str
    day: dt.date = strawberry.field(description="The local date of the amounts converted.")
    rate_date: dt.date = strawberry.field(description="The ECB reference date used (the day, or up to 7 before).")
    rate: str


@strawberry.type
class InsightAnswer:
    event_type: str
    measure: InsightMeasure
    interval: InsightInterval
    chart_type: InsightChartType
    time_zone: str
    from_: dt.date = strawberry.field(name="from")
    to: dt.date
    breakdowns: list[str]
    currency: str | None
    base_currency: str | None
    source: str = strawberry.field(description="rollups (25 months kept) or events (90 days of raw events).")
    buckets: list[InsightBucket]
    series: list[InsightSeries]
    total_series: int
    top: int
    offset: int
    total: list[InsightTotal] = strawberry.field(description="The overall total per currency.")
    others: InsightOthers
    line_items: bool = strawberry.field(
        description="A breakdown by line-item product: an event counts in each of its products' series."
    )
    distinct_events: list[InsightDistinctEvents] | None
    rates: list[InsightRate]
    data_available_from: dt.datetime | None

    @classmethod
    def from_json(cls, r: dict[str, Any]) -> InsightAnswer:
        def totals(items: list[dict[str, Any]]) -> list[InsightTotal]:
            return [InsightTotal(currency=t["currency"], value=t["value"]) for t in items]

        return cls(
            event_type=r["eventType"],
            measure=InsightMeasure(r["measure"]),
            interval=InsightInterval(r["interval"]),
            chart_type=InsightChartType(r["chartType"]),
            time_zone=r["timeZone"],
            from_=dt.date.fromisoformat(r["from"]),
            to=dt.date.fromisoformat(r["to"]),
            breakdowns=r["breakdowns"],
            currency=r["currency"],
            base_currency=r["baseCurrency"],
            source=r["source"],
            buckets=[
                InsightBucket(
                    start=dt.datetime.fromisoformat(b["start"]),
                    end=dt.datetime.fromisoformat(b["end"]),
                    label=b["label"],
                    partial=b["partial"],
                )
                for b in r["buckets"]
            ],
            series=[
                InsightSeries(
                    rank=s["rank"], values=s["values"], currency=s["currency"], points=s["points"], total=s["total"]
                )
                for s in r["series"]
            ],
            total_series=r["totalSeries"],
            top=r["top"],
            offset=r["offset"],
            total=totals(r["total"]),
            others=InsightOthers(series=r["others"]["series"], total=totals(r["others"]["total"])),
            line_items=r["lineItems"],
            distinct_events=None
            if r["distinctEvents"] is None
            else [InsightDistinctEvents(**d) for d in r["distinctEvents"]],
            rates=[
                InsightRate(
                    currency=x["currency"],
                    day=dt.date.fromisoformat(x["day"]),
                    rate_date=dt.date.fromisoformat(x["rateDate"]),
                    rate=x["rate"],
                )
                for x in r["rates"]
            ],
            data_available_from=dt.datetime.fromisoformat(r["dataAvailableFrom"]) if r["dataAvailableFrom"] else None,
        )


@strawberry.type(description="An event as stored: its type's fields, state and whether it counts.")
class InsightEvent:
    id: strawberry.ID
    source_key: str = strawberry.field(description="The integration's event id.")
    type: str
    occurred_at: dt.datetime
    customer_id: strawberry.ID | None
    integration_id: strawberry.ID | None
    category_id: strawberry.ID | None
    product_id: strawberry.ID | None
    channel: str | None
    entity_id: str | None
    state: str | None
    amount: str | None
    currency: str | None
    items: JSON | None
    fields: JSON | None
    custom_fields: JSON | None
    properties: JSON | None


@strawberry.type
class InsightEventConnection:
    events: list[InsightEvent]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Equals the cell drilled into.")


@strawberry.type
class InsightsQuery:
    @strawberry.field(
        description="An insight's answer: one series per breakdown combination (and currency), the largest "
        "`top` first, with the rest counted in `others` and pageable."
    )
    async def insight(self, info: Info[Context, None], input: InsightInput) -> InsightAnswer:
        r = await _call(info, "POST", "/internal/insights/answer", json={"input": input.to_json()})
        return InsightAnswer.from_json(r)

    @strawberry.field(description="The events behind one cell of an insight (bucket x series).")
    async def insight_events(
        self,
        info: Info[Context, None],
        input: InsightInput,
        bucket: dt.datetime,
        values: list[str | None] | None = None,
        currency: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> InsightEventConnection:
        check_page(first, info.context.settings.max_page_size)
        body = {
            "input": input.to_json(),
            "bucket": bucket.isoformat(),
            "values": list(values or []),
            "currency": currency,
            "first": first,
            "after": after,
        }
        r = await _call(info, "POST", "/internal/insights/events", json=body)
        return InsightEventConnection(
            events=[
                InsightEvent(
                    id=strawberry.ID(e["id"]),
                    source_key=e["sourceKey"],
                    type=e["type"],
                    occurred_at=dt.datetime.fromisoformat(e["occurredAt"]),
                    customer_id=e["customerId"],
                    integration_id=e["integrationId"],
                    category_id=e["categoryId"],
                    product_id=e["productId"],
                    channel=e["channel"],
                    entity_id=e["entityId"],
                    state=e["state"],
                    amount=e["amount"],
                    currency=e["currency"],
                    items=e["items"],
                    fields=e["fields"],
                    custom_fields=e["customFields"],
                    properties=e["properties"],
                )
                for e in r["events"]
            ],
            page_info=PageInfo(has_next_page=r["hasNextPage"], end_cursor=r["endCursor"]),
            total_count=r["totalCount"],
        )
