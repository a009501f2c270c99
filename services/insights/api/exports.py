"""The Analytics tab's "Download CSV": the customers active in a range and the range's orders, CSV or XLSX.

As the orders service's exports (and with the kit's one implementation, shared/exports.py): `resolve` fixes
a preset to its dates and the organisation's time zone when the link is issued, so the link exports what it
was requested for; the download streams keyset batches, each in its own short transaction on the export
pool, in constant memory, with at most EXPORT_ORG_CONCURRENCY exports per organisation at once (429 and
Retry-After past it). Closed to provider users, as the tab is.

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
from services.insights.repository import analytics as analytics_queries
from services.insights.repository import exports as export_queries
from shared import exports
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.service.endpoint import OrgCall, org_endpoint
from shared.service.exports import MEDIA, streamed_export
from shared.zone_rules import known_zones

KINDS = ("analytics_customers", "analytics_orders")


def _time_zone(value: str) -> str:
    if len(value) > 64 or value not in known_zones():
        raise ValueError("must be an IANA time zone such as Europe/London")
    return value


TimeZone = Annotated[str, AfterValidator(_time_zone)]


class ResolveExport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["analytics_customers", "analytics_orders"]
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
    parsed = call.parse(AnalyticsFilter, q.filter, "filter.")
    async with tenant_tx(call.pool, call.org_id) as conn:
        tz = await analytics_queries.time_zone(conn, call.org_id)
    first, last = buckets.days_of(parsed.range, tz)
    resolved = dict(q.filter)
    resolved["range"] = {"from": first.isoformat(), "to": last.isoformat()}
    return {"filter": resolved, "timeZone": tz}


@org_endpoint()
async def export(call: OrgCall) -> Any:
    """Streams an analytics export as CSV or XLSX (see the module's docstring)."""
    kind, fmt = call.request.path_params["kind"], call.request.path_params["fmt"]
    if kind not in KINDS or fmt not in MEDIA:
        raise DomainError(
            ErrorCode.UNKNOWN_EXPORT, "exports are analytics_customers or analytics_orders, as csv or xlsx", "kind"
        )
    body = call.parse(ExportRequest)
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


routes = [
    Route("/internal/exports/resolve", resolve_export, methods=["POST"]),
    Route("/internal/exports/{kind}.{fmt}", export, methods=["POST"]),
]
