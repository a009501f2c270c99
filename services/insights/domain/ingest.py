"""The rules an event must meet beyond its shape (`shared/api_events.py`): each failure names the field.

A batch is judged event by event: a refused event never costs the others their place. Its shapes are checked
in one pydantic call for the whole list (a call per event cost a third of the batch's validation); only a
batch with a malformed event is checked again event by event, so refusals name the index and field as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from services.insights.domain import catalogue
from services.insights.domain.business import BusinessType, FieldKind
from shared.api_events import IncomingEvent
from shared.money import CURRENCIES

RAW_RETENTION = timedelta(days=90)
FUTURE_TOLERANCE = timedelta(minutes=5)

# Values a customer may have typed into a provider's journey. The profile "will not include any subsequent
# data the user enters on a given service provider journey": behaviour events name steps and fields, never
# their values, and values that look like such data are refused.
_CARD = re.compile(r"^(?:\d[ -]?){12,18}\d$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_NINO = re.compile(r"^(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")
_BIRTH_KEY = re.compile(r"(dob|birth)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[ -]")

_EVENTS: TypeAdapter[list[IncomingEvent]] = TypeAdapter(list[IncomingEvent])


@dataclass(frozen=True)
class Refusal:
    index: int
    field: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(value: str) -> bool:
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def journey_data(key: str, value: Any, forbidden_keys: frozenset[str]) -> str | None:
    """Why a property looks like data typed into a provider's journey, or None."""
    if key.lower() in forbidden_keys:
        return f"property {key!r} is on the list of keys never stored (INSIGHTS_FORBIDDEN_PROPERTY_KEYS)"
    if _BIRTH_KEY.search(key) and value not in (None, "", False):
        return f"property {key!r} looks like a date of birth: the profile never holds journey data"
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 4111111111111111.0 is the card number too
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip()
    compact = _SEPARATORS.sub("", text).upper()
    if _CARD.match(text) and luhn_ok(compact):
        return f"property {key!r} looks like a card number: the profile never holds journey data"
    if _IBAN.match(compact) and iban_ok(compact):
        return f"property {key!r} looks like an IBAN: the profile never holds journey data"
    if _NINO.match(compact):
        return f"property {key!r} looks like a National Insurance number: the profile never holds journey data"
    return None


def _field(loc: Iterable[Any]) -> str:
    """pydantic's location as the API names fields: `items[0].productId`, as the product check names it."""
    names = {
        "occurred_at": "occurredAt",
        "anonymous_id": "anonymousId",
        "product_id": "productId",
        "entity_id": "entityId",
        "user_agent": "userAgent",
        "custom_fields": "customFields",
        "account_currency": "accountCurrency",
    }
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else f".{names.get(str(p), str(p))}"
    return out.lstrip(".")


def validate_batch(
    raw: Sequence[Any], now: datetime, forbidden_keys: frozenset[str]
) -> tuple[list[tuple[int, IncomingEvent]], list[Refusal]]:
    """The batch's valid events with their index, and every refusal of the others (each naming its field).

    Exactly what `validate` says of each event in turn: the list is validated at once when every event is
    well-formed (the common case), and event by event only when one is not."""
    valid: list[tuple[int, IncomingEvent]] = []
    refused: list[Refusal] = []
    try:
        events = _EVENTS.validate_python(raw)
    except ValidationError:
        for index, item in enumerate(raw):
            event, refusals = validate(index, item, now, forbidden_keys)
            refused.extend(refusals)
            if event is not None:
                valid.append((index, event))
        return valid, refused
    for index, event in enumerate(events):
        refusals = rules(index, event, now, forbidden_keys)
        if refusals:
            refused.extend(refusals)
        else:
            valid.append((index, event))
    return valid, refused


def validate(
    index: int, raw: Any, now: datetime, forbidden_keys: frozenset[str]
) -> tuple[IncomingEvent | None, list[Refusal]]:
    """The event at `index` of a batch, or why it is refused (every reason, each naming its field)."""
    prefix = f"events[{index}]"
    if not isinstance(raw, dict):
        return None, [Refusal(index, prefix, "must be a JSON object")]
    try:
        event = IncomingEvent.model_validate(raw)
    except ValidationError as exc:
        return None, [
            Refusal(index, f"{prefix}.{_field(e['loc'])}" if e["loc"] else prefix, e["msg"]) for e in exc.errors()
        ]
    out = rules(index, event, now, forbidden_keys)
    return (None, out) if out else (event, [])


