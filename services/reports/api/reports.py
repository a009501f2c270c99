"""The reports catalogue's internal API: thin handlers over service/reports.py.

Closed to provider users (the kit's default): reports read the partner's contacts and business data. Saved
configurations belong to the organisation: any member reads, saves and deletes them. Exports follow the other
services' shape, so the gateway's export links serve them unchanged: `/internal/exports/resolve` validates the
input and fixes a preset to its dates and the organisation's time zone when the link is issued (running the
report once, so a link is never issued for a run that would fail), and `/internal/exports/report.{fmt}` streams
the run (shared/service/exports.py: per-organisation slots, the export pool).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.routing import Route

from services.reports.service import reports as workflow
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.service.endpoint import OrgCall, TenantCall, org_endpoint, tenant_endpoint
from shared.service.exports import streamed_export

KIND = "report"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: dict[str, Any]


class SaveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    name: Name
    description: Description = ""
    input: dict[str, Any]


class ResolveExport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["report"]
    filter: dict[str, Any] = Field(default_factory=dict)
    format: Literal["csv", "xlsx", "pdf"] | None = None


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    filter: dict[str, Any] = Field(default_factory=dict)
    time_zone: str | None = Field(default=None, alias="timeZone", max_length=64)


@tenant_endpoint()
async def get_catalogue(call: TenantCall) -> Any:
    return {"reports": workflow.catalogue_json()}


@tenant_endpoint()
async def post_preview(call: TenantCall) -> Any:
    body = call.parse(PreviewRequest)
    return await workflow.preview(call.conn, call.org_id, body.input)


@tenant_endpoint()
async def post_saved(call: TenantCall) -> Any:
    body = call.parse(SaveRequest)
    id = None
    if body.id is not None:
        try:
            id = UUID(body.id)
        except ValueError:
            raise DomainError(ErrorCode.INVALID_ID, "is not a valid id", "id") from None
    saved = await workflow.save(call.conn, call.org_id, id, body.name, body.description, body.input, call.actor)
    return workflow.saved_json(saved)


@tenant_endpoint()
async def get_saved_list(call: TenantCall) -> Any:
    return {"savedReports": [workflow.saved_json(s) for s in await workflow.saved.listed(call.conn, call.org_id)]}


@tenant_endpoint()
async def get_saved(call: TenantCall) -> Any:
    found = await workflow.saved.get(call.conn, call.org_id, call.path_uuid("id"))
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no saved report has this id", "id", status=404)
    return workflow.saved_json(found)


@tenant_endpoint()
async def delete_saved(call: TenantCall) -> Any:
    if not await workflow.saved.delete(call.conn, call.org_id, call.path_uuid("id")):
        raise DomainError(ErrorCode.NOT_FOUND, "no saved report has this id", "id", status=404)
    return {"deleted": True}


@org_endpoint()
async def resolve_export(call: OrgCall) -> Any:
    """Validates the report input (refusals name `input.<field>`), fixes its range to dates in the organisation's
    time zone, and runs it once (a missing FX rate refuses the link rather than breaking the download)."""
    q = call.parse(ResolveExport)
    async with tenant_tx(call.pool, call.org_id) as conn:
        parsed = await workflow.parse(conn, call.org_id, q.filter)
        await workflow.check_runs(conn, call.org_id, parsed, q.format)
    resolved = dict(q.filter)
    filters = dict(resolved.get("filters") or {})
    filters["range"] = {"from": parsed.first_day.isoformat(), "to": parsed.last_day.isoformat()}
    resolved["filters"] = filters
    return {"filter": resolved, "timeZone": parsed.time_zone}


@org_endpoint()
async def export(call: OrgCall) -> Any:
    """Streams a report run as CSV or XLSX (see the module's docstring)."""
    kind, fmt = call.request.path_params["kind"], call.request.path_params["fmt"]
    if kind != KIND or fmt not in workflow.WRITERS:
        raise DomainError(ErrorCode.UNKNOWN_EXPORT, f"exports are {KIND}, as {', '.join(workflow.FORMATS)}", "kind")
    body = call.parse(ExportRequest)
    async with tenant_tx(call.pool, call.org_id) as conn:
        q = await workflow.parse(conn, call.org_id, body.filter, body.time_zone)
    opener = workflow.WRITERS[fmt]

    async def open_stream(pool: asyncpg.Pool) -> AsyncGenerator[bytes, None]:
        return await opener(pool, call.org_id, q, fmt, call.service.settings)

    return await streamed_export(call, KIND, fmt, open_stream)


routes = [
    Route("/internal/reports/catalogue", get_catalogue, methods=["GET"]),
    Route("/internal/reports/preview", post_preview, methods=["POST"]),
    Route("/internal/reports/saved", post_saved, methods=["POST"]),
    Route("/internal/reports/saved", get_saved_list, methods=["GET"]),
    Route("/internal/reports/saved/{id}", get_saved, methods=["GET"]),
    Route("/internal/reports/saved/{id}", delete_saved, methods=["DELETE"]),
    Route("/internal/exports/resolve", resolve_export, methods=["POST"]),
    Route("/internal/exports/{kind}.{fmt}", export, methods=["POST"]),
]
