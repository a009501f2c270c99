"""Entry points for embedded integrations (reached through the gateway's /v1 routes).

The integration's API key is resolved here, by the service that stores its hash; the
organisation and integration come from the key, never from the request body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from starlette.routing import Route

from services.orders.domain.commission import Status
from services.orders.domain.filters import OrderKind
from services.orders.repository import catalogue, customers, organisations
from services.orders.service import custom_fields as custom_field_service
from services.orders.service import customers as customer_service
from services.orders.service import orders as order_service
from shared import custom_fields as custom_field_rules
from shared.db import system_tx, tenant_tx
from shared.errors import DomainError, ErrorCode, Unauthenticated
from shared.http import JSON
from shared.service.endpoint import Call, system_endpoint
from shared.text import PlainText

# Orders are dated within what the dashboard can show (its date ranges run from 2000) and what every
# store and library on the way can hold (Python's datetime ends at year 1 in UTC, PostgreSQL's elsewhere).
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
_NUMERIC = re.compile(r"\s*[-+]?[0-9]+(\.[0-9]*)?\s*")


def rfc3339_text(value: Any) -> Any:
    """A date-time arrives as RFC 3339 text; pydantic would also take a number (or numeric text) as Unix
    seconds or milliseconds, guessing which from its size."""
    if value is None:
        return None
    if not isinstance(value, str) or _NUMERIC.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, such as 2026-03-01T09:30:00Z")
    return value


class CustomerRef(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    email: EmailStr | None = None
    anonymous_id: PlainText | None = Field(default=None, alias="anonymousId", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one(self) -> CustomerRef:
        if not self.email and not self.anonymous_id:
            raise ValueError("give an email or an anonymousId")
        return self


class Commission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
    currency: str = Field(pattern="^[A-Z]{3}$")


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    external_ref: PlainText = Field(alias="externalRef", min_length=1, max_length=200)
    product_id: UUID = Field(alias="productId")
    customer: CustomerRef
    status: Status = Status.PENDING
    commission: Commission | None = None
    occurred_at: AwareDatetime | None = Field(default=None, alias="occurredAt")
    channel: PlainText | None = Field(default=None, min_length=1, max_length=50)
    kind: OrderKind = OrderKind.order
    failure_reason: PlainText | None = Field(default=None, alias="failureReason", min_length=1, max_length=500)

    # Field validators, so that a refusal names its field.
    @field_validator("occurred_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        return rfc3339_text(value)

    @field_validator("occurred_at")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value < EARLIEST_OCCURRED_AT:
            raise ValueError("must not be before 2000-01-01T00:00:00Z")
        if value > datetime.now(UTC) + timedelta(minutes=5):
            raise ValueError("must not be in the future")
        return value

    @field_validator("failure_reason")
    @classmethod
    def _failed_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        status = info.data.get("status")  # absent when the status itself was refused
        if value and status is not None and status is not Status.FAILED:
            raise ValueError("only for a FAILED order")
        return value


class Identify(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    anonymous_id: PlainText | None = Field(default=None, alias="anonymousId", min_length=1, max_length=200)
    email: EmailStr | None = None
    channel: PlainText | None = Field(default=None, min_length=1, max_length=50)
    custom_fields: dict[str, Any] | None = Field(
        default=None, alias="customFields", max_length=custom_field_rules.MAX_PER_ENTITY
    )
    account_currency: str | None = Field(default=None, alias="accountCurrency", pattern="^[A-Z]{3}$")


class CustomerFields(BaseModel):
    """`PUT /v1/customers/{id}/custom-fields`: some custom fields (null clears one) and/or the account currency."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, alias="customFields", max_length=custom_field_rules.MAX_PER_ENTITY
    )
    account_currency: str | None = Field(default=None, alias="accountCurrency", pattern="^[A-Z]{3}$")


class OrderFields(BaseModel):
    """`PUT /v1/orders/{id}/custom-fields`: some custom fields (null clears one)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    custom_fields: dict[str, Any] = Field(alias="customFields", max_length=custom_field_rules.MAX_PER_ENTITY)


def _currency(body: Identify | CustomerFields) -> str | custom_field_service.Keep | None:
    """The account currency to set: absent keeps it, null sets it back to the organisation's base currency."""
    if "account_currency" not in body.model_fields_set:
        return custom_field_service.KEEP
    return custom_field_service.check_currency(body.account_currency)


async def _integration(call: Call) -> tuple[UUID, UUID]:
    """The organisation and integration of the API key the gateway forwarded."""
    key = call.request.headers.get("x-integration-key", "")
    if not key:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "integration API key required", "apiKey")
    async with system_tx(call.pool) as conn:
        found = await catalogue.resolve_api_key(conn, key)
    if found is None:
        raise Unauthenticated("unknown integration API key", "apiKey")
    return found


