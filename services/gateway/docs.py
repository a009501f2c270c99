"""API documentation: an OpenAPI 3.1 document, the GraphQL SDL, and a readable page made of both.

`GET /docs` is plain HTML rendered here, server-side, from the very document served at
`GET /docs/openapi.json` and the SDL served at `GET /docs/schema.graphql`: inline CSS, no script,
nothing from another origin. All three are built once, when the app is made, and cached by
clients for five minutes.

The OpenAPI document covers every route of the gateway but GraphQL (described by its SDL) and these
pages; tests/services/gateway/test_docs.py keeps it in step with the app's routes and with the real
endpoints. Request bodies come from pydantic models: the `/v1` bodies from `shared/api_contracts.py`
(the orders service validates them; the gateway may not import a service, and a test compares that
contract with the service's own models), the webhook body from `webhooks.CommissionWebhook`, which
the gateway itself validates. Answers are declared below and checked against real answers by the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import strawberry
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from services.gateway import rest, webhooks
from services.gateway.graphql.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from shared import api_contracts, api_events
from shared import collections as documented
from shared.config import Settings
from shared.errors import ErrorCode

OPENAPI_VERSION = "3.1.0"
CACHE_CONTROL = "public, max-age=300"
# The page carries no script and loads nothing: its own inline styles are all it may use.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
WEBHOOK_TOLERANCE_SECONDS = 5 * 60  # what standardwebhooks.Webhook.verify allows either way

# --------------------------------------------------------------------------- answers (documented shapes)


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str | None = Field(description="The input field, dotted for nested fields (`customer.email`).")
    message: str


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: ErrorCode = Field(description="Stable, machine-readable: switch on it.")
    message: str = Field(description="For people; may change.")
    field: str | None = Field(description="The input field or header at fault, when there is one.")
    errors: list[FieldError] | None = Field(
        default=None, description="Every field that failed (INVALID_INPUT) and refusals of the orders service."
    )
    retryAfter: int | None = Field(
        default=None, description="Seconds to wait, as in the Retry-After header (RATE_LIMITED, OVERLOADED)."
    )


class ErrorBody(BaseModel):
    """Every refusal of the gateway, whatever the route."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


_DECIMAL = r"^\d+\.\d{2}$"


class Order(BaseModel):
    """An order as the orders service stores it (snake_case, as it answers)."""

    model_config = ConfigDict(extra="forbid")
    id: UUID
    integration_id: UUID
    product_id: UUID
    category_id: UUID
    provider_id: UUID
    customer_id: UUID
    external_ref: str
    status: Literal["PENDING", "SUCCESSFUL", "FAILED"]
    comm_status: Literal["N/A", "PENDING", "SUCCESSFUL"] = Field(
        description="N/A unless the order is SUCCESSFUL; then PENDING until the provider confirms it."
    )
    commission_amount: str = Field(pattern=_DECIMAL, description="A decimal string, never a float.")
    currency: str = Field(pattern="^[A-Z]{3}$")
    created_at: datetime
    updated_at: datetime
    kind: Literal["order", "sign_up"]
    failure_reason: str | None
    custom_fields: dict[str, Any] = Field(description="The order's custom field values by key.")


class OrderAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order: Order
    created: bool = Field(description="false when this externalRef was already recorded (a retry).")


class OrderFieldsAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order: Order


class CustomerVisit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    integration_id: UUID
    integration_name: str
    first_seen: datetime
    last_seen: datetime
    visits: int


class CustomerProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: UUID
    kind: Literal["generic", "anonymous"] = Field(description="generic once the customer has an email.")
    email: str | None
    anonymous_id: str | None
    display_name: str = Field(description="The email, or a stable word name made from the anonymous id.")
    channel: str | None
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    visits: list[CustomerVisit]
    orders: int
    successful_orders: int
    custom_fields: dict[str, Any] = Field(description="The customer's custom field values by key.")
    account_currency: str | None = Field(
        pattern="^[A-Z]{3}$", description="Itemised reports' currency for this customer; null: the base currency."
    )


class IdentifyAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: CustomerProfile


class Partner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    primaryColour: str = Field(pattern="^#[0-9A-Fa-f]{6}$", description="For the integration's CTAs.")
    marketplaceUrl: str | None


class ConfigIntegration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: UUID
    name: str
    channel: Literal["web", "mobile", "api", "partner"]


