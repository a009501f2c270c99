"""Names the gateway and a service's internal API must agree on, declared once.

Like the event contracts (`shared/messaging/contracts.py`), this is code services and the
gateway share about each other's APIs, never behaviour.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field


class OrderRelation(StrEnum):
    """Rows the orders list can bring along with a page (`expand`), and the batch route of each.

    The value is the relation's field name on an order (`<value>_id` is its key column);
    `batch_kind` names the `/internal/<kind>/batch` route that loads the same rows by id.
    """

    CUSTOMER = "customer"
    INTEGRATION = "integration"
    CATEGORY = "category"
    PRODUCT = "product"

    @property
    def batch_kind(self) -> str:
        return _BATCH_KIND[self]


_BATCH_KIND = {
    OrderRelation.CUSTOMER: "customers",
    OrderRelation.INTEGRATION: "integrations",
    OrderRelation.CATEGORY: "categories",
    OrderRelation.PRODUCT: "products",
}


# --------------------------------------------------------------------------- public REST request bodies
#
# The bodies integrations send to the gateway's `/v1` routes, which the gateway forwards untouched to the
# orders service (services/orders/api/ingest.py). The gateway may not import a service, so the shape is
# declared here: the gateway's API documentation (services/gateway/docs.py) is generated from these models,
# and tests/services/gateway/test_docs.py fails as soon as the service's own models accept a different
# shape. Shape only: the service's rules (an email or an anonymousId, no occurredAt in the future, the
# product's currency) are its own, and are stated here in the descriptions the documentation shows.


class CustomerRef(BaseModel):
    """Who placed the order: an email, an anonymous visitor id, or both."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    email: EmailStr | None = Field(
        default=None, description="The customer's email; orders with the same email share one generic customer."
    )
    anonymous_id: str | None = Field(
        default=None,
        alias="anonymousId",
        min_length=1,
        max_length=200,
        description="The integration's id for an anonymous visitor (a cookie or device id). "
        "Give an email, an anonymousId or both.",
    )


class NewOrderCommission(BaseModel):
    """The commission of this order, when it differs from the product's rate."""

    model_config = ConfigDict(extra="forbid")
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] = Field(
        description='A decimal amount with at most 2 decimals; send it as a string ("45.00") to keep it exact.'
    )
    currency: str = Field(
        pattern="^[A-Z]{3}$", description="ISO 4217 code; must be the product's currency (else CURRENCY_MISMATCH)."
    )


class NewOrder(BaseModel):
    """`POST /v1/orders`: an order placed through an integration."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    external_ref: str = Field(
        alias="externalRef",
        min_length=1,
        max_length=200,
        description="The integration's own order reference. Idempotency key: a retry with the same "
        "externalRef answers 200 with the first order and creates nothing.",
    )
    product_id: UUID = Field(
        alias="productId",
        description="One of the integration's products (GET /v1/integration/config lists them).",
    )
    customer: CustomerRef
    status: Literal["PENDING", "SUCCESSFUL", "FAILED"] = Field(
        default="PENDING",
        description="The order's status; commission becomes PENDING once the order is SUCCESSFUL.",
    )
    commission: NewOrderCommission | None = Field(
        default=None, description="Defaults to the product's commission rate and currency."
    )
    occurred_at: AwareDatetime | None = Field(
        default=None,
        alias="occurredAt",
        description="When the order was placed: RFC 3339 text with an offset (not a number), kept to the "
        "microsecond; defaults to now, may be in the past (from 2000-01-01T00:00:00Z), not more than "
        "5 minutes in the future.",
    )
    channel: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Where the order came from; defaults to the integration's channel.",
    )
    kind: Literal["order", "sign_up"] = Field(
        default="order", description="What the customer did through the integration: an order or a sign-up."
    )
    failure_reason: str | None = Field(
        default=None,
        alias="failureReason",
        min_length=1,
        max_length=500,
        description="Why the order failed; only with status FAILED.",
    )


# Custom fields (shared/custom_fields.py): the partner's admins define them in the dashboard (GraphQL
# `defineCustomField`); integrations set values by key.
MAX_CUSTOM_FIELDS = 50
CUSTOM_FIELDS_NOTE = (
    "Custom field values by key (GraphQL `customFields(entity)` lists the keys and types): text (at most 500 "
    "characters), number (within ±2^53), date (YYYY-MM-DD), boolean, or one of a choice field's choices. "
    "`null` clears a field; fields not named keep their values. An unknown key or a value of the wrong type is "
    "refused (INVALID_INPUT naming `customFields.<key>`) and nothing is changed."
)
ACCOUNT_CURRENCY_NOTE = (
    "The customer's account currency (ISO 4217; one of the platform's currencies): itemised reports show the "
    "customer's amounts in it. `null` sets it back to the organisation's base currency; absent leaves it as it is."
)


class Identify(BaseModel):
    """`POST /v1/customers/identify`: a visit, and a visitor who (now) gives an email."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    anonymous_id: str | None = Field(
        default=None,
        alias="anonymousId",
        min_length=1,
        max_length=200,
        description="The visitor's anonymous id. With an email, the anonymous customer is merged into "
        "the generic customer of that email, orders included.",
    )
    email: EmailStr | None = Field(
        default=None, description="Give an email, an anonymousId or both (else IDENTITY_REQUIRED)."
    )
    channel: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Where the visit happened; defaults to the integration's channel.",
    )
    custom_fields: dict[str, Any] | None = Field(
        default=None,
        alias="customFields",
        max_length=MAX_CUSTOM_FIELDS,
        description=CUSTOM_FIELDS_NOTE,
    )
    account_currency: str | None = Field(
        default=None, alias="accountCurrency", pattern="^[A-Z]{3}$", description=ACCOUNT_CURRENCY_NOTE
    )


class CustomerFields(BaseModel):
    """`PUT /v1/customers/{customerId}/custom-fields`: some of a customer's custom fields, and/or their account
    currency."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, alias="customFields", max_length=MAX_CUSTOM_FIELDS, description=CUSTOM_FIELDS_NOTE
    )
    account_currency: str | None = Field(
        default=None, alias="accountCurrency", pattern="^[A-Z]{3}$", description=ACCOUNT_CURRENCY_NOTE
    )


class OrderFields(BaseModel):
    """`PUT /v1/orders/{orderId}/custom-fields`: some of an order's custom fields."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    custom_fields: dict[str, Any] = Field(
        alias="customFields", max_length=MAX_CUSTOM_FIELDS, description=CUSTOM_FIELDS_NOTE
    )
