"""Provider commission webhooks (Standard Webhooks): verify, validate, enqueue, answer 202.

Verification happens here, before anything is queued: a bad signature, a changed byte
or a timestamp outside the 5-minute tolerance is refused and enqueues nothing. The
worker deduplicates on (provider, webhook-id) in the transaction that applies the
update, so a provider may retry the same id any number of times, hours apart.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import orjson
import redis
from dramatiq import Message
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from standardwebhooks.webhooks import Webhook
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.clients import OrdersClient, ServiceError, Unavailable
from services.gateway.json_input import locate_json_error
from shared import logging as slog
from shared.errors import ErrorCode
from shared.http import JSON, error, validation_error
from shared.messaging import contracts
from shared.metrics import redis_name
from shared.text import PlainText

logger = logging.getLogger("gateway.webhooks")
MAX_BODY = 64 * 1024
SECRET_TTL = 60.0
UNKNOWN_TTL = 30.0  # a provider created meanwhile is reachable within this
MAX_CACHED = 10_000
_PROVIDER_ID = re.compile(r"^prv_[A-Za-z0-9]{1,64}$")
_WEBHOOK_ID = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: no spaces, no control characters
EXACT_FLOAT_LIMIT = 2**53  # a JSON number written with a fraction or exponent is exact below this


def _whole_number(value: Any) -> Any:
    """A sequence is a whole number: not a boolean (which pydantic would take as 0 or 1), nor a number
    written as a float from 2^53 on, which the JSON parser may already have rounded."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not a boolean")
    if isinstance(value, float) and value.is_integer() and abs(value) >= EXACT_FLOAT_LIMIT:
        raise ValueError("from 2^53 a number with a decimal point or exponent is not exact: send the digits")
    return value


class CommissionData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    order_id: UUID
    sequence: Annotated[int, BeforeValidator(_whole_number)] = Field(
        ge=1, le=2**62, description="The provider's event order for this order (a whole number, 1 to 2^62)"
    )
    status: str = Field(pattern="^(PENDING|SUCCESSFUL|FAILED)$")
    commission_status: str | None = Field(default=None, pattern="^(N/A|PENDING|SUCCESSFUL)$")
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = None
    currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")
    failure_reason: PlainText | None = Field(
        default=None, min_length=1, max_length=500, description="Why the order FAILED (data capture, delivery)"
    )


class CommissionWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = Field(pattern="^commission\\.updated$")
    data: CommissionData