class Money(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: str = Field(pattern=_DECIMAL)
    currency: str = Field(pattern="^[A-Z]{3}$")


class ConfigProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: UUID = Field(description="The productId of POST /v1/orders.")
    name: str
    category: str | None
    commission: Money


class IntegrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner: Partner
    integration: ConfigIntegration
    products: list[ConfigProduct] = Field(description="The integration's products that are switched on.")


class WebhookAccepted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accepted: Literal[True]
    webhookId: str = Field(description="The webhook-id header, echoed.")


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"]


class NotReady(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["unavailable"]
    reason: str


# --------------------------------------------------------------------------- error codes

# What each code means to a client. A test asks for every ErrorCode here.
ERROR_CODES: dict[ErrorCode, str] = {
    ErrorCode.INVALID_INPUT: "The body or an argument failed validation; `errors` lists every field and why.",
    ErrorCode.MALFORMED_JSON: "The body is not valid JSON.",
    ErrorCode.INVALID_ID: "An id is not a valid id (GraphQL).",
    ErrorCode.INVALID_CURSOR: "A page cursor was not issued by this API or has been altered (GraphQL).",
    ErrorCode.INVALID_PAGE_SIZE: "`first` is out of range (GraphQL).",
    ErrorCode.INVALID_HEADER: "A header is present but unusable (e.g. webhook-id over 200 characters).",
    ErrorCode.MISSING_HEADERS: "A required header is missing; `field` names the first one.",
    ErrorCode.INVALID_SIGNATURE: "Webhook verification failed: wrong secret, altered body, or a timestamp "
    "more than 5 minutes off.",
    ErrorCode.INVALID_EXPORT_LINK: "The export link is invalid or has expired (links last 15 minutes).",
    ErrorCode.TOO_LARGE: "The body is over the route's limit.",
    ErrorCode.IDENTITY_REQUIRED: "Give an email, an anonymousId or both.",
    ErrorCode.UNKNOWN_EXPORT: "Exports are of orders, customers, the audit log, the Analytics tab or an insight, "
    "as CSV or XLSX.",
    ErrorCode.UNAUTHENTICATED: "The API key or access token is missing, unknown or revoked (a rotated key "
    "stops working at once).",
    ErrorCode.FORBIDDEN: "The action needs the admin role (GraphQL).",
    ErrorCode.NO_MEMBERSHIP: "The user is not a member of the organisation asked for (GraphQL).",
    ErrorCode.NO_ORGANISATION: "The user belongs to no organisation yet (GraphQL).",
    ErrorCode.NO_SUBJECT: "The access token names no subject (GraphQL).",
    ErrorCode.NOT_FOUND: "Not found, or belongs to another organisation (indistinguishable by design).",
    ErrorCode.ALREADY_MEMBER: "That person is already a member (GraphQL).",
    ErrorCode.DUPLICATE_NAME: "The name is taken, ignoring case (GraphQL).",
    ErrorCode.CATEGORY_IN_USE: "The category still has products or orders (GraphQL).",
    ErrorCode.LAST_ADMIN: "The organisation would be left without an admin (GraphQL).",
    ErrorCode.ALREADY_ADDED: "The catalogue product is already in the integration (GraphQL).",
    ErrorCode.PRODUCT_IN_USE: "The product has orders and cannot be removed; switch it off instead (GraphQL).",
    ErrorCode.PRODUCT_DISABLED: "The product is switched off in this integration: no new orders (POST /v1/orders).",
    ErrorCode.CANNOT_REMOVE_SELF: "Admins cannot remove themselves (GraphQL).",
    ErrorCode.CURRENCY_MISMATCH: "The commission's currency is not the product's.",
    ErrorCode.ILLEGAL_TRANSITION: "Commission moves only forward (N/A → PENDING → SUCCESSFUL); nothing changed.",
    ErrorCode.RATE_LIMITED: "This caller is over its concurrency or rate limit: retry after Retry-After seconds.",
    ErrorCode.OVERLOADED: "This gateway process is at its limit of requests in flight: retry after Retry-After "
    "seconds.",
    ErrorCode.UNAVAILABLE: "A backing service is unavailable: retry later, with back-off.",
    ErrorCode.INTERNAL: "An unexpected fault, logged with the request id (X-Request-Id).",
}

_SAMPLE_MESSAGES: dict[ErrorCode, tuple[str, str | None]] = {
    ErrorCode.INVALID_INPUT: ("String should have at least 1 character", "externalRef"),
    ErrorCode.UNAUTHENTICATED: ("integration API key required (Authorization: Bearer <key>)", "apiKey"),
    ErrorCode.MALFORMED_JSON: ("request body is not valid JSON", None),
    ErrorCode.TOO_LARGE: ("request body over 256 KiB", None),
    ErrorCode.RATE_LIMITED: ("too many requests for this integration key; retry after the delay in Retry-After", None),
    ErrorCode.UNAVAILABLE: ("try again later", None),
    ErrorCode.NOT_FOUND: ("product not found", "productId"),
    ErrorCode.MISSING_HEADERS: ("missing webhook-signature", "webhook-signature"),
    ErrorCode.INVALID_SIGNATURE: ("webhook verification failed: No matching signature found", "webhook-signature"),
    ErrorCode.INVALID_EXPORT_LINK: ("this export link is invalid or has expired", None),
    ErrorCode.IDENTITY_REQUIRED: ("give an email or an anonymousId", "anonymousId"),
}


def _error_example(code: ErrorCode, sample: tuple[str, str | None] | None = None) -> dict[str, Any]:
    message, field = sample or _SAMPLE_MESSAGES.get(code, (ERROR_CODES[code], None))
    detail: dict[str, Any] = {"code": code.value, "message": message, "field": field}
    if code is ErrorCode.INVALID_INPUT:  # as shared.http.validation_error words it
        detail["message"] = f"{field}: {message}"
        detail["errors"] = [{"field": field, "message": message}]
    if code in (ErrorCode.RATE_LIMITED, ErrorCode.OVERLOADED):
        detail["retryAfter"] = 1
    return {"error": detail}


# --------------------------------------------------------------------------- examples

EXAMPLE_PRODUCT_ID = "5cee2b7b-1579-4ccd-8598-10b7b6f02ce3"
EXAMPLE_ORDER_ID = "35b866d6-d5a3-4986-84fb-1a4b0a99969c"
EXAMPLE_TIME = "2026-03-02T10:15:00Z"

ORDER_EXAMPLES: dict[str, dict[str, Any]] = {
    "minimal": {"externalRef": "ord-1001", "productId": EXAMPLE_PRODUCT_ID, "customer": {"email": "jo@example.com"}},
    "successful": {
        "externalRef": "ord-1002",
        "productId": EXAMPLE_PRODUCT_ID,
        "customer": {"email": "jo@example.com", "anonymousId": "v-8f2c1e0a"},
        "status": "SUCCESSFUL",
        "commission": {"amount": "45.00", "currency": "GBP"},
        "occurredAt": EXAMPLE_TIME,
        "channel": "web",
    },
    "failed": {
        "externalRef": "ord-1003",
        "productId": EXAMPLE_PRODUCT_ID,
        "customer": {"anonymousId": "v-8f2c1e0a"},
        "status": "FAILED",
        "failureReason": "card application declined",
    },
}
IDENTIFY_EXAMPLES: dict[str, dict[str, Any]] = {
    "visit": {"anonymousId": "v-8f2c1e0a"},
    "gives an email": {"anonymousId": "v-8f2c1e0a", "email": "jo@example.com"},
    "with an account currency": {"email": "jo@example.com", "accountCurrency": "EUR"},
}
CUSTOMER_FIELDS_EXAMPLES: dict[str, dict[str, Any]] = {
    "set fields": {"customFields": {"loyalty_tier": "gold", "renewal_date": "2026-09-30"}},
    "clear one, set the currency": {"customFields": {"renewal_date": None}, "accountCurrency": "EUR"},
}
ORDER_FIELDS_EXAMPLES: dict[str, dict[str, Any]] = {
    "set fields": {"customFields": {"branch": "Leeds", "referred": True}},
}
EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "a visit and a product view": {
        "events": [
            {
                "id": "evt-0001",
                "type": "visit",
                "occurredAt": "2026-03-01T09:30:00Z",
                "anonymousId": "v-8f2c1e0a",
                "device": {"id": "d-77aa", "platform": "web"},
            },
            {
                "id": "evt-0002",
                "type": "product_viewed",
                "occurredAt": "2026-03-01T09:31:12Z",
                "anonymousId": "v-8f2c1e0a",
                "productId": EXAMPLE_PRODUCT_ID,
                "properties": {"position": 2, "list": "Broadband deals"},
            },
        ]
    },
}
EVENTS_ANSWER_EXAMPLE: dict[str, Any] = {
    "accepted": 2,
    "stored": 1,
    "duplicates": 1,
    "refused": [{"index": 2, "field": "events[2].occurredAt", "reason": "more than 5 minutes in the future"}],
}
WEBHOOK_EXAMPLE: dict[str, Any] = {
    "type": "commission.updated",
    "data": {
        "order_id": EXAMPLE_ORDER_ID,
        "sequence": 3,
        "status": "SUCCESSFUL",
        "commission_status": "SUCCESSFUL",
        "amount": "45.00",
        "currency": "GBP",
    },
}

_IDS = {
    "id": EXAMPLE_ORDER_ID,
    "integration_id": "2351b2dc-6ec0-46a8-97f1-ee851ace2bfb",
    "product_id": EXAMPLE_PRODUCT_ID,
    "category_id": "9fe457b0-af58-46bc-bcab-f00feea7b709",
    "provider_id": "4b389a25-6da8-481e-95ae-884b46219e9f",
    "customer_id": "b2daed7e-75ad-463c-9e74-1d417770cc25",
}
ORDER_ANSWER_EXAMPLE: dict[str, Any] = {
    "order": {
        **_IDS,
        "external_ref": "ord-1001",
        "status": "PENDING",
        "comm_status": "N/A",
        "commission_amount": "45.00",
        "currency": "GBP",
        "created_at": "2026-03-02T10:15:00.120000+00:00",
        "updated_at": "2026-03-02T10:15:00.120000+00:00",
        "kind": "order",
        "failure_reason": None,
        "custom_fields": {},
    },
    "created": True,
}
IDENTIFY_ANSWER_EXAMPLE: dict[str, Any] = {
    "customer": {
        "id": _IDS["customer_id"],
        "kind": "generic",
        "email": "jo@example.com",
        "anonymous_id": None,
        "display_name": "jo@example.com",
        "channel": "web",
        "first_seen": "2026-03-01T18:02:11.500000+00:00",
        "last_seen": "2026-03-02T10:15:00.120000+00:00",
        "created_at": "2026-03-01T18:02:11.500000+00:00",
        "visits": [
            {
                "integration_id": _IDS["integration_id"],
                "integration_name": "Web Marketplace",
                "first_seen": "2026-03-01T18:02:11.500000+00:00",
                "last_seen": "2026-03-02T10:15:00.120000+00:00",
                "visits": 2,
            }
        ],
        "orders": 1,
        "successful_orders": 0,
        "custom_fields": {"loyalty_tier": "gold"},
        "account_currency": "EUR",
    }
}
CONFIG_EXAMPLE: dict[str, Any] = {
    "partner": {"name": "Acme Partners", "primaryColour": "#1E5EFF", "marketplaceUrl": "https://market.example.com"},
    "integration": {"id": _IDS["integration_id"], "name": "Web Marketplace", "channel": "web"},
    "products": [
        {
            "id": EXAMPLE_PRODUCT_ID,
            "name": "Platinum card",
            "category": "Credit Cards",
            "commission": {"amount": "45.00", "currency": "GBP"},
        }
    ],
}

# A worked signature (the test checks it against the standardwebhooks library).
EXAMPLE_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EXAMPLE_WEBHOOK_ID = "msg_2Lh9KRb0pSS8q2V4kWnl3zNlHrG"
EXAMPLE_WEBHOOK_TIMESTAMP = 1772446500


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<signature>` as Standard Webhooks makes it (what the documentation tells providers to do)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _example_webhook_body() -> bytes:
    return json.dumps(WEBHOOK_EXAMPLE, separators=(",", ":")).encode()


# What each field of the webhook body means. The shape is webhooks.CommissionWebhook's (what the gateway
# validates); these notes only explain it, on the fields that carry no description of their own.
_WEBHOOK_NOTES: dict[str, dict[str, str]] = {
    "CommissionWebhook": {"type": "Always `commission.updated`.", "data": "The update of one order."},
    "CommissionData": {
        "order_id": "The order's id, as the partner platform gave it to the provider.",
        "status": "The order's status at the provider.",
        "commission_status": "Omitted: PENDING when the order becomes SUCCESSFUL, else unchanged.",
        "amount": "The commission, a decimal string with at most 2 decimals. Omitted: unchanged.",
        "currency": "ISO 4217; must be the order's currency (else the update is recorded as rejected).",
        "failure_reason": "Why the order failed (with status FAILED).",
    },
}

SIGNING_SAMPLE = """import base64, hashlib, hmac, json, time, uuid
import urllib.request

def send(url: str, secret: str, payload: dict) -> None:
    body = json.dumps(payload).encode()
    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "content-type": "application/json",
        "webhook-id": msg_id,  # keep it for every retry of this event
        "webhook-timestamp": timestamp,  # the time of this attempt
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    })
    urllib.request.urlopen(request)  # 202: verified and queued
"""


# --------------------------------------------------------------------------- the OpenAPI document

_MODELS: list[type[BaseModel]] = [
    api_contracts.NewOrder,
    api_events.EventBatch,
    api_events.EventsAccepted,
    api_contracts.Identify,
    api_contracts.CustomerFields,
    api_contracts.OrderFields,
    webhooks.CommissionWebhook,
    ErrorBody,
    OrderAnswer,
    OrderFieldsAnswer,
    IdentifyAnswer,
    IntegrationConfig,
    WebhookAccepted,
    Health,
    NotReady,
]


def _schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """components.schemas, and each model's `$ref` by class name."""
    mode: JsonSchemaMode = "validation"
    refs, top = models_json_schema(
        [(m, mode) for m in _MODELS], ref_template="#/components/schemas/{model}", by_alias=True
    )
    return {m.__name__: dict(refs[(m, mode)]) for m in _MODELS}, top.get("$defs", {})


def _json(ref: dict[str, Any], examples: dict[str, Any] | None = None, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": ref}
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    elif example is not None:
        media["example"] = example
    return {"application/json": media}


_RETRY_AFTER = {"$ref": "#/components/headers/RetryAfter"}


def _refusal(
    ref: dict[str, Any], description: str, *codes: ErrorCode, sample: tuple[str, str | None] | None = None
) -> dict[str, Any]:
    """An error answer with its codes (also as `x-error-codes`) and an example of the first; `sample`
    gives that example's message and field when the code's usual one does not fit the route."""
    response: dict[str, Any] = {
        "description": description + " Codes: " + ", ".join(c.value for c in codes) + ".",
        "content": _json(ref, example=_error_example(codes[0], sample)),
        "x-error-codes": [c.value for c in codes],
    }
    if {ErrorCode.RATE_LIMITED, ErrorCode.OVERLOADED} & set(codes):
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    return response


def build_openapi(settings: Settings) -> dict[str, Any]:
    refs, schemas = _schemas()
    for model, notes in _WEBHOOK_NOTES.items():
        for name, note in notes.items():
            prop = schemas[model]["properties"].get(name)
            if prop is not None:
                prop.setdefault("description", note)
    err = refs["ErrorBody"]
    request_id = {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}
    api_key: list[dict[str, list[str]]] = [{"apiKey": []}, {"apiKeyHeader": []}]

    def v1_refusals(*extra: tuple[int, str, tuple[ErrorCode, ...]]) -> dict[str, Any]:
        answers = {
            "401": _refusal(err, "No API key, or an unknown or rotated one.", ErrorCode.UNAUTHENTICATED),
            "429": _refusal(
                err,
                f"Over the integration key's limits: {settings.integration_rate:g} requests a second with bursts of "
                f"{settings.integration_burst}, shared by every gateway replica, and at most "
                f"{settings.integration_concurrency} at once per gateway process. Retry after `Retry-After` seconds.",
                ErrorCode.RATE_LIMITED,
            ),
            "503": _refusal(
                err,
                "The gateway is overloaded (Retry-After) or the orders service is unavailable: retry with back-off.",
                ErrorCode.UNAVAILABLE,
                ErrorCode.OVERLOADED,
            ),
        }
        for status, description, codes in extra:
            answers[str(status)] = _refusal(err, description, *codes)
        return dict(sorted(answers.items()))

    body_limit = f"{rest.MAX_BODY // 1024} KiB"
    orders_post = {
        "tags": ["Integrations"],
        "operationId": "createOrder",
        "summary": "Record an order",
        "description": (
            "Records an order placed through the integration whose API key is presented. The organisation and "
            "integration come from the key, never from the body.\n\n"
            "Idempotent on `externalRef`: a retry (even a concurrent one) answers `200` with the first order and "
            "creates nothing, so retry freely after a timeout or a 5xx.\n\n"
            f"The body is a JSON object of at most {body_limit}."
        ),
        "security": api_key,
        "requestBody": {"required": True, "content": _json(refs["NewOrder"], examples=ORDER_EXAMPLES)},
        "responses": {
            "201": {
                "description": "Created.",
                "headers": request_id,
                "content": _json(refs["OrderAnswer"], example=ORDER_ANSWER_EXAMPLE),
            },
            "200": {
                "description": "Already recorded with this externalRef: the first order, unchanged.",
                "headers": request_id,
                "content": _json(refs["OrderAnswer"], example={**ORDER_ANSWER_EXAMPLE, "created": False}),
            },
            **v1_refusals(
                (
                    400,
                    "Not JSON, a commission in another currency than the product's, or a product the partner"
                    " switched off in this integration.",
                    (
                        ErrorCode.MALFORMED_JSON,
                        ErrorCode.CURRENCY_MISMATCH,
                        ErrorCode.PRODUCT_DISABLED,
                    ),
                ),
                (404, "The product is not one of this integration's (`field`: productId).", (ErrorCode.NOT_FOUND,)),
                (413, f"The body is over {body_limit}.", (ErrorCode.TOO_LARGE,)),
                (422, "The body does not validate; `errors` lists every field.", (ErrorCode.INVALID_INPUT,)),
            ),
        },
    }
    batch_limit = f"{api_events.MAX_BATCH_BYTES // (1024 * 1024)} MiB"
    events_post = {
        "tags": ["Integrations"],
        "operationId": "ingestEvents",
        "summary": "Send a batch of events",
        "description": (
            f"Up to {api_events.MAX_EVENTS} events of the integration whose API key is presented (funnel, behaviour "
            "and business events: `eventTypes` in GraphQL lists them). Each event is checked on its own: the answer "
            "(`202`, once the accepted events are stored) gives, for every refused event, its index, the field "
            "and the reason, and a bad event never costs the others their place. Idempotent per event on `id` and "
            "`occurredAt`: a replayed batch is accepted and stores nothing twice.\n\n"
            "Each event's `anonymousId` and/or `email` resolves to the partner's customer (a first visit creates "
            "the anonymous customer; an email identifies or merges as `/v1/customers/identify` does). Orders are "
            "not events: send them to `POST /v1/orders`.\n\n"
            f"The body is a JSON object of at most {batch_limit}."
        ),
        "security": api_key,
        "requestBody": {"required": True, "content": _json(refs["EventBatch"], examples=EVENT_EXAMPLES)},
        "responses": {
            "202": {
                "description": "The accepted events are stored; refused ones are listed.",
                "headers": request_id,
                "content": _json(refs["EventsAccepted"], example=EVENTS_ANSWER_EXAMPLE),
            },
            **v1_refusals(
                (
                    413,
                    f"The body is over {batch_limit}, or holds over {api_events.MAX_EVENTS} events.",
                    (ErrorCode.TOO_LARGE,),
                ),
                (422, 'The body is not `{"events": [...]}` with at least one event.', (ErrorCode.INVALID_INPUT,)),
            ),
        },
    }
    identify_post = {
        "tags": ["Integrations"],
        "operationId": "identifyCustomer",
        "summary": "Record a visit, identify a visitor",
        "description": (
            "Records a visit of the integration by a customer. With both an `anonymousId` and an `email`, the "
            "anonymous customer becomes (or is merged into) the generic customer of that email, with all its "
            "orders and visits. Answers the customer's profile as it now is.\n\n"
            f"The body is a JSON object of at most {body_limit}."
        ),
        "security": api_key,
        "requestBody": {"required": True, "content": _json(refs["Identify"], examples=IDENTIFY_EXAMPLES)},
        "responses": {
            "200": {
                "description": "The customer's profile.",
                "headers": request_id,
                "content": _json(refs["IdentifyAnswer"], example=IDENTIFY_ANSWER_EXAMPLE),
            },
            **v1_refusals(
                (
                    400,
                    "Not JSON, neither an email nor an anonymousId, or a custom field value or account currency "
                    "refused (`field`: `customFields.<key>`, accountCurrency); nothing is recorded.",
                    (
                        ErrorCode.IDENTITY_REQUIRED,
                        ErrorCode.MALFORMED_JSON,
                        ErrorCode.INVALID_INPUT,
                    ),
                ),
                (413, f"The body is over {body_limit}.", (ErrorCode.TOO_LARGE,)),
                (422, "The body does not validate; `errors` lists every field.", (ErrorCode.INVALID_INPUT,)),
            ),
        },
    }

    def id_parameter(name: str, what: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "description": what,
            "schema": {"type": "string", "format": "uuid"},
            "example": _IDS["customer_id"] if name == "customerId" else EXAMPLE_ORDER_ID,
        }

    fields_refusals = (
        (
            400,
            "Not JSON, an id that is not one, or a value refused: an unknown key, a value of the wrong type or not "
            "one of the choices (`field`: `customFields.<key>`), an unknown currency (`field`: accountCurrency). "
            "Nothing is changed.",
            (ErrorCode.INVALID_INPUT, ErrorCode.MALFORMED_JSON, ErrorCode.INVALID_ID),
        ),
        (413, f"The body is over {body_limit}.", (ErrorCode.TOO_LARGE,)),
        (422, "The body does not validate; `errors` lists every field.", (ErrorCode.INVALID_INPUT,)),
    )
    customer_fields_put = {
        "tags": ["Integrations"],
        "operationId": "setCustomerCustomFields",
        "summary": "Set a customer's custom fields and account currency",
        "description": (
            "Sets the named custom fields of a customer of the partner (the `id` of the identify answer): `null` "
            "clears a field, fields not named keep their values. `accountCurrency` sets the currency itemised "
            "reports show the customer's amounts in (`null`: the organisation's base currency; absent: unchanged). "
            "Idempotent. Answers the customer's profile as it now is.\n\n"
            f"The body is a JSON object of at most {body_limit}."
        ),
        "security": api_key,
        "parameters": [id_parameter("customerId", "The customer's id.")],
        "requestBody": {"required": True, "content": _json(refs["CustomerFields"], examples=CUSTOMER_FIELDS_EXAMPLES)},
        "responses": {
            "200": {
                "description": "The customer's profile.",
                "headers": request_id,
                "content": _json(refs["IdentifyAnswer"], example=IDENTIFY_ANSWER_EXAMPLE),
            },
            **v1_refusals(
                *fields_refusals,
                (404, "No such customer of the partner (`field`: customerId).", (ErrorCode.NOT_FOUND,)),
            ),
        },
    }
    order_fields_put = {
        "tags": ["Integrations"],
        "operationId": "setOrderCustomFields",
        "summary": "Set an order's custom fields",
        "description": (
            "Sets the named custom fields of one of this integration's orders (the `id` of the order answer): "
            "`null` clears a field, fields not named keep their values. Idempotent. Answers the order.\n\n"
            f"The body is a JSON object of at most {body_limit}."
        ),
        "security": api_key,
        "parameters": [id_parameter("orderId", "The order's id.")],
        "requestBody": {"required": True, "content": _json(refs["OrderFields"], examples=ORDER_FIELDS_EXAMPLES)},
        "responses": {
            "200": {
                "description": "The order.",
                "headers": request_id,
                "content": _json(refs["OrderFieldsAnswer"], example={"order": ORDER_ANSWER_EXAMPLE["order"]}),
            },
            **v1_refusals(
                *fields_refusals,
                (404, "No such order of this integration (`field`: orderId).", (ErrorCode.NOT_FOUND,)),
            ),
        },
    }
    etag_headers = {
        "ETag": {"description": "Of this answer; send it back in If-None-Match.", "schema": {"type": "string"}},
        "Cache-Control": {"description": "`private, max-age=60`.", "schema": {"type": "string"}},
        "Vary": {"description": "`authorization, x-api-key`.", "schema": {"type": "string"}},
    }
    config_get = {
        "tags": ["Integrations"],
        "operationId": "getIntegrationConfig",
        "summary": "What an embedded integration renders",
        "description": (
            "The partner's name, primary colour (for the integration's calls to action) and marketplace URL, "
            "and the integration's products (their ids are the `productId` of orders).\n\n"
            "Cacheable: every answer carries an `ETag`; send it back in `If-None-Match` and the gateway answers "
            "`304 Not Modified` with no body while nothing changed, so polling costs next to nothing."
        ),
        "security": api_key,
        "parameters": [
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "The ETag of the answer you hold: 304 while it is still current.",
                "schema": {"type": "string"},
                "example": '"7298988a8ed7e94be4a92c2bee23f0c2"',
            }
        ],
        "responses": {
            "200": {
                "description": "The configuration.",
                "headers": {**etag_headers, **request_id},
                "content": _json(refs["IntegrationConfig"], example=CONFIG_EXAMPLE),
            },
            "304": {"description": "Not modified: the ETag sent is current. No body.", "headers": etag_headers},
            **v1_refusals(),
        },
    }

    webhook_limit = f"{webhooks.MAX_BODY // 1024} KiB"
    body = _example_webhook_body()
    example_signature = sign_webhook(EXAMPLE_WEBHOOK_SECRET, EXAMPLE_WEBHOOK_ID, EXAMPLE_WEBHOOK_TIMESTAMP, body)
    webhook_post = {
        "tags": ["Provider webhooks"],
        "operationId": "receiveCommissionWebhook",
        "summary": "A provider updates an order's commission (Standard Webhooks)",
        "description": (
            "Sent by a service provider when an order's status or commission changes, signed as "
            "[Standard Webhooks](https://www.standardwebhooks.com/) specifies. The provider's id "
            "(`prv_...`) and its `whsec_` secret are set up by the partner.\n\n"
            "Signing: decode the base64 part of the secret after `whsec_`; compute HMAC-SHA256 with it over "
            "`{webhook-id}.{webhook-timestamp}.{raw body}` (the body bytes exactly as sent); send "
            "`v1,` followed by the base64 digest in `webhook-signature`. Several space-separated signatures are "
            "accepted (rotating a secret: sign with both). A timestamp more than 5 minutes from the gateway's "
            "clock, an altered byte or a wrong secret is refused with 401 and queues nothing.\n\n"
            f"Worked example: secret `{EXAMPLE_WEBHOOK_SECRET}`, webhook-id `{EXAMPLE_WEBHOOK_ID}`, "
            f"webhook-timestamp `{EXAMPLE_WEBHOOK_TIMESTAMP}`, body `{body.decode()}` give webhook-signature "
            f"`{example_signature}` (sent now, that delivery is refused: its timestamp is long past).\n\n"
            "`202` means verified and queued: the update is applied asynchronously, exactly once per "
            "`webhook-id` however often it is delivered (retry the same id freely), and in the order of "
            "`data.sequence` whatever order deliveries arrive in (older ones are recorded as stale). An update "
            "the order cannot take (an unknown order, another currency, a backward move) is recorded as rejected "
            "with its reason, which the partner's admins see (GraphQL `providerDeliveries`); it is not retried.\n\n"
            f"The body is at most {webhook_limit}."
        ),
        "x-codeSamples": [{"lang": "Python", "label": "Signing and sending", "source": SIGNING_SAMPLE}],
        "security": [],
        "parameters": [
            {
                "name": "provider",
                "in": "path",
                "required": True,
                "description": "The provider's public id.",
                "schema": {"type": "string", "pattern": "^prv_[A-Za-z0-9]{1,64}$"},
                "example": "prv_7Qm2xL",
            },
            {
                "name": "webhook-id",
                "in": "header",
                "required": True,
                "description": "Unique per event (at most 200 visible ASCII characters: no spaces or control "
                "characters); the same id on every retry of it.",
                "schema": {"type": "string", "maxLength": 200, "pattern": "^[!-~]+$"},
                "example": EXAMPLE_WEBHOOK_ID,
            },
            {
                "name": "webhook-timestamp",
                "in": "header",
                "required": True,
                "description": "Unix time in seconds when this delivery was signed (tolerance: 5 minutes).",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "example": str(EXAMPLE_WEBHOOK_TIMESTAMP),
            },
            {
                "name": "webhook-signature",
                "in": "header",
                "required": True,
                "description": "Space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>` signatures.",
                "schema": {"type": "string"},
                "example": example_signature,
            },
        ],
        "requestBody": {"required": True, "content": _json(refs["CommissionWebhook"], example=WEBHOOK_EXAMPLE)},
        "responses": {
            "202": {
                "description": "Verified and queued.",
                "headers": request_id,
                "content": _json(refs["WebhookAccepted"], example={"accepted": True, "webhookId": EXAMPLE_WEBHOOK_ID}),
            },
            "400": _refusal(
                err,
                "A Standard Webhooks header is missing or unusable, or the body is not JSON.",
                ErrorCode.MISSING_HEADERS,
                ErrorCode.INVALID_HEADER,
                ErrorCode.MALFORMED_JSON,
            ),
            "401": _refusal(
                err,
                "Verification failed (signature, secret, or timestamp outside the 5-minute tolerance).",
                ErrorCode.INVALID_SIGNATURE,
            ),
            "404": _refusal(err, "No such provider.", ErrorCode.NOT_FOUND, sample=("unknown provider", "provider")),
            "413": _refusal(
                err,
                f"The body is over {webhook_limit}.",
                ErrorCode.TOO_LARGE,
                sample=(f"webhook body over {webhook_limit}", None),
            ),
            "422": _refusal(
                err,
                "The body does not validate; `errors` lists every field.",
                ErrorCode.INVALID_INPUT,
                sample=("Input should be greater than or equal to 1", "data.sequence"),
            ),
            "503": _refusal(
                err,
                "Not queued (a store is down, or the gateway is overloaded): retry later, with the same webhook-id.",
                ErrorCode.UNAVAILABLE,
                ErrorCode.OVERLOADED,
            ),
        },
    }
    export_get = {
        "tags": ["Exports"],
        "operationId": "downloadExport",
        "summary": "Download an export",
        "description": (
            "The link GraphQL's `requestExport` returns: the token is signed, carries the organisation and the "
            "filter, and is valid for 15 minutes, so the link itself is the credential (no header needed). "
            "The file streams as it is made (CSV or XLSX; a collection as NDJSON or CSV, see Collections)."
        ),
        "security": [],
        "parameters": [
            {
                "name": "token",
                "in": "path",
                "required": True,
                "description": "The signed export token.",
                "schema": {"type": "string"},
            }
        ],
        "responses": {
            "200": {
                "description": "The file, streamed, with `Content-Disposition: attachment`.",
                "headers": {
                    "Content-Disposition": {
                        "description": '`attachment; filename="orders.csv"` (or customers, xlsx).',
                        "schema": {"type": "string"},
                    }
                },
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                        "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                    },
                },
            },
            "400": _refusal(
                err,
                "The export's kind or format is unknown.",
                ErrorCode.UNKNOWN_EXPORT,
                sample=("exports are orders, customers, audit, analytics or insight data, as csv or xlsx", "kind"),
            ),
            "403": _refusal(err, "The link is invalid or has expired.", ErrorCode.INVALID_EXPORT_LINK),
            "429": _refusal(
                err,
                "The organisation already runs its share of exports: retry after Retry-After.",
                ErrorCode.RATE_LIMITED,
                sample=(
                    f"this organisation already runs {settings.export_org_concurrency} exports;"
                    " retry when one has finished",
                    None,
                ),
            ),
            "503": _refusal(
                err, "Too many downloads in progress, or the orders service is unavailable.", ErrorCode.UNAVAILABLE
            ),
        },
    }

    def probe(operation_id: str, summary: str, description: str, *, ready: bool = False) -> dict[str, Any]:
        responses: dict[str, Any] = {
            "200": {"description": "Yes.", "content": _json(refs["Health"], example={"status": "ok"})}
        }
        if ready:
            responses["503"] = {
                "description": "Not ready: a dependency is down (the reason says which).",
                "content": _json(refs["NotReady"], example={"status": "unavailable", "reason": "no answer within 1s"}),
            }
        return {
            "tags": ["Operations"],
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "security": [],
            "responses": responses,
        }

    paths: dict[str, Any] = {
        "/v1/orders": {"post": orders_post},
        "/v1/events": {"post": events_post},
        "/v1/customers/identify": {"post": identify_post},
        "/v1/integration/config": {"get": config_get},
        "/v1/customers/{customerId}/custom-fields": {"put": customer_fields_put},
        "/v1/orders/{orderId}/custom-fields": {"put": order_fields_put},
        "/webhooks/providers/{provider}/commission": {"post": webhook_post},
        "/exports/{token}": {"get": export_get},
        "/healthz": {
            "get": probe("healthz", "Liveness", "The process answers. Never limited, never logged (liveness probes).")
        },
        "/readyz": {
            "get": probe(
                "readyz",
                "Readiness",
                "The gateway can serve: the orders service and Redis answer. Answers within a bound whatever "
                "they do (readiness probes).",
                ready=True,
            )
        },
        "/metrics": {
            "get": {
                "tags": ["Operations"],
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "description": (
                    "Requests by route, method and status with latency, GraphQL operations, admission refusals. "
                    "For the platform's Prometheus: keep it off the public ingress."
                ),
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }

    graphql = (
        "Dashboards use GraphQL at `POST /graphql` with a user's access token (`Authorization: Bearer`, and "
        "`X-Organisation-Id` to choose among the user's organisations); its schema is at `/docs/schema.graphql`. "
        f"Queries are limited to depth {MAX_DEPTH}, {MAX_ALIASES} aliases and {MAX_TOKENS} tokens. "
        "Subscriptions (live updates) run over a WebSocket at `/graphql` with the `graphql-transport-ws` protocol, "
        'the token in the `connection_init` payload (`{"Authorization": "Bearer ..."}`).'
    )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Partner platform gateway",
            "version": "1",
            "summary": "REST for integrations, Standard Webhooks for providers, signed export links.",
            "description": (
                "Integrations send orders and visits with their API key (`/v1`); service providers update "
                "commissions with signed webhooks; exports download from signed links.\n\n"
                'Every refusal answers the same JSON body, `{"error": {"code", "message", "field"}}` '
                "(`errors` lists every field of an invalid body; `retryAfter` comes with 429 and 503 "
                "OVERLOADED): switch on `code`. Every answer carries `X-Request-Id` (send your own to "
                "correlate; quote it when asking for help).\n\n" + graphql
            ),
        },
        "servers": [{"url": settings.gateway_public_url.rstrip("/")}],
        "tags": [
            {"name": "Integrations", "description": "REST for embedded integrations, with the integration's API key."},
            {"name": "Provider webhooks", "description": "Commission updates from service providers."},
            {"name": "Exports", "description": "Signed download links."},
            {"name": "Collections", "description": COLLECTIONS_INTRO},
            {"name": "Operations", "description": "Probes and metrics for the platform's operators."},
        ],
        "paths": paths,
        "x-collections": collections_extension(),
        "components": {
            "schemas": {**schemas, **collection_schemas()},
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "integration API key",
                    "description": (
                        "The integration's API key: `Authorization: Bearer <key>`. Shown once when the integration "
                        "is created or its key rotated (GraphQL `createIntegration`, `rotateIntegrationKey`); a "
                        "rotated key stops working at once."
                    ),
                },
                "apiKeyHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "The same key in `X-API-Key`, for clients that cannot set Authorization.",
                },
            },
            "headers": {
                "RetryAfter": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer", "minimum": 1},
                },
                "RequestId": {
                    "description": "The request's id (yours from X-Request-Id, or one made up); on every answer.",
                    "schema": {"type": "string"},
                },
            },
        },
    }


