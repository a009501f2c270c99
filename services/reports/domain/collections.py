"""The documented collections as documents: one `document(row) -> dict` per collection, and the check that a
document is what its declaration says.

The declarations themselves (fields, types, meaning, indexes) are `shared/collections.py`, which the gateway's
documentation reads too; this module is where a row of the reports service's SQL (or of the insights service's
internal endpoint, for devices and events) becomes the JSON-ready document that the NDJSON/CSV downloads write
and the MongoDB forwarder (issue 11) upserts by `_id`. Pure functions, no I/O.

Rows are mappings (asyncpg records, or dicts decoded from insights-api's JSON: datetimes then arrive as ISO
strings and decimals as strings, which the converters accept too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.collections import (
    BY_NAME,
    COLLECTIONS,
    CONTACT_PROFILES,
    DEVICES,
    EVENTS,
    FINANCIAL_JOURNALS,
    FINANCIAL_TYPES,
    LEADS,
    NAMES,
    ORDERS,
    ORGANISATION_PROFILES,
    SERVICE_REQUESTS,
    SUBSCRIPTIONS,
    USAGE_ALLOWANCES,
    Collection,
    CollectionField,
    FieldType,
    Index,
    Source,
)
from shared.errors import DomainError, ErrorCode

__all__ = [
    "BY_NAME",
    "COLLECTIONS",
    "DOCUMENTS",
    "FINANCIAL_TYPES",
    "NAMES",
    "Collection",
    "CollectionField",
    "FieldType",
    "Index",
    "Source",
    "check_document",
    "collection",
    "document",
    "native",
]

Row = Mapping[str, Any]
Document = dict[str, Any]


def collection(name: str, field: str = "collection") -> Collection:
    """The declared collection `name`, or a refusal naming `field` and the collections there are."""
    found = BY_NAME.get(name)
    if found is None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{field}: unknown collection; one of {', '.join(NAMES)}", field)
    return found


# --- value converters: one JSON shape per declared type --------------------------------------------------------


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _ts(value: Any) -> str | None:
    """ISO-8601 in UTC with a `Z`, microseconds kept (so a document's time sorts and compares as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"not an aware datetime: {value!r}")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _dec(value: Any) -> str | None:
    """A decimal as its exact string (never a float): 12.5 stays "12.5", a stored numeric(14,2) "12.50"."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    # Fixed-point, never exponent notation (a JSON number 1e20 in a business event's fields), never NaN.
    return format(number, "f") if number.is_finite() else None


def _date(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        return None


def _obj(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _arr(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _field_text(fields: Any, name: str) -> str | None:
    """A business event's own field (`fields.<name>`) as text, None when absent."""
    value = _obj(fields).get(name)
    return None if value is None else str(value)


def entity_key(integration_id: Any, entity_id: Any) -> str:
    """The `_id` of a business entity: unique per organisation, stable across replays and backfills."""
    return f"{integration_id}:{entity_id}"


# --- one mapping per collection --------------------------------------------------------------------------------


def contact_profile(row: Row) -> Document:
    """An erased contact keeps its id and times only: the personal fields are emptied here too, whatever the row
    still holds, so no path can forward what an erasure removed."""
    erased = row["erased_at"] is not None
    return {
        "_id": _s(row["id"]),
        "orgId": _s(row["org_id"]),
        "kind": row["kind"],
        "channel": row["channel"],
        "email": None if erased else row["email"],
        "displayName": None if erased else row["display_name"],
        "accountCurrency": _s(row["account_currency"]),
        "customFields": {} if erased else _obj(row["custom_fields"]),
        "createdAt": _ts(row["created_at"]),
        "firstSeen": _ts(row["first_seen"]),
        "lastSeen": _ts(row["last_seen"]),
        "mergedInto": _s(row["merged_into"]),
        "erased": erased,
        "erasedAt": _ts(row["erased_at"]),
    }


def organisation_profile(row: Row) -> Document:
    return {
        "_id": _s(row["id"]),
        "orgId": _s(row["org_id"]),
        "kind": row["kind"],
        "name": row["name"],
        "timeZone": row["time_zone"],
        "baseCurrency": _s(row["base_currency"]),
        "orders": int(row["orders"] or 0),
        "firstOrderAt": _ts(row["first_order_at"]),
        "lastOrderAt": _ts(row["last_order_at"]),
    }


def device(row: Row) -> Document:
    return {
        "_id": f"{row['customer_id']}:{row['device_id']}",
        "orgId": _s(row["org_id"]),
        "customerId": _s(row["customer_id"]),
        "deviceId": str(row["device_id"]),
        "platform": row["platform"],
        "userAgent": row["user_agent"],
        "firstSeen": _ts(row["first_seen"]),
        "lastSeen": _ts(row["last_seen"]),
    }


def event(row: Row) -> Document:
    return {
        "_id": _s(row["id"]),
        "orgId": _s(row["org_id"]),
        "occurredAt": _ts(row["occurred_at"]),
        "receivedAt": _ts(row["received_at"]),
        "type": row["type"],
        "class": row["class"],
        "integrationId": _s(row["integration_id"]),
        "customerId": _s(row["customer_id"]),
        "anonymousId": row["anonymous_id"],
        "deviceId": row["device_id"],
        "productId": _s(row["product_id"]),
        "categoryId": _s(row["category_id"]),
        "channel": row["channel"],
        "amount": _dec(row["amount"]),
        "currency": _s(row["currency"]),
        "entityId": row["entity_id"],
        "state": row["state"],
        "items": _arr(row["items"]),
        "properties": _obj(row["properties"]),
    }


def _entity(row: Row, specific: Document) -> Document:
    return {
        "_id": entity_key(row["integration_id"], row["entity_id"]),
        "orgId": _s(row["org_id"]),
        "integrationId": _s(row["integration_id"]),
        "entityId": str(row["entity_id"]),
        "customerId": _s(row["customer_id"]),
        "state": row["state"],
        "stateAt": _ts(row["state_at"]),
        **specific,
        "firstEventAt": _ts(row["first_event_at"]),
        "lastEventAt": _ts(row["last_event_at"]),
        "events": int(row["events"]),
        "customFields": _obj(row["custom_fields"]),
    }


def subscription(row: Row) -> Document:
    fields = row["fields"]
    return _entity(
        row,
        {
            "plan": _field_text(fields, "plan"),
            "period": _field_text(fields, "period"),
            "amount": _dec(row["amount"]),
            "currency": _s(row["currency"]),
            "allowance": _dec(_obj(fields).get("allowance")),
            "activatedAt": _ts(row["counted_at"]),
        },
    )


def lead(row: Row) -> Document:
    fields = row["fields"]
    return _entity(row, {"source": _field_text(fields, "source"), "owner": _field_text(fields, "owner")})


def service_request(row: Row) -> Document:
    fields = row["fields"]
    return _entity(
        row,
        {
            "category": _field_text(fields, "category"),
            "priority": _field_text(fields, "priority"),
            "resolvedAt": _ts(row["resolved_at"]),
        },
    )


def order(row: Row) -> Document:
    history = [
        {
            "eventId": _s(h.get("event_id")),
            "fromStatus": h.get("from_status"),
            "toStatus": h.get("to_status"),
            "fromCommissionStatus": h.get("from_comm"),
            "toCommissionStatus": h.get("to_comm"),
            "amount": _dec(h.get("amount")),
            "currency": _s(h.get("currency")),
            "occurredAt": _ts(h.get("occurred_at")),
        }
        for h in _arr(row["history"])
    ]
    return {
        "_id": _s(row["id"]),
        "orgId": _s(row["org_id"]),
        "integrationId": _s(row["integration_id"]),
        "customerId": _s(row["customer_id"]),
        "productId": _s(row["product_id"]),
        "categoryId": _s(row["category_id"]),
        "providerId": _s(row["provider_id"]),
        "kind": row["kind"],
        "status": row["status"],
        "commissionStatus": row["comm_status"],
        "failureReason": row["failure_reason"],
        "amount": _dec(row["amount"]),
        "currency": _s(row["currency"]),
        "createdAt": _ts(row["created_at"]),
        "successfulAt": _ts(row["successful_at"]),
        "updatedAt": _ts(row["updated_at"]),
        "commissionHistory": history,
        "customFields": _obj(row["custom_fields"]),
    }


def financial_journal(row: Row) -> Document:
    fields = row["fields"]
    return {
        "_id": _s(row["event_id"]),
        "orgId": _s(row["org_id"]),
        "journalType": row["type"],
        "integrationId": _s(row["integration_id"]),
        "entityId": str(row["entity_id"]),
        "state": row["state"],
        "occurredAt": _ts(row["occurred_at"]),
        "recordedAt": _ts(row["recorded_at"]),
        "customerId": _s(row["customer_id"]),
        "amount": _dec(row["amount"]),
        "currency": _s(row["currency"]),
        "accountCurrency": _s(row["account_currency"]),
        "number": _field_text(fields, "number"),
        "invoiceNumber": _field_text(fields, "invoiceNumber"),
        "dueDate": _date(_obj(fields).get("dueDate")),
        "method": _field_text(fields, "method"),
        "reason": _field_text(fields, "reason"),
        "counted": bool(row["counted"]),
        "items": _arr(row["items"]),
        "customFields": _obj(row["custom_fields"]),
    }


def usage_allowance(row: Row) -> Document:
    fields = row["fields"]
    return {
        "_id": _s(row["event_id"]),
        "orgId": _s(row["org_id"]),
        "integrationId": _s(row["integration_id"]),
        "entityId": str(row["entity_id"]),
        "customerId": _s(row["customer_id"]),
        "state": row["state"],
        "metric": _field_text(fields, "metric"),
        "quantity": _dec(_obj(fields).get("quantity")),
        "unit": _field_text(fields, "unit"),
        "allowance": _dec(row["allowance"]),
        "subscriptionIds": sorted(str(s) for s in _arr(row["subscription_ids"])),
        "counted": bool(row["counted"]),
        "occurredAt": _ts(row["occurred_at"]),
        "recordedAt": _ts(row["recorded_at"]),
    }


DOCUMENTS: dict[str, Callable[[Row], Document]] = {
    CONTACT_PROFILES.name: contact_profile,
    ORGANISATION_PROFILES.name: organisation_profile,
    DEVICES.name: device,
    EVENTS.name: event,
    SUBSCRIPTIONS.name: subscription,
    ORDERS.name: order,
    LEADS.name: lead,
    SERVICE_REQUESTS.name: service_request,
    FINANCIAL_JOURNALS.name: financial_journal,
    USAGE_ALLOWANCES.name: usage_allowance,
}


def document(name: str, row: Row) -> Document:
    """The document of collection `name` for one row."""
    return DOCUMENTS[name](row)


# --- the check the tests and the forwarder can run on any document ----------------------------------------------


def _is(value: Any, type_: FieldType) -> bool:
    if type_ is FieldType.STRING:
        return isinstance(value, str)
    if type_ is FieldType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ is FieldType.BOOLEAN:
        return isinstance(value, bool)
    if type_ is FieldType.OBJECT:
        return isinstance(value, dict)
    if type_ is FieldType.ARRAY:
        return isinstance(value, list)
    if not isinstance(value, str):
        return False
    try:
        if type_ is FieldType.DECIMAL:
            Decimal(value)
            return True
        if type_ is FieldType.DATE:
            return date.fromisoformat(value).isoformat() == value
        offset = datetime.fromisoformat(value).utcoffset()
        return value.endswith("Z") and offset is not None and not offset
    except (ValueError, InvalidOperation):
        return False


def check_document(c: Collection, doc: Mapping[str, Any]) -> list[str]:
    """What is wrong with `doc` against `c`'s declaration: a missing or undeclared field, a null where the field
    is not nullable, a value of another type. Empty when the document is exactly as declared."""
    problems = [f"{k}: not declared" for k in doc if k not in c.field_names]
    for f in c.fields:
        if f.name not in doc:
            problems.append(f"{f.name}: missing")
            continue
        value = doc[f.name]
        if value is None:
            if not f.nullable:
                problems.append(f"{f.name}: null but not nullable")
        elif not _is(value, f.type):
            problems.append(f"{f.name}: {value!r} is not a {f.type}")
    return problems


def native(c: Collection, doc: Mapping[str, Any]) -> Document:
    """`doc` as a MongoDB writer stores it: each DATETIME field an aware `datetime` (a BSON date, which range
    queries and the events collection's TTL index need: a TTL index ignores text), everything else as is
    (decimals stay exact strings; dates stay `YYYY-MM-DD`)."""
    out = dict(doc)
    for f in c.fields:
        value = out.get(f.name)
        if f.type is FieldType.DATETIME and isinstance(value, str):
            out[f.name] = datetime.fromisoformat(value)
    return out