def rules(index: int, event: IncomingEvent, now: datetime, forbidden_keys: frozenset[str]) -> list[Refusal]:
    """Why the well-formed event at `index` is refused (catalogue, clock, money, journey data): empty if not."""
    prefix = f"events[{index}]"
    out: list[Refusal] = []
    why = catalogue.refusal(event.type)
    if why is not None:
        out.append(Refusal(index, f"{prefix}.type", why))
    event_type = catalogue.lookup(event.type)
    if event.anonymous_id is None and event.email is None:
        out.append(Refusal(index, f"{prefix}.anonymousId", "give an anonymousId, an email or both"))
    if event.occurred_at < now - RAW_RETENTION:
        out.append(Refusal(index, f"{prefix}.occurredAt", "older than the 90 days of raw event retention"))
    elif event.occurred_at > now + FUTURE_TOLERANCE:
        out.append(Refusal(index, f"{prefix}.occurredAt", "more than 5 minutes in the future"))
    if (event.amount is None) != (event.currency is None):
        missing = "currency" if event.currency is None else "amount"
        out.append(Refusal(index, f"{prefix}.{missing}", "amount and currency come together"))
    if event.currency is not None and event.currency not in CURRENCIES:
        out.append(Refusal(index, f"{prefix}.currency", "not a supported ISO 4217 currency"))
    if event.amount is not None and event_type is not None and not event_type.carries_amount:
        out.append(Refusal(index, f"{prefix}.amount", f"{event.type} events carry no amount"))
    for group, values in (("properties", event.properties), ("customFields", event.custom_fields)):
        for key, value in values.items():
            reason = journey_data(key, value, forbidden_keys)
            if reason is not None:
                out.append(Refusal(index, f"{prefix}.{group}.{key}", reason))
    if event_type is None or not event_type.accepted_from_integrations:
        return out  # refused by its type: what the type would need is beside the point
    business = event_type.business
    if business is not None:
        out.extend(Refusal(index, f"{prefix}.{f}", why) for f, why in business_refusals(business, event))
    else:
        for name, given in (
            ("fields", event.fields),
            ("customFields", event.custom_fields),
            ("accountCurrency", event.account_currency),
        ):
            if given:
                out.append(Refusal(index, f"{prefix}.{name}", f"only business events carry {name}"))
    return out


def business_refusals(t: BusinessType, event: IncomingEvent) -> list[tuple[str, str]]:
    """(field, reason) for what a business event of type `t` lacks or carries wrongly."""
    out: list[tuple[str, str]] = []
    if event.entity_id is None:
        out.append(("entityId", f"{t.name} events name their entity: an entity counts once per state group"))
    if event.state is None:
        out.append(("state", f"{t.name} events give the entity's state, one of {', '.join(t.states)}"))
    elif event.state not in t.states:
        out.append(("state", f"{event.state!r} is not a state of {t.name}: one of {', '.join(t.states)}"))
    if t.amount is not None and event.amount is None and event.currency is None:
        out.append(("amount", f"{t.name} events carry {t.amount}, with its currency"))
    if event.items and not t.line_items:
        out.append(("items", f"{t.name} events carry no line items"))
    if event.account_currency is not None and event.account_currency not in CURRENCIES:
        out.append(("accountCurrency", "not a supported ISO 4217 currency"))
    for name, value in event.fields.items():
        spec = t.field(name)
        if spec is None:
            known = ", ".join(f.name for f in t.fields) or "none"
            out.append((f"fields.{name}", f"not a field of {t.name} (its fields: {known})"))
            continue
        why = _field_value_refusal(spec.kind, spec.values, value)
        if why is not None:
            out.append((f"fields.{name}", why))
    for spec in t.fields:
        if spec.required and event.fields.get(spec.name) is None:
            out.append((f"fields.{spec.name}", f"required on {t.name} events"))
    return out


def _field_value_refusal(kind: FieldKind, values: tuple[str, ...], value: Any) -> str | None:
    if value is None:
        return None
    if kind is FieldKind.NUMBER:
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "must be a number"
    if not isinstance(value, str):
        return f"must be {'a date' if kind is FieldKind.DATE else 'text'}"
    if kind is FieldKind.TEXT and len(value) > 200:
        return "at most 200 characters"
    if kind is FieldKind.DATE:
        try:
            date.fromisoformat(value)
        except ValueError:
            return "must be a date as YYYY-MM-DD"
        if len(value) != 10:
            return "must be a date as YYYY-MM-DD"
    if kind is FieldKind.ENUM and value not in values:
        return f"must be one of {', '.join(values)}"
    return None
