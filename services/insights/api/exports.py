"""The Analytics tab's "Download CSV" (the customers active in a range and the range's orders) and the insights
builder's exports (UGD: an insight's events; Insight Results: its chart's table; service.insight_exports), CSV
or XLSX.

As the orders service's exports (and with the kit's one implementation, shared/exports.py): `resolve` fixes
a preset to its dates and the organisation's time zone when the link is issued, so the link exports what it
was requested for; the download streams keyset batches, each in its own short transaction on the export
pool, in constant memory, with at most EXPORT_ORG_CONCURRENCY exports per organisation at once (429 and
Retry-After past it). Closed to provider users, as the tab and the builder are. An insight export's `filter` is
the insight's input (`InsightInput`), validated when the link is issued (errors name `input.<field>`).

Customer emails and display names, and product, category and integration names, are the orders service's
data: the files carry ids only. Fetching names per batch from the orders service would put a cross-service
call (and its failure modes) inside every batch of a streamed download; the ids join the orders service's
own customers and orders exports.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.insights.api.analytics import AnalyticsFilter
from services.insights.domain import buckets
from services.insights.domain import insight as insight_domain
from services.insights.repository import analytics as analytics_queries
from services.insights.repository import exports as export_queries
from services.insights.service import insight as insight_service
from services.insights.service import insight_exports
from shared import exports
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.service.endpoint import OrgCall, org_endpoint
from shared.service.exports import MEDIA, streamed_export
from shared.zone_rules import known_zones

ANALYTICS_KINDS = ("analytics_customers", "analytics_orders")
INSIGHT_KINDS = ("insight_events", "insight_results")
KINDS = (*ANALYTICS_KINDS, *INSIGHT_KINDS)


def _time_zone(value: str) -> str:
    if len(value) > 64 or value not in known_zones():
        raise ValueError("must be an IANA time zone such as Europe/London")
    return value


TimeZone = Annotated[str, AfterValidator(_time_zone)]


class ResolveExport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["analytics_customers", "analytics_orders", "insight_events", "insight_results"]
    filter: dict[str, Any] = Field(default_factory=dict)


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    filter: dict[str, Any] = Field(default_factory=dict)
    # The zone the link was requested in: its days stay the instants they were then.
    time_zone: TimeZone | None = Field(default=None, alias="timeZone")


@org_endpoint()
async def resolve_export(call: OrgCall) -> Any:
    """Validates the analytics filter (refusals name `filter.range...`, `filter.categoryIds`, ...) and fixes
    its range to dates in the organisation's time zone, which travels with them."""
    q = call.parse(ResolveExport)
    if q.kind in INSIGHT_KINDS:
        return await _resolve_insight(call, q)
    parsed = call.parse(AnalyticsFilter, q.filter, "filter.")
    async with tenant_tx(call.pool, call.org_id) as conn:
        await parsed.check(conn, call.org_id)
        tz = await analytics_queries.time_zone(conn, call.org_id)
    first, last = buckets.days_of(parsed.range, tz)
    resolved = dict(q.filter)
    resolved["range"] = {"from": first.isoformat(), "to": last.isoformat()}
    return {"filter": resolved, "timeZone": tz}


async def _resolve_insight(call: OrgCall, q: ResolveExport) -> Any:
    """Validates the insight (as the builder does: errors name `input.<field>`) and fixes its range to dates in
    the organisation's time zone; a results export in the base currency needs that currency known now."""
    async with tenant_tx(call.pool, call.org_id) as conn:
        tz = await analytics_queries.time_zone(conn, call.org_id)
        parsed = insight_domain.parse(q.filter, tz)
        if q.kind == "insight_results" and parsed.base_currency:
            await insight_service.base_currency(conn, call.org_id)
    resolved = dict(q.filter)
    resolved["range"] = {"from": parsed.first_day.isoformat(), "to": parsed.last_day.isoformat()}
    return {"filter": resolved, "timeZone": tz}


@org_endpoint()
async def export(call: OrgCall) -> Any:
    """Streams an analytics export as CSV or XLSX (see the module's docstring)."""
    kind, fmt = call.request.path_params["kind"], call.request.path_params["fmt"]
    if kind not in KINDS or fmt not in MEDIA:
        raise DomainError(ErrorCode.UNKNOWN_EXPORT, f"exports are {', '.join(KINDS)}, as csv or xlsx", "kind")
    body = call.parse(ExportRequest)
    if kind in INSIGHT_KINDS:
        return await _insight_export(call, kind, fmt, body)
    parsed = call.parse(AnalyticsFilter, body.filter, "filter.")

    async def open_stream(pool: asyncpg.Pool) -> AsyncGenerator[bytes, None]:
        tz = body.time_zone
        if tz is None:
            async with tenant_tx(pool, call.org_id) as conn:
                tz = await analytics_queries.time_zone(conn, call.org_id)
        first, last = buckets.days_of(parsed.range, tz)
        make = export_queries.customers_query if kind == "analytics_customers" else export_queries.orders_query
        query = make(parsed.scope(call.org_id), first, last, tz)
        settings = call.service.settings
        if fmt == "csv":
            return exports.stream_csv(pool, call.org_id, query, settings.export_csv_batch_rows)
        return exports.stream_xlsx(pool, call.org_id, query, kind, settings.export_batch_rows)

    return await streamed_export(call, kind, fmt, open_stream)


async def _insight_export(call: OrgCall, kind: str, fmt: str, body: ExportRequest) -> Any:
    """An insight export, in the time zone the link was issued in (the dates it resolved stay those days)."""

    async def open_stream(pool: asyncpg.Pool) -> AsyncGenerator[bytes, None]:
        tz = body.time_zone
        if tz is None:
            async with tenant_tx(pool, call.org_id) as conn:
                tz = await analytics_queries.time_zone(conn, call.org_id)
        q = insight_domain.parse(body.filter, tz)
        opener = insight_exports.open_events if kind == "insight_events" else insight_exports.open_results
        return await opener(pool, call.org_id, q, fmt, call.service.settings)

    return await streamed_export(call, kind, fmt, open_stream)


routes = [
    Route("/internal/exports/resolve", resolve_export, methods=["POST"]),
    Route("/internal/exports/{kind}.{fmt}", export, methods=["POST"]),
]
