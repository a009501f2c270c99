"""The Analytics tab: series, metric definitions, the user funnel, and the rows behind every number.

Thin handlers: parse the filter (a range is required; refusals name `filter.range...`, `filter.categoryIds`,
...), resolve the range's buckets in the organisation's time zone (`domain.buckets`), read the read models
(`repository.analytics`). Series and funnel read in one snapshot, so their numbers agree with each other.
Closed to provider users (the partner's customers and funnel are not theirs).

Category and integration ids are the orders service's: this service accepts any well-formed id and an
unknown one selects nothing; the gateway refuses ids that are not the organisation's, naming the field.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.insights.domain import buckets, metrics
from services.insights.domain.metrics import CUSTOMER_METRICS, ORDER_METRICS, SeriesMetric
from services.insights.repository import analytics as queries
from services.insights.service import segments
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.presets import DateRange
from shared.service.endpoint import OrgCall, TenantCall, org_endpoint, tenant_endpoint
from shared.service.pagination import PageInput

MAX_FILTER_IDS = 100
Ids = Annotated[list[UUID], Field(max_length=MAX_FILTER_IDS)]


class AnalyticsFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    range: DateRange
    category_ids: Ids = Field(default_factory=list, alias="categoryIds")
    integration_ids: Ids = Field(default_factory=list, alias="integrationIds")
    segment_id: UUID | None = Field(default=None, alias="segmentId")

    def scope(self, org_id: UUID) -> queries.Scope:
        return queries.Scope(
            org_id,
            list(dict.fromkeys(self.category_ids)),
            list(dict.fromkeys(self.integration_ids)),
            self.segment_id,
        )

    async def check(self, conn: asyncpg.Connection, org_id: UUID) -> None:
        """A segment named is this organisation's (else NOT_FOUND naming filter.segmentId)."""
        await segments.require_segment(conn, org_id, self.segment_id, "filter.segmentId")


class FilterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: AnalyticsFilter


class PointQuery(PageInput):
    """The rows behind one point: the series' filter, the metric, and the point's `start`."""

    model_config = ConfigDict(extra="forbid")
    filter: AnalyticsFilter
    metric: SeriesMetric
    bucket: datetime


class StepQuery(PageInput):
    model_config = ConfigDict(extra="forbid")
    filter: AnalyticsFilter
    step: int = Field(ge=1, le=queries.FUNNEL_STEPS)


def _money(amounts: dict[str, Decimal]) -> list[dict[str, Any]]:
    return [{"currency": c, "amount": str(a)} for c, a in sorted(amounts.items())]


def _span_json(span: buckets.Span) -> dict[str, Any]:
    return {
        "from": span.first_day.isoformat(),
        "to": span.last_day.isoformat(),
        "timeZone": span.time_zone,
        "granularity": span.granularity.value,
    }


@org_endpoint()
async def series(call: OrgCall) -> Any:
    """Every point of the range (none missing), each metric of `metrics.SERIES`."""
    q = call.parse(FilterQuery)
    async with tenant_tx(call.pool, call.org_id, snapshot=True) as conn:
        await q.filter.check(conn, call.org_id)
        span = buckets.span(q.filter.range, await queries.time_zone(conn, call.org_id))
        points = await queries.series(conn, q.filter.scope(call.org_id), span)
    return {
        **_span_json(span),
        "points": [
            {
                "start": b.start.isoformat(),
                "end": b.end.isoformat(),
                "day": b.day.isoformat(),
                "newCustomers": pt.new_customers,
                "returningCustomers": pt.returning_customers,
                "visits": pt.visits,
                "ordersCreated": pt.orders_created,
                "successfulOrders": pt.successful_orders,
                "commissionPending": _money(pt.commission_pending),
                "commissionPaid": _money(pt.commission_paid),
            }
            for b, pt in zip(span.buckets, points, strict=True)
        ],
    }


@tenant_endpoint()
async def metric_definitions(call: TenantCall) -> Any:
    return [
        {
            "key": str(d.key),
            "label": d.label,
            "description": d.description,
            "unit": d.unit,
            "drillDown": d.drill_down.value if d.drill_down else None,
        }
        for d in metrics.ALL
    ]


@org_endpoint()
async def funnel(call: OrgCall) -> Any:
    q = call.parse(FilterQuery)
    async with tenant_tx(call.pool, call.org_id, snapshot=True) as conn:
        await q.filter.check(conn, call.org_id)
        first, last = buckets.days_of(q.filter.range, await queries.time_zone(conn, call.org_id))
        steps = await queries.funnel(conn, q.filter.scope(call.org_id), first, last)
    top = steps[0].customers
    out = []
    for i, s in enumerate(steps):
        before = steps[i - 1].customers if i else None
        out.append(
            {
                "step": s.step,
                "key": metrics.FUNNEL[i].key,
                "name": metrics.FUNNEL[i].label,
                "customers": s.customers,
                "conversionFromPrevious": s.customers / before if before else None,
                "conversionFromFirst": s.customers / top if top else None,
                "medianSecondsFromPrevious": s.median_seconds,
            }
        )
    return {"from": first.isoformat(), "to": last.isoformat(), "steps": out}


def _page_json(page: queries.Page) -> dict[str, Any]:
    return {"rows": page.rows, "has_next_page": page.has_next_page, "total_count": page.total_count}


@tenant_endpoint()
async def point_rows(call: TenantCall) -> Any:
    """The customers, visits or orders behind one point; `total_count` equals the point's number."""
    q = call.parse(PointQuery)
    await q.filter.check(call.conn, call.org_id)
    span = buckets.span(q.filter.range, await queries.time_zone(call.conn, call.org_id))
    bucket = span.bucket_at(q.bucket)
    scope = q.filter.scope(call.org_id)
    if q.metric in CUSTOMER_METRICS:
        page = await queries.customers_behind(call.conn, scope, span, bucket, q.metric, q.first, q.after)
    elif q.metric is SeriesMetric.VISITS:
        page = await queries.visits_behind(call.conn, scope, bucket, q.first, q.after)
    elif q.metric in ORDER_METRICS:
        page = await queries.orders_behind(call.conn, scope, bucket, q.metric, q.first, q.after)
    else:  # pragma: no cover - every metric is one of the three kinds
        raise DomainError(ErrorCode.INVALID_INPUT, "unknown metric", "metric")
    return {"kind": metrics.DRILL_DOWN[q.metric].value, **_page_json(page)}


@tenant_endpoint()
async def step_customers(call: TenantCall) -> Any:
    """The customers a funnel step counts; `total_count` equals the step's number."""
    q = call.parse(StepQuery)
    await q.filter.check(call.conn, call.org_id)
    first, last = buckets.days_of(q.filter.range, await queries.time_zone(call.conn, call.org_id))
    page = await queries.funnel_customers(call.conn, q.filter.scope(call.org_id), first, last, q.step, q.first, q.after)
    return _page_json(page)


routes = [
    Route("/internal/analytics/series", series, methods=["POST"]),
    Route("/internal/analytics/metrics", metric_definitions, methods=["GET"]),
    Route("/internal/analytics/funnel", funnel, methods=["POST"]),
    Route("/internal/analytics/rows", point_rows, methods=["POST"]),
    Route("/internal/analytics/funnel/customers", step_customers, methods=["POST"]),
]
