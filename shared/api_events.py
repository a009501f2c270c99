"""The body of `POST /v1/events`, declared once for the gateway (its API documentation) and the insights
service (which validates each event of a batch on its own, so one bad event never costs the others).

Shape only, like `shared/api_contracts.py`: the rules that need the catalogue, the clock or the organisation
(known type, time window, amount only on types that carry money, values that look like data typed into a
provider's journey) are the insights service's, stated here in the descriptions the documentation shows.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
)

from shared.text import PlainText, no_control_characters

MAX_EVENTS = 1000
# 1,000 events of about 1 KiB each, and room for their properties: the gateway refuses a larger body (413).
MAX_BATCH_BYTES = 2 * 1024 * 1024
MAX_PROPERTIES = 50
MAX_PROPERTY_KEY = 64
MAX_PROPERTY_TEXT = 500
MAX_ITEMS = 100
PROPERTY_KEY = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
# Property numbers are JSON numbers, which readers hold as doubles (JavaScript, and orjson beyond 64-bit
# integers): beyond 2^53 they lose digits, so what is stored would not be what was sent. Larger ones go as text.
MAX_PROPERTY_NUMBER = 2**53 - 1
_NUMERIC = re.compile(r"\s*[-+]?[0-9]+(\.[0-9]*)?\s*")

Text200 = Annotated[PlainText, Field(min_length=1, max_length=200)]
Amount = Annotated[Decimal, Field(ge=0, lt=Decimal("1e12"), max_digits=14, decimal_places=2, allow_inf_nan=False)]


def _property_value(value: Any) -> Any:
    """One check per value, so a refusal names `properties.<key>` once (a union would name each branch)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_PROPERTY_TEXT:
            raise ValueError(f"a text value has at most {MAX_PROPERTY_TEXT} characters")
        return no_control_characters(value)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if abs(value) > MAX_PROPERTY_NUMBER:
            raise ValueError(
                f"a number is at most {MAX_PROPERTY_NUMBER} in size (2^53-1: beyond, JSON readers lose digits); "
                "send a larger one as text"
            )
        return value
    raise ValueError("must be text, a number, true/false or null: properties are flat")


PropertyValue = Annotated[
    Any,
    PlainValidator(_property_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_PROPERTY_TEXT},
                {"type": "boolean"},
                {"type": "integer", "minimum": -MAX_PROPERTY_NUMBER, "maximum": MAX_PROPERTY_NUMBER},
                {"type": "number", "minimum": -MAX_PROPERTY_NUMBER, "maximum": MAX_PROPERTY_NUMBER},
                {"type": "null"},
            ]
        }
    ),
]


def _rfc3339_text(value: Any) -> Any:
    """A date-time arrives as RFC 3339 text; pydantic would also take a number (or numeric text) as Unix
    seconds or milliseconds, guessing which from its size."""
    if not isinstance(value, str) or _NUMERIC.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, such as 2026-03-01T09:30:00Z")
    return value


