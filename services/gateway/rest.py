"""REST entry points for embedded integrations, authenticated by the integration's API key."""

from __future__ import annotations

import hashlib
import re
from uuid import UUID

import orjson
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.clients import InsightsClient, OrdersClient, ServiceError, Unavailable
from services.gateway.json_input import locate_json_error
from shared.api_events import MAX_BATCH_BYTES
from shared.errors import ErrorCode
from shared.http import JSON, BadJSON, dumps, error, json_body

MAX_BODY = 256 * 1024


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


async def _forward(request: Request, path: str, method: str = "POST") -> Response:
    """Checks what the gateway can (key present, size, JSON object) and lets the orders service do the rest."""
    key = _api_key(request)
    if not key:
        return error(
            401, ErrorCode.UNAUTHENTICATED, "integration API key required (Authorization: Bearer <key>)", "apiKey"
        )
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return error(413, ErrorCode.TOO_LARGE, "request body over 256 KiB")
    try:
        body = await json_body(request)
    except BadJSON:
        field, reason = locate_json_error(await request.body())
        return error(400, ErrorCode.MALFORMED_JSON, reason, field)
    if not isinstance(body, dict):
        return error(422, ErrorCode.INVALID_INPUT, "request body must be a JSON object")
    try:
        status_code = 200
        orders: OrdersClient = request.app.state.orders
        result = await orders.ingest(path, body, key, method)
        if isinstance(result, dict) and result.get("created") is True:
            status_code = 201
    except ServiceError as exc:
        return error(exc.status, exc.code, exc.message, exc.field, errors=exc.errors)
    except Unavailable:
        return error(503, ErrorCode.UNAVAILABLE, "try again later")
    return JSON(result, status_code=status_code)


async def ingest_events(request: Request) -> Response:
    """A batch of up to 1,000 events (`shared/api_events.py`): 202 once the valid ones are stored, with every
    refused event's index, field and reason. Relayed to the insights service as it came."""
    key = _api_key(request)
    if not key:
        return error(
            401, ErrorCode.UNAUTHENTICATED, "integration API key required (Authorization: Bearer <key>)", "apiKey"
        )
    body = await request.body()  # capped while read (BodyLimit: MAX_BATCH_BYTES for this path)
    if len(body) > MAX_BATCH_BYTES:
        return error(413, ErrorCode.TOO_LARGE, f"request body over {MAX_BATCH_BYTES // (1024 * 1024)} MiB")
    try:
        insights: InsightsClient = request.app.state.insights
        result = await insights.ingest_events(body, key)
    except ServiceError as exc:
        if exc.code == ErrorCode.MALFORMED_JSON:
            field, reason = _malformed_batch(body)
            return error(400, ErrorCode.MALFORMED_JSON, reason, field)
        return error(exc.status, exc.code, exc.message, exc.field, errors=exc.errors)
    except Unavailable:
        return error(503, ErrorCode.UNAVAILABLE, "try again later")
    return JSON(result, status_code=202)


_INDEX = re.compile(r"\.(\d+)(?=\.|$)")


def _malformed_batch(body: bytes) -> tuple[str | None, str]:
    """The field of a batch the insights service could not parse, named as its refusals name fields
    (`events[3].amount`), or where the text stops being JSON. Only refused bodies are read again."""
    field, reason = locate_json_error(body)
    if field is not None:
        named = _INDEX.sub(r"[\1]", field)
        return named, f"{named}: {reason.removeprefix(field + ': ')}"
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return None, f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    return None, reason


async def create_order(request: Request) -> Response:
    """Idempotent on the integration's `externalRef`: a retry returns the first order (200, not 201)."""
    return await _forward(request, "orders")


async def identify_customer(request: Request) -> Response:
    return await _forward(request, "customers/identify")


def _path_id(request: Request, name: str) -> str | None:
    """The path's id in its canonical form, or None when it is not an id."""
    try:
        return str(UUID(request.path_params[name]))
    except ValueError:
        return None


async def set_customer_fields(request: Request) -> Response:
    """Some of a customer's custom fields and/or their account currency; answers the customer's profile."""
    customer_id = _path_id(request, "customerId")
    if customer_id is None and _api_key(request):  # no key: refused as unauthenticated first
        return error(400, ErrorCode.INVALID_ID, "customerId: is not a valid id", "customerId")
    return await _forward(request, f"customers/{customer_id}/custom-fields", "PUT")


async def set_order_fields(request: Request) -> Response:
    """Some custom fields of one of the integration's orders; answers the order."""
    order_id = _path_id(request, "orderId")
    if order_id is None and _api_key(request):  # no key: refused as unauthenticated first
        return error(400, ErrorCode.INVALID_ID, "orderId: is not a valid id", "orderId")
    return await _forward(request, f"orders/{order_id}/custom-fields", "PUT")


async def integration_config(request: Request) -> Response:
    """The partner's settings an embedded integration renders (name, primary colour for its CTAs,
    marketplace URL) and the integration's products. Cacheable: answers 304 to a matching
    If-None-Match, so integrations can poll it cheaply."""
    key = _api_key(request)
    if not key:
        return error(
            401, ErrorCode.UNAUTHENTICATED, "integration API key required (Authorization: Bearer <key>)", "apiKey"
        )
    try:
        orders: OrdersClient = request.app.state.orders
        config = await orders.integration_config(key)
    except ServiceError as exc:
        return error(exc.status, exc.code, exc.message, exc.field)
    except Unavailable:
        return error(503, ErrorCode.UNAVAILABLE, "try again later")
    body = dumps(config)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"etag": etag, "cache-control": "private, max-age=60", "vary": "authorization, x-api-key"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
