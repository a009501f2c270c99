"""The documented collections' internal API: thin handlers over service/collections.py.

Downloads follow the export links' shape (services/gateway/export_links.py): `/internal/collections/resolve`
checks the input when the link is asked for (an unknown collection or a bad range is refused naming `collection`
or `range`, before any link exists) and fixes a preset to its dates and the organisation's time zone;
`/internal/exports/collection.{ndjson|csv}` streams the documents for that range in keyset batches (the kit's
per-organisation export slots, the export pool). Closed to provider users (the kit's default): collections hold
the partner's contacts and business data.

NDJSON is one document a line, exactly as `document(row)` makes it (the documents a MongoDB forwarder writes).
CSV has the declared fields as columns, in declared order: null is empty, true/false as written, objects and
arrays as JSON text, and a text field starting like a formula (= + - @ tab CR) prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import asyncpg
import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from services.reports.service import collections as workflow
from shared.collections import Collection, FieldType
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.exports import FORMULA_STARTS
from shared.service.endpoint import OrgCall, org_endpoint
from shared.service.exports import streamed_export

KIND = "collection"
FORMATS = ("ndjson", "csv")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = KIND
    filter: dict[str, Any] = Field(default_factory=dict)


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    filter: dict[str, Any] = Field(default_factory=dict)
    time_zone: str | None = Field(default=None, alias="timeZone", max_length=64)


def insights_client(request: Request, call: OrgCall) -> workflow.InsightsCollections:
    """This app's client of insights-api (devices and events), made on first use."""
    state = request.app.state
    client: workflow.InsightsCollections | None = getattr(state, "insights_collections", None)
    if client is None:
        client = state.insights_collections = workflow.InsightsCollections.from_settings(call.service.settings)
    return client


def orders_client(request: Request, call: OrgCall) -> workflow.OrdersProviders:
    """This app's client of orders-api (providers' names), made on first use."""
    state = request.app.state
    client: workflow.OrdersProviders | None = getattr(state, "orders_providers", None)
    if client is None:
        client = state.orders_providers = workflow.OrdersProviders.from_settings(call.service.settings)
    return client


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def _flag(value: Any) -> str:
    return "" if value is None else "true" if value else "false"


def _nested(value: Any) -> str:
    return "" if value is None else orjson.dumps(value).decode()


_CELL: dict[FieldType, Callable[[Any], str]] = {
    FieldType.STRING: _text,
    FieldType.INTEGER: _plain,
    FieldType.DECIMAL: _plain,
    FieldType.DATETIME: _plain,
    FieldType.DATE: _plain,
    FieldType.BOOLEAN: _flag,
    FieldType.OBJECT: _nested,
    FieldType.ARRAY: _nested,
}


def csv_cell(field_type: FieldType, value: Any) -> str:
    """One CSV cell: null empty, true/false, objects and arrays as JSON text, a text field that reads like a
    formula prefixed with an apostrophe (decimals and times are never text: "-12.50" stays a number)."""
    return _CELL[field_type](value)


def csv_row(c: Collection, doc: dict[str, Any]) -> list[str]:
    return [_CELL[f.type](doc.get(f.name)) for f in c.fields]


async def _ndjson(batches: AsyncIterator[list[dict[str, Any]]]) -> AsyncGenerator[bytes, None]:
    async for docs in batches:
        yield b"".join(orjson.dumps(d) + b"\n" for d in docs)


async def _csv(c: Collection, batches: AsyncIterator[list[dict[str, Any]]]) -> AsyncGenerator[bytes, None]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(c.field_names)
    yield out.getvalue().encode()
    async for docs in batches:
        out.seek(0)
        out.truncate()
        writer.writerows(csv_row(c, d) for d in docs)
        yield out.getvalue().encode()


@org_endpoint()
async def resolve(call: OrgCall) -> Any:
    body = call.parse(ResolveRequest)
    if body.kind != KIND:
        raise DomainError(ErrorCode.INVALID_INPUT, f"kind: collections export as kind {KIND}", "kind")
    async with tenant_tx(call.pool, call.org_id) as conn:
        w = await workflow.window(conn, call.org_id, body.filter)
    return {"filter": w.filter_json(), "timeZone": w.time_zone}


@org_endpoint()
async def export(call: OrgCall) -> Any:
    """Streams a collection for a range as NDJSON or CSV (see the module's docstring)."""
    fmt = call.request.path_params["fmt"]
    if fmt not in FORMATS:
        raise DomainError(ErrorCode.UNKNOWN_EXPORT, f"collections export as {', '.join(FORMATS)}", "format")
    body = call.parse(ExportRequest)
    async with tenant_tx(call.pool, call.org_id) as conn:
        w = await workflow.window(conn, call.org_id, body.filter, body.time_zone)
    insights = insights_client(call.request, call)
    orders = orders_client(call.request, call)
    batch = min(call.service.settings.export_batch_rows, 5000)

    async def open_stream(pool: asyncpg.Pool) -> AsyncGenerator[bytes, None]:
        batches = workflow.batches(
            pool, w.collection.name, call.org_id, w.since, w.until, insights=insights, orders=orders, batch=batch
        )
        return _ndjson(batches) if fmt == "ndjson" else _csv(w.collection, batches)

    return await streamed_export(call, w.collection.name, fmt, open_stream)


routes = [
    Route("/internal/collections/resolve", resolve, methods=["POST"]),
    Route("/internal/exports/collection.{fmt}", export, methods=["POST"]),
]