# --------------------------------------------------------------------------- the documented collections

COLLECTIONS_INTRO = (
    "The documented collections for custom reporting (seed 002), declared once in `shared/collections.py`: this "
    "section, the downloads and the documents forwarded to an organisation's own MongoDB all come from those "
    "declarations. Download one for a date range (whole days in the organisation's time zone, on the collection's "
    "time field) with GraphQL `requestExport(kind: COLLECTION, format: NDJSON | CSV, collectionInput: {collection, "
    "range})`, admins and members (provider users are refused), then `GET /exports/{token}`. NDJSON: one document "
    "a line, every declared field present. CSV: the declared fields as columns in this order; null is empty, "
    "objects and arrays are JSON text, a text cell starting with = + - @ tab or CR is prefixed with an apostrophe. "
    'Decimals are strings (`"12.50"`) with their currency in the field beside them; datetimes ISO-8601 UTC '
    "(`2026-03-02T10:15:00Z`); dates `YYYY-MM-DD`. `_id` is stable: upserting by it is idempotent."
)

_FIELD_SCHEMA: dict[documented.FieldType, dict[str, Any]] = {
    documented.FieldType.STRING: {"type": "string"},
    documented.FieldType.INTEGER: {"type": "integer"},
    documented.FieldType.DECIMAL: {"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?$"},
    documented.FieldType.BOOLEAN: {"type": "boolean"},
    documented.FieldType.DATETIME: {"type": "string", "format": "date-time", "pattern": r"Z$"},
    documented.FieldType.DATE: {"type": "string", "format": "date"},
    documented.FieldType.OBJECT: {"type": "object"},
    documented.FieldType.ARRAY: {"type": "array"},
}