class ProviderSecrets:
    """Short-lived cache of provider routing (org, id, secret); refreshed on a signature miss.

    Unknown provider ids are remembered as unknown for `UNKNOWN_TTL` seconds: a client inventing ids
    costs one internal call and one query per id and interval, not one per request. Both maps are
    bounded (cleared when full), so invented ids cannot grow memory.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._unknown: dict[str, float] = {}

    async def get(self, request: Request, public_id: str, fresh: bool = False) -> dict[str, Any] | None:
        now = time.monotonic()
        hit = self._entries.get(public_id)
        if hit and not fresh and now - hit[0] < SECRET_TTL:
            return hit[1]
        if hit and fresh and now - hit[0] < 1.0:
            return hit[1]  # refreshed a moment ago: do not let bad signatures hammer the service
        missed = self._unknown.get(public_id)
        if hit is None and missed is not None and now - missed < UNKNOWN_TTL:
            return None
        try:
            orders: OrdersClient = request.app.state.orders
            info = await orders.provider_webhook_secret(public_id)
        except ServiceError as exc:
            if exc.status == 404:
                self._entries.pop(public_id, None)
                if len(self._unknown) >= MAX_CACHED:
                    self._unknown.clear()
                self._unknown[public_id] = now
                return None
            raise
        if len(self._entries) >= MAX_CACHED:
            self._entries.clear()
        self._unknown.pop(public_id, None)
        self._entries[public_id] = (now, info)
        return info


def _verify(secret: str, body: bytes, headers: dict[str, str]) -> str | None:
    """None when valid, else the reason."""
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
        return None
    except Exception as exc:  # the library raises assorted errors on malformed headers
        return str(exc) or type(exc).__name__


async def commission_webhook(request: Request) -> Response:
    public_id = request.path_params["provider"]
    if not _PROVIDER_ID.match(public_id):
        return error(404, ErrorCode.NOT_FOUND, "unknown provider", "provider")
    headers = {k: request.headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    missing = [k for k, v in headers.items() if not v]
    if missing:
        return error(400, ErrorCode.MISSING_HEADERS, f"missing {', '.join(missing)}", missing[0])
    if len(headers["webhook-id"]) > 200:
        return error(400, ErrorCode.INVALID_HEADER, "webhook-id is too long", "webhook-id")
    if not _WEBHOOK_ID.match(headers["webhook-id"]):
        return error(
            400,
            ErrorCode.INVALID_HEADER,
            "webhook-id must be visible ASCII characters (no spaces or control characters)",
            "webhook-id",
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        return error(413, ErrorCode.TOO_LARGE, "webhook body over 64 KiB")
    secrets: ProviderSecrets = request.app.state.provider_secrets
    try:
        provider = await secrets.get(request, public_id)
        if provider is None:
            return error(404, ErrorCode.NOT_FOUND, "unknown provider", "provider")
        reason = _verify(provider["webhook_secret"], body, headers)
        if reason == "No matching signature found":
            provider = await secrets.get(request, public_id, fresh=True) or provider
            reason = _verify(provider["webhook_secret"], body, headers)
    except Unavailable:
        return error(503, ErrorCode.UNAVAILABLE, "try again later")
    if reason is not None:
        return error(401, ErrorCode.INVALID_SIGNATURE, f"webhook verification failed: {reason}", "webhook-signature")
    try:
        payload = CommissionWebhook.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError:
        field, reason = locate_json_error(body)
        return error(400, ErrorCode.MALFORMED_JSON, reason, field)
    except ValidationError as exc:
        return validation_error(exc)
    data = payload.data.model_dump(mode="json", exclude_none=True)
    item = {
        "org_id": str(provider["org_id"]),
        "provider_id": str(provider["provider_id"]),
        "webhook_id": headers["webhook-id"],
        "data": data,
    }
    try:
        message_id = await request.app.state.webhook_batcher.submit(item)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        # Redis is down: an outage, one warning per interval (the provider retries on 503).
        slog.dependency_unavailable(logger, redis_name(request.app.state.broker), exc)
        return error(503, ErrorCode.UNAVAILABLE, "try again later")
    except Exception:
        logger.exception("could not enqueue webhook")
        return error(503, ErrorCode.UNAVAILABLE, "try again later")
    slog.log(
        logger,
        logging.DEBUG,
        "webhook accepted",
        provider=public_id,
        webhook_id=headers["webhook-id"],
        dramatiq_message_id=message_id,
    )
    return JSON({"accepted": True, "webhookId": headers["webhook-id"]}, status_code=202)


class WebhookBatcher:
    """Verified webhooks arriving together travel in one Dramatiq message.

    A request waits until its batch is in Redis (at most `max_wait` seconds, or until
    `max_items` have gathered) before it answers 202, so an accepted webhook is always queued;
    the worker applies a batch in one transaction per organisation, which is what lets a
    2-core machine keep up with providers' bursts (bench/README.md).
    """

    def __init__(self, broker: Any, max_items: int = 64, max_wait: float = 0.005) -> None:
        self.broker, self.max_items, self.max_wait = broker, max_items, max_wait
        self._pending: list[tuple[dict[str, Any], asyncio.Future[str]]] = []
        self._request_ids: list[str] = []  # of the pending items' requests, for the worker's log lines
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def submit(self, item: dict[str, Any]) -> str:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._pending.append((item, future))
        rid = slog.request_id.get()
        if rid:
            self._request_ids.append(rid)
        if len(self._pending) >= self.max_items:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        request_ids, self._request_ids = self._request_ids, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._send(batch, request_ids))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[dict[str, Any], asyncio.Future[str]]], request_ids: list[str]) -> None:
        # The worker binds `request_id` to its log lines (shared/metrics.WorkerMetrics): the requests
        # of a batch, comma-separated, so that searching for any one of them finds the worker's lines.
        options = {"request_id": ",".join(dict.fromkeys(request_ids))} if request_ids else {}
        message: Message[None] = Message(
            queue_name=contracts.ORDERS_QUEUE,
            actor_name=contracts.APPLY_PROVIDER_WEBHOOKS,
            args=([item for item, _ in batch],),
            kwargs={},
            options=options,
        )
        try:
            await asyncio.to_thread(self.broker.enqueue, message)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(message.message_id)

    async def aclose(self) -> None:
        self._flush()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
