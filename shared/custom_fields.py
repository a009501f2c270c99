"""Custom fields: which entities have them, their value types, and checking a value against a definition.

Definitions are owned by the orders service (it stores them and publishes `custom_field.*` events); values
live where their entity lives: customers' and orders' in the orders service, business entities' on their
events in the insights service. Both check a value with `check_values` here, so a value one service accepts
is never one the other refuses. The entity names are declared here rather than imported from the insights
service's catalogue (services/insights/domain/business.py) because services never import each other;
tests/shared/test_custom_field_rules.py keeps the two lists equal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from shared.errors import DomainError, ErrorCode

CUSTOMER = "customer"
ORDER = "order"
# The business event types of seed 002 (the insights service's catalogue), `order` among them.
BUSINESS_ENTITIES = (
    "purchase",
    "achievement",
    "order",
    "service_request",
    "activity",
    "subscription",
    "invoice",
    "credit_note",
    "payment",
    "refund",
    "top_up",
    "award",
    "spend",
    "donation",
    "usage",
    "pass",
    "lead",
    "inventory_item",
)
# Every entity a custom field can be defined on: customers (contacts), then each business entity type.
ENTITIES: tuple[str, ...] = (CUSTOMER, *BUSINESS_ENTITIES)

MAX_PER_ENTITY = 50
MAX_NAME = 100
MAX_KEY = 64
MAX_CHOICES = 100
MAX_CHOICE = 100
MAX_TEXT = 500
# Numbers a JSON reader in any language holds exactly (as the events' properties: ±2^53).
MAX_NUMBER = 2**53

# The path a value's errors name: `customFields.<key>`.
VALUES_FIELD = "customFields"


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"


@dataclass(frozen=True)
class Definition:
    """What a value of one custom field must be."""

    key: str
    type: FieldType
    choices: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Definition:
        return cls(key=str(row["key"]), type=FieldType(row["type"]), choices=tuple(row.get("choices") or ()))


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(name: str) -> str:
    """The key of a field named `name`: lower-case letters, digits and underscores ("Loyalty tier" → loyalty_tier).

    Keys are what reports, exports and the API name a field by, so they never change once made (a rename keeps
    the key). Empty when the name has no letter or digit (the caller refuses it)."""
    return _NOT_SLUG.sub("_", name.strip().lower()).strip("_")[:MAX_KEY].rstrip("_")


def _refuse(field: str, reason: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, f"{field}: {reason}", field)


def check_value(definition: Definition, value: Any, field: str) -> Any:
    """`value` as stored for `definition` (a date as ISO text, a whole float as an int), or a refusal naming
    `field`. None is not a value: callers treat it as "clear this field" before asking."""
    kind = definition.type
    if kind is FieldType.TEXT:
        if not isinstance(value, str):
            raise _refuse(field, "must be text")
        if not value.strip() or len(value) > MAX_TEXT:
            raise _refuse(field, f"must be 1 to {MAX_TEXT} characters")
        if any(ord(c) < 32 and c not in "\t\n" for c in value):
            raise _refuse(field, "must not hold control characters")
        return value
    if kind is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(field, "must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise _refuse(field, "must be a finite number")
        if abs(value) > MAX_NUMBER:
            raise _refuse(field, "must be within ±2^53")
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if kind is FieldType.DATE:
        if not isinstance(value, str) or len(value) != 10:
            raise _refuse(field, "must be a date, YYYY-MM-DD")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _refuse(field, "must be a date, YYYY-MM-DD") from None
    if kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise _refuse(field, "must be true or false")
        return value
    if not isinstance(value, str) or value not in definition.choices:
        raise _refuse(field, "must be one of " + ", ".join(definition.choices))
    return value


def check_values(
    definitions: Iterable[Definition], values: Mapping[str, Any], prefix: str = VALUES_FIELD
) -> dict[str, Any]:
    """The values to write, checked against the entity's definitions: each as `check_value` stores it, None
    where the value clears the field. A key no definition has is refused naming `<prefix>.<key>`; keys are
    checked in sorted order, so the same input is always refused for the same reason."""
    by_key = {d.key: d for d in definitions}
    out: dict[str, Any] = {}
    for key in sorted(values):
        field = f"{prefix}.{key}"
        definition = by_key.get(key)
        if definition is None:
            raise _refuse(field, "no custom field has this key")
        value = values[key]
        out[key] = None if value is None else check_value(definition, value, field)
    return out


def merged(current: Mapping[str, Any], checked: Mapping[str, Any]) -> dict[str, Any]:
    """`current` values with `checked` applied (None clears a field)."""
    out = {k: v for k, v in current.items() if k not in checked}
    out.update({k: v for k, v in checked.items() if v is not None})
    return dict(sorted(out.items()))