@system_endpoint(callers=frozenset({"gateway"}))
async def create_order(call: Call) -> Any:
    org_id, integration_id = await _integration(call)
    body = call.parse(NewOrder)
    async with tenant_tx(call.pool, org_id) as conn:
        order, created = await order_service.create(
            conn,
            org_id,
            integration_id,
            external_ref=body.external_ref,
            product_id=body.product_id,
            email=str(body.customer.email) if body.customer.email else None,
            anonymous_id=body.customer.anonymous_id,
            status=body.status,
            amount=body.commission.amount if body.commission else None,
            currency=body.commission.currency if body.commission else None,
            created_at=body.occurred_at,
            channel=body.channel or await catalogue.integration_channel(conn, org_id, integration_id),
            kind=body.kind.value,
            failure_reason=body.failure_reason,
        )
    return JSON({"order": order, "created": created}, status_code=201 if created else 200)


@system_endpoint(callers=frozenset({"gateway"}))
async def identify(call: Call) -> Any:
    org_id, integration_id = await _integration(call)
    body = call.parse(Identify)
    if not body.email and not body.anonymous_id:
        raise DomainError(ErrorCode.IDENTITY_REQUIRED, "give an email or an anonymousId", "anonymousId")
    currency = _currency(body)
    async with tenant_tx(call.pool, org_id) as conn:
        customer_id = await customer_service.identify(
            conn,
            org_id,
            email=str(body.email) if body.email else None,
            anonymous_id=body.anonymous_id,
            integration_id=integration_id,
            channel=body.channel or await catalogue.integration_channel(conn, org_id, integration_id),
            seen_at=datetime.now(UTC),
        )
        if body.custom_fields or not isinstance(currency, custom_field_service.Keep):
            # In the identify's transaction: a refused value leaves no visit behind either.
            await custom_field_service.set_customer(conn, org_id, customer_id, body.custom_fields, currency)
        profile = await customers.profile(conn, org_id, customer_id)
    return {"customer": profile}


@system_endpoint(callers=frozenset({"gateway"}))
async def set_customer_fields(call: Call) -> Any:
    """An integration sets a customer's custom fields and/or account currency; answers the profile."""
    org_id, _ = await _integration(call)
    customer_id = call.path_uuid("customer_id")
    body = call.parse(CustomerFields)
    currency = _currency(body)
    async with tenant_tx(call.pool, org_id) as conn:
        updated = await custom_field_service.set_customer(conn, org_id, customer_id, body.custom_fields, currency)
        profile = await customers.profile(conn, org_id, updated["id"])
    return {"customer": profile}


@system_endpoint(callers=frozenset({"gateway"}))
async def set_order_fields(call: Call) -> Any:
    """An integration sets custom fields of one of its own orders; answers the order."""
    org_id, integration_id = await _integration(call)
    order_id = call.path_uuid("order_id")
    body = call.parse(OrderFields)
    async with tenant_tx(call.pool, org_id) as conn:
        order = await custom_field_service.set_order(conn, org_id, order_id, body.custom_fields, integration_id)
    return {"order": order}


@system_endpoint(callers=frozenset({"gateway"}))
async def integration_config(call: Call) -> Any:
    """Settings an embedded integration renders, and its products (only those switched on)."""
    org_id, integration_id = await _integration(call)
    async with tenant_tx(call.pool, org_id) as conn:
        org = await organisations.get(conn, org_id)
        integration = (await catalogue.integrations_by_ids(conn, org_id, [integration_id]))[0]
        products = await catalogue.list_products(conn, org_id, integration_id, enabled_only=True)
        categories = {c["id"]: c["name"] for c in await catalogue.list_categories(conn, org_id)}
    return {
        "partner": {
            "name": org["name"],
            "primaryColour": org["primary_colour"],
            "marketplaceUrl": org["marketplace_url"],
        },
        "integration": {"id": integration["id"], "name": integration["name"], "channel": integration["channel"]},
        "products": [
            {
                "id": p["id"],
                "name": p["name"],
                "category": categories.get(p["category_id"]),
                "commission": {"amount": p["commission_rate"], "currency": p["currency"]},
            }
            for p in products
        ],
    }


routes = [
    Route("/internal/ingest/orders", create_order, methods=["POST"]),
    Route("/internal/ingest/customers/identify", identify, methods=["POST"]),
    Route("/internal/ingest/config", integration_config, methods=["GET"]),
    Route("/internal/ingest/customers/{customer_id}/custom-fields", set_customer_fields, methods=["PUT"]),
    Route("/internal/ingest/orders/{order_id}/custom-fields", set_order_fields, methods=["PUT"]),
]