def collection_schema_name(name: str) -> str:
    return f"collection.{name}"


def _field_schema(f: documented.CollectionField) -> dict[str, Any]:
    base = _FIELD_SCHEMA[f.type]
    if f.nullable:
        return {"anyOf": [base, {"type": "null"}], "description": f.meaning}
    return {**base, "description": f.meaning}


def collection_schemas() -> dict[str, dict[str, Any]]:
    """A JSON Schema per collection's documents: every declared field required (nullable ones may be null),
    no other field."""
    return {
        collection_schema_name(c.name): {
            "type": "object",
            "title": c.title,
            "description": c.meaning,
            "properties": {f.name: _field_schema(f) for f in c.fields},
            "required": list(c.field_names),
            "additionalProperties": False,
        }
        for c in documented.COLLECTIONS
    }


def collections_extension() -> list[dict[str, Any]]:
    """`x-collections`: what a JSON Schema cannot say about each collection (its indexes, time field, changes)."""
    return [
        {
            "name": c.name,
            "title": c.title,
            "meaning": c.meaning,
            "source": c.source.value,
            "id": c.id_meaning,
            "timeField": c.time_field,
            "updateMarker": c.update_marker,
            "changesCursor": c.changes_cursor,
            "retentionDays": c.retention_days,
            "indexes": [
                {
                    "name": i.name,
                    "keys": [list(k) for k in i.keys],
                    "meaning": i.meaning,
                    "unique": i.unique,
                    "expireAfterSeconds": i.expire_after_seconds,
                }
                for i in c.indexes
            ],
            "schema": {"$ref": f"#/components/schemas/{collection_schema_name(c.name)}"},
        }
        for c in documented.COLLECTIONS
    ]