class Device(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: Text200 = Field(description="The integration's id of the device (a cookie or app installation id).")
    platform: Annotated[PlainText, Field(max_length=50)] | None = Field(default=None, description="e.g. web, ios.")
    user_agent: Annotated[PlainText, Field(max_length=500)] | None = Field(default=None, alias="userAgent")


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    product_id: UUID | None = Field(default=None, alias="productId")
    quantity: int = Field(default=1, ge=1, le=1_000_000, strict=True)  # strict: true is not 1
    amount: Amount | None = Field(default=None, description="Decimal string with at most 2 decimals.")


class IncomingEvent(BaseModel):
    """One event of a batch."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: Text200 = Field(
        description="Your idempotency key, unique per integration: an event sent again (same id and "
        "occurredAt) is accepted and stored once."
    )
    type: Annotated[PlainText, Field(min_length=1, max_length=64)] = Field(
        description="An event type of `eventTypes` (funnel, behaviour or business), or a custom behaviour "
        "name `custom:<name>`. `order`, `order_placed` and `order_successful` come from POST /v1/orders."
    )
    occurred_at: Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)] = Field(
        alias="occurredAt",
        description="When it happened: RFC 3339 text with its offset (not a number). At most 90 days old (raw "
        "retention) and at most 5 minutes ahead of the platform's clock.",
    )
    anonymous_id: Text200 | None = Field(default=None, alias="anonymousId")
    email: EmailStr | None = Field(default=None, description="Give an anonymousId, an email or both.")
    product_id: UUID | None = Field(default=None, alias="productId", description="A product of your organisation.")
    amount: Amount | None = Field(
        default=None, description="For types that carry money only, with `currency`; a decimal string."
    )
    currency: Annotated[str, Field(pattern="^[A-Z]{3}$")] | None = Field(default=None, description="ISO 4217.")
    entity_id: Text200 | None = Field(
        default=None,
        alias="entityId",
        description="A business entity's id (required on business events): an entity counts once per state group.",
    )
    state: Annotated[PlainText, Field(min_length=1, max_length=50)] | None = Field(
        default=None,
        description="A business entity's state (required on business events; one of the type's `states`, e.g. "
        "posted): insights count final states only (`eventTypes` says the rule per type).",
    )
    items: list[LineItem] | None = Field(
        default=None,
        max_length=MAX_ITEMS,
        description=f"At most {MAX_ITEMS} line items; on business events, only types with line items (invoice, "
        "credit_note, purchase) take them.",
    )
    device: Device | None = None
    fields: dict[str, PropertyValue] = Field(
        default_factory=dict,
        max_length=MAX_PROPERTIES,
        description="Business events only: the type's own fields as `eventTypes` lists them (e.g. an invoice's "
        "number and dueDate, a subscription's plan and period), each of its kind (text, number, date as "
        "YYYY-MM-DD, or one of an enum's values); required ones must be present, unknown names are refused.",
    )
    custom_fields: dict[str, PropertyValue] = Field(
        default_factory=dict,
        alias="customFields",
        max_length=MAX_PROPERTIES,
        description="Business events only: the organisation's custom-field values of the entity, flat, bounded as "
        "`properties`.",
    )
    account_currency: Annotated[str, Field(pattern="^[A-Z]{3}$")] | None = Field(
        default=None, alias="accountCurrency", description="Business events only: the customer's account currency."
    )
    properties: dict[str, PropertyValue] = Field(
        default_factory=dict,
        max_length=MAX_PROPERTIES,
        description=f"Flat: at most {MAX_PROPERTIES} keys of at most {MAX_PROPERTY_KEY} characters "
        f"({PROPERTY_KEY}), values a string of at most {MAX_PROPERTY_TEXT} characters (no control characters), "
        f"a number of at most {MAX_PROPERTY_NUMBER} in size, true/false or null. Never a value the customer "
        "typed into a provider's journey: values that look like card numbers, IBANs, National Insurance "
        "numbers or dates of birth are refused.",
    )

    @field_validator("properties", "fields", "custom_fields")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.fullmatch(PROPERTY_KEY, key):  # fullmatch: `$` alone lets a trailing newline through
                raise ValueError(f"property name {key[:70]!r} must match {PROPERTY_KEY}")
        return value


class EventBatch(BaseModel):
    """The body of POST /v1/events (as documented: the service validates each event on its own)."""

    model_config = ConfigDict(extra="forbid")
    events: list[IncomingEvent] = Field(
        min_length=1,
        max_length=MAX_EVENTS,
        description=f"1 to {MAX_EVENTS} events, each validated on its own: a bad one is refused alone.",
    )


class RefusedEvent(BaseModel):
    index: int = Field(description="The event's position in `events`, from 0.")
    field: str = Field(description="e.g. events[3].occurredAt")
    reason: str


class EventsAccepted(BaseModel):
    """The answer to POST /v1/events (202), once the accepted events are stored."""

    accepted: int = Field(description="Events that passed every check (stored now, or already stored).")
    stored: int = Field(description="Events stored by this request.")
    duplicates: int = Field(description="Accepted events already stored (same id and occurredAt): nothing stored.")
    refused: list[RefusedEvent]