# --------------------------------------------------------------------------- the page

_CSS = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa;--accent:#1e5eff}
*{box-sizing:border-box}body{margin:0;font:15px/1.55 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg)}
main{max-width:1040px;margin:0 auto;padding:24px 20px 80px}
nav.toc{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:12px 18px;margin:16px 0}
nav.toc ul{margin:4px 0;padding-left:18px}
h1{margin:0 0 4px}h2{margin-top:40px;border-bottom:1px solid var(--line);padding-bottom:6px}
h3{margin:28px 0 6px;font-size:18px}h4{margin:18px 0 6px;font-size:15px}
section.op{border:1px solid var(--line);border-radius:8px;padding:4px 18px 14px;margin:18px 0}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{background:var(--bg);padding:1px 4px;border-radius:4px}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px 12px;overflow:auto}
pre code{background:none;padding:0}
table{border-collapse:collapse;width:100%;margin:6px 0 10px}
th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}
.method{display:inline-block;min-width:56px;text-align:center;color:#fff;border-radius:4px;padding:1px 6px;
font:600 13px ui-monospace,monospace;margin-right:8px}
.get{background:#1f883d}.post{background:var(--accent)}
.muted{color:var(--muted)}a{color:var(--accent)}
"""


def _inline(text: str) -> str:
    """Escaped text with `code` spans and [links](https://...)."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', out)


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_inline(p)}</p>" for p in text.split("\n\n") if p.strip())


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return f"<pre><code>{html.escape(text, quote=False)}</code></pre>"


def _anchor(method: str, path: str) -> str:
    return method + "-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


class _Page:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def type_of(self, schema: dict[str, Any]) -> tuple[str, bool, dict[str, Any]]:
        """A short type name, whether null is allowed, and the schema of the non-null type."""
        schema = self.resolve(schema)
        options = schema.get("anyOf")
        nullable = False
        if options:
            others = [self.resolve(o) for o in options if o.get("type") != "null"]
            nullable = len(others) < len(options)
            if len(others) == 1:
                inner = {**others[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
                return self.type_of(inner)[0], nullable, inner
            return " or ".join(self.type_of(o)[0] for o in others), nullable, schema
        kind = schema.get("type", "any")
        if "const" in schema:
            kind = json.dumps(schema["const"])
        elif kind == "array":
            kind = self.type_of(schema.get("items", {}))[0] + "[]"
        elif "format" in schema:
            kind = f"{kind} ({schema['format']})"
        return str(kind), nullable, schema

    def field_rows(self, schema: dict[str, Any], prefix: str = "") -> list[str]:
        schema = self.resolve(schema)
        required = set(schema.get("required", ()))
        rows: list[str] = []
        for name, prop in schema.get("properties", {}).items():
            kind, nullable, inner = self.type_of(prop)
            notes = []
            for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("pattern", "pattern")):
                if key in inner:
                    notes.append(f"{label} <code>{html.escape(str(inner[key]))}</code>")
            if "enum" in inner:
                notes.append("one of " + ", ".join(f"<code>{html.escape(str(v))}</code>" for v in inner["enum"]))
            if "default" in inner and inner["default"] is not None:
                notes.append(f"default <code>{html.escape(json.dumps(inner['default']))}</code>")
            description = prop.get("description") or inner.get("description") or ""
            rows.append(
                f"<tr><td><code>{html.escape(prefix + name)}</code></td><td>{html.escape(kind)}"
                f"{' or null' if nullable else ''}</td><td>{'yes' if name in required else 'no'}</td>"
                f"<td>{_inline(description)}{'<br>' if description and notes else ''}"
                f"<span class='muted'>{'; '.join(notes)}</span></td></tr>"
            )
            if inner.get("type") == "object" or "properties" in inner:
                rows.extend(self.field_rows(inner, f"{prefix}{name}."))
            elif inner.get("type") == "array" and "properties" in self.resolve(inner.get("items", {})):
                rows.extend(self.field_rows(inner["items"], f"{prefix}{name}[]."))
        return rows

    def fields(self, schema: dict[str, Any]) -> str:
        rows = self.field_rows(schema)
        if not rows:
            return ""
        head = "<tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>"
        return f"<table>{head}{''.join(rows)}</table>"

    def security(self, operation: dict[str, Any]) -> str:
        requirements = operation.get("security", self.doc.get("security", []))
        if not requirements:
            return "<p><strong>Authentication:</strong> none.</p>"
        schemes = self.doc["components"]["securitySchemes"]
        names = [name for requirement in requirements for name in requirement]
        items = "".join(f"<li>{_inline(schemes[n].get('description', n))}</li>" for n in names)
        return f"<p><strong>Authentication</strong> (any one of):</p><ul>{items}</ul>"

    def parameters(self, operation: dict[str, Any]) -> str:
        params = [self.resolve(p) for p in operation.get("parameters", [])]
        if not params:
            return ""
        rows = "".join(
            f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
            f"<td>{'yes' if p.get('required') else 'no'}</td><td>{_inline(p.get('description', ''))}"
            + (
                f"<br><span class='muted'>e.g. <code>{html.escape(str(p['example']))}</code></span>"
                if "example" in p
                else ""
            )
            + "</td></tr>"
            for p in params
        )
        return (
            "<h4>Parameters and headers</h4><table><tr><th>Name</th><th>In</th><th>Required</th>"
            f"<th>Description</th></tr>{rows}</table>"
        )

    def request(self, operation: dict[str, Any]) -> str:
        body = operation.get("requestBody")
        if not body:
            return ""
        media = body["content"]["application/json"]
        out = ["<h4>Request body <span class='muted'>(application/json)</span></h4>", self.fields(media["schema"])]
        examples = media.get("examples") or ({"example": {"value": media["example"]}} if "example" in media else {})
        for name, example in examples.items():
            out.append(f"<p class='muted'>Example: {html.escape(name)}</p>{_pre(example['value'])}")
        return "".join(out)

    def responses(self, operation: dict[str, Any]) -> str:
        rows, examples = [], []
        for status, raw in operation["responses"].items():
            response = self.resolve(raw)
            headers = ", ".join(f"<code>{html.escape(h)}</code>" for h in response.get("headers", {}))
            media_types = ", ".join(response.get("content", {}))
            rows.append(
                f"<tr><td><strong>{status}</strong></td><td>{_inline(response['description'])}</td>"
                f"<td>{headers}</td><td>{html.escape(media_types)}</td></tr>"
            )
            for media in response.get("content", {}).values():
                if "example" in media:
                    examples.append(f"<p class='muted'>{status}</p>{_pre(media['example'])}")
        table = (
            "<h4>Responses</h4><table><tr><th>Status</th><th>Meaning</th><th>Headers</th><th>Body</th></tr>"
            + "".join(rows)
            + "</table>"
        )
        return table + ("<h4>Response examples</h4>" + "".join(examples) if examples else "")

    def curl(self, method: str, path: str, operation: dict[str, Any]) -> str:
        base = self.doc["servers"][0]["url"]
        params = [self.resolve(p) for p in operation.get("parameters", [])]
        for p in params:
            if p["in"] == "path":
                path = path.replace("{" + p["name"] + "}", str(p.get("example", "...")))
        parts = [f"curl -si {base}{path}" if method == "get" else f"curl -si -X {method.upper()} {base}{path}"]
        if operation.get("security"):
            parts.append('-H "authorization: Bearer $API_KEY"')
        parts += [
            f"-H '{p['name']}: {p.get('example', '...')}'" for p in params if p["in"] == "header" and p["required"]
        ]
        body = operation.get("requestBody")
        if body:
            media = body["content"]["application/json"]
            example = next(iter(media["examples"].values()))["value"] if "examples" in media else media["example"]
            parts.append("-H 'content-type: application/json'")
            parts.append(f"-d '{json.dumps(example, separators=(',', ':'))}'")
        samples = "".join(
            f"<h4>{html.escape(sample.get('label', sample['lang']))}</h4>{_pre(sample['source'])}"
            for sample in operation.get("x-codeSamples", [])
        )
        return "<h4>Try it</h4>" + _pre(" \\\n  ".join(parts)) + samples

    def operation(self, method: str, path: str, operation: dict[str, Any]) -> str:
        return (
            f"<section class='op' id='{_anchor(method, path)}'>"
            f"<h3><span class='method {method}'>{method.upper()}</span><code>{html.escape(path)}</code></h3>"
            f"<p><strong>{_inline(operation.get('summary', ''))}</strong></p>"
            f"{_paragraphs(operation.get('description', ''))}{self.security(operation)}{self.parameters(operation)}"
            f"{self.request(operation)}{self.responses(operation)}{self.curl(method, path, operation)}</section>"
        )

    def collections(self) -> str:
        """The documented collections, from the document's `x-collections` (made from shared/collections.py)."""
        parts = ["<h2 id='collections'>Collections</h2>", _paragraphs(COLLECTIONS_INTRO)]
        parts.append(
            "<ul>"
            + "".join(
                f"<li><a href='#collection-{c['name']}'><code>{c['name']}</code></a>: {html.escape(c['title'])}</li>"
                for c in self.doc["x-collections"]
            )
            + "</ul>"
        )
        for c in self.doc["x-collections"]:
            time_field = f"<code>{c['timeField']}</code>" if c["timeField"] else "none (a snapshot: every document)"
            indexes = "".join(
                f"<tr><td><code>{html.escape(json.dumps(dict(i['keys'])))}</code></td><td>{_inline(i['meaning'])}"
                + (
                    f" <span class='muted'>TTL {i['expireAfterSeconds']} s</span>"
                    if i.get("expireAfterSeconds")
                    else ""
                )
                + "</td></tr>"
                for i in c["indexes"]
            )
            parts.append(
                f"<section class='op' id='collection-{c['name']}'><h3>{html.escape(c['title'])} "
                f"<code>{c['name']}</code></h3>{_paragraphs(c['meaning'])}"
                f"<p><code>_id</code>: {_inline(c['id'])} Date range selects on: {time_field}. "
                f"Changes: {_inline(c['updateMarker'])}. Source: {c['source']}.</p>"
                f"{self.fields(c['schema'])}"
                f"<table><tr><th>Index (MongoDB key spec)</th><th>What it serves</th></tr>{indexes}</table></section>"
            )
        return "".join(parts)

    def errors(self) -> str:
        schema = self.doc["components"]["schemas"]["ErrorBody"]
        rows = "".join(
            f"<tr><td><code>{code.value}</code></td><td>{_inline(meaning)}</td></tr>"
            for code, meaning in ERROR_CODES.items()
        )
        example = _error_example(ErrorCode.INVALID_INPUT)
        return (
            "<h2 id='errors'>Errors</h2>"
            "<p>Every refusal has the same body; switch on <code>error.code</code> (the message is for people "
            "and may change). 429 and 503 <code>OVERLOADED</code> carry a <code>Retry-After</code> header "
            "(seconds) and <code>retryAfter</code> in the body.</p>"
            f"{self.fields(schema)}{_pre(example)}"
            f"<table><tr><th>Code</th><th>Meaning</th></tr>{rows}</table>"
        )

    def render(self, sdl: str) -> str:
        doc = self.doc
        toc, sections = [], []
        for tag in doc["tags"]:
            ops = [
                (method, path, op)
                for path, item in doc["paths"].items()
                for method, op in item.items()
                if tag["name"] in op.get("tags", ())
            ]
            if not ops:
                continue
            toc.append(
                f"<li>{html.escape(tag['name'])}<ul>"
                + "".join(
                    f"<li><a href='#{_anchor(m, p)}'><code>{m.upper()} {html.escape(p)}</code></a></li>"
                    for m, p, _ in ops
                )
                + "</ul></li>"
            )
            sections.append(
                f"<h2 id='tag-{_anchor('', tag['name'])}'>{html.escape(tag['name'])}</h2>"
                f"{_paragraphs(tag.get('description', ''))}" + "".join(self.operation(m, p, op) for m, p, op in ops)
            )
        info = doc["info"]
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(info['title'])} API</title><style>{_CSS}</style></head><body><main>"
            f"<h1>{html.escape(info['title'])} API</h1><p class='muted'>{_inline(info['summary'])}</p>"
            "<p>Machine-readable: <a href='/docs/openapi.json'>/docs/openapi.json</a> (OpenAPI "
            f"{doc['openapi']}) and <a href='/docs/schema.graphql'>/docs/schema.graphql</a> (the GraphQL SDL). "
            f"Base URL: <code>{html.escape(doc['servers'][0]['url'])}</code>.</p>"
            f"{_paragraphs(info['description'])}"
            "<nav class='toc'><strong>Contents</strong><ul>"
            + "".join(toc)
            + "<li><a href='#collections'>Collections</a></li>"
            + "<li><a href='#errors'>Errors</a></li><li><a href='#graphql'>GraphQL schema</a></li></ul></nav>"
            + "".join(sections)
            + self.collections()
            + self.errors()
            + "<h2 id='graphql'>GraphQL schema</h2>"
            '<p>The dashboard\'s API: <code>POST /graphql</code> with <code>{"query", "variables", '
            '"operationName"}</code> and a user\'s access token. The schema below is also served as '
            "<a href='/docs/schema.graphql'>/docs/schema.graphql</a> for code generators; introspection is "
            "off in production. Subscriptions: a WebSocket at <code>/graphql</code>, protocol "
            "<code>graphql-transport-ws</code>, the token in the <code>connection_init</code> payload.</p>"
            + _pre(sdl)
            + "</main></body></html>"
        )


def render_page(doc: dict[str, Any], sdl: str) -> str:
    return _Page(doc).render(sdl)


# --------------------------------------------------------------------------- routes


def routes(schema: strawberry.Schema, settings: Settings) -> list[Route]:
    """`/docs`, `/docs/openapi.json` and `/docs/schema.graphql`, rendered once, here."""
    doc = build_openapi(settings)
    sdl = schema.as_str()
    openapi_body = json.dumps(doc, indent=2, ensure_ascii=False).encode()
    page = render_page(doc, sdl)
    cached = {"cache-control": CACHE_CONTROL}

    async def docs_page(request: Request) -> Response:
        return HTMLResponse(page, headers={**cached, "content-security-policy": PAGE_CSP})

    async def openapi_json(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json", headers=cached)

    async def schema_graphql(request: Request) -> Response:
        return Response(sdl, media_type="text/plain; charset=utf-8", headers=cached)

    return [
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs/schema.graphql", schema_graphql, methods=["GET"]),
    ]
