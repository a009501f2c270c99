"""What POST /v1/events accepts can be stored: every field of an event driven to its type's limits is either
refused (in the 202's `refused`, or a 4xx) naming exactly `events[i].<field>`, or stored exactly (read back from
the insights database, and the customer's email from the orders database), never a 5xx.

The fields are enumerated from the OpenAPI document the gateway serves (the EventBatch schema, built from
shared/api_events.py), nested ones included (`device.id`, `items[].amount`, `properties.*`), so a field added
later fails `test_every_event_field_is_covered` until it has a `STORED_AT` entry. Each case is ONE event
(a unique id and occurredAt each): all cases go out in a few batches (at most 1,000 events and 900 KB each),
and the few a JSON parser refuses whole (NaN, a lone surrogate) one request each. Each case is then one test
(`-k 'properties.*-card number'` picks one), judged from what the module fixture sent and read back.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field as member
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import httpx
import orjson
import pytest
from pydantic import AwareDatetime, EmailStr, TypeAdapter

from shared.api_events import MAX_BATCH_BYTES, MAX_EVENTS
from shared.config import Settings
from shared.db import tenant_tx
from tests.factories import Tenant, create_tenant

EVENTS = "/v1/events"
BATCH_BYTES = 900_000  # under every cap on the way, so a batch is judged event by event

# Where each field lands (table.column; `customers` is the orders database's). None: no column of its own.
STORED_AT: dict[str, str | None] = {
    "id": "events.source_key",
    "type": "events.type",
    "occurredAt": "events.occurred_at",
    "anonymousId": "events.anonymous_id",
    "email": "customers.email",
    "productId": "events.product_id",
    "amount": "events.amount",
    "currency": "events.currency",
    "entityId": "events.entity_id",
    "state": "events.state",
    "items": "events.items",
    "items[].productId": "events.items",
    "items[].quantity": "events.items",
    "items[].amount": "events.items",
    "device": None,
    "device.id": "events.device_id",
    "device.platform": "devices.platform",
    "device.userAgent": "devices.user_agent",
    "properties": "events.properties",
    "properties.*": "events.properties",
    "fields": "events.fields",
    "fields.*": "events.fields",
    "customFields": "events.custom_fields",
    "customFields.*": "events.custom_fields",
    "accountCurrency": "events.account_currency",
}

# What a field needs beside it to be meaningful ("{i}": the case's number).
# A business event of a type with no required field, its entity and a state.
_LEAD = {"type": "lead", "entityId": "lead-{i}-{u}", "state": "created", "fields": {"source": "web"}}
CONTEXT: dict[str, dict[str, Any]] = {
    "amount": {"type": "purchase", "currency": "GBP", "entityId": "p-{i}-{u}", "state": "completed"},
    "currency": {"type": "purchase", "amount": "12.50", "entityId": "p-{i}-{u}", "state": "completed"},
    "fields": {**_LEAD},
    # fields.k: no type has a field named k, so every value is refused naming it (known fields: test_business_events)
    "fields.*": {**_LEAD, "fields": {"source": "web"}},
    "customFields": {**_LEAD},
    "customFields.*": {**_LEAD, "customFields": {}},
    "accountCurrency": {**_LEAD},
    "email": {"anonymousId": "anon-email-{i}-{u}"},
    "items[].productId": {"items": [{}]},
    "items[].quantity": {"items": [{}]},
    "items[].amount": {"items": [{}]},
    "device.id": {"device": {}},
    "device.platform": {"device": {"id": "dev-{i}-{u}"}},
    "device.userAgent": {"device": {"id": "dev-{i}-{u}"}},
    "properties.*": {"properties": {}},
}


# --------------------------------------------------------------------------- the fields, from the document


@dataclass(frozen=True)
class EventField:
    name: str  # "id", "device.platform", "items[].amount", "properties.*" (a value under any key)
    kind: str  # text, type, email, uuid, datetime, money, integer, pattern, object, list, map, value
    nullable: bool = False
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None


def _resolve(schemas: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    nullable = False
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b != {"type": "null"}]
        nullable = len(branches) < len(node["anyOf"])
        node = branches[0] if len(branches) == 1 else {"anyOf": branches}
    if "$ref" in node:
        node = schemas[node["$ref"].rsplit("/", 1)[-1]]
    return node, nullable


def _kind(name: str, node: dict[str, Any]) -> str:
    types = {b.get("type") for b in node.get("anyOf", [])} or {node.get("type")}
    if name == "type":
        return "type"  # a name of the catalogue (or custom:<name>)
    if "properties" in node:
        return "object"
    if "additionalProperties" in node:
        return "map"
    if types == {"array"}:
        return "list"
    if types == {"number", "string"}:
        return "money"
    if types == {"integer"}:
        return "integer"
    if types >= {"string", "boolean", "integer", "number"}:
        return "value"
    if node.get("format") in ("uuid", "email", "date-time"):
        return {"date-time": "datetime"}.get(node["format"], node["format"])
    if "pattern" in node:
        return "pattern"
    if types == {"string"}:
        return "text"
    raise AssertionError(f"{name}: a field of a kind this test cannot drive: {node}")


def _walk(schemas: dict[str, Any], node: dict[str, Any], name: str, out: list[EventField]) -> None:
    node, nullable = _resolve(schemas, node)
    kind = _kind(name, node)
    limits = node.get("anyOf", [node])[0]
    out.append(
        EventField(
            name,
            kind,
            nullable,
            limits.get("minLength"),
            limits.get("maxLength"),
            limits.get("minimum"),
            limits.get("maximum"),
            node.get("maxItems", node.get("maxProperties")),
        )
    )
    if kind == "object":
        for prop, sub in node["properties"].items():
            _walk(schemas, sub, f"{name}.{prop}", out)
    elif kind == "list":
        item, _ = _resolve(schemas, node["items"])
        for prop, sub in item.get("properties", {}).items():
            _walk(schemas, sub, f"{name}[].{prop}", out)
    elif kind == "map":
        _walk(schemas, node["additionalProperties"], f"{name}.*", out)


@cache
def event_fields() -> tuple[EventField, ...]:
    from services.gateway.docs import build_openapi

    doc = build_openapi(Settings())
    schemas = doc["components"]["schemas"]
    body = doc["paths"][EVENTS]["post"]["requestBody"]["content"]["application/json"]["schema"]
    batch, _ = _resolve(schemas, body)
    assert set(batch["properties"]) == {"events"}, batch
    event, _ = _resolve(schemas, batch["properties"]["events"]["items"])
    out: list[EventField] = []
    for prop, sub in event["properties"].items():
        _walk(schemas, sub, prop, out)
    return tuple(out)


# --------------------------------------------------------------------------- the values


@dataclass(frozen=True)
class Raw:
    """JSON text sent as is (a literal `json.dumps` would not write from a Python value)."""

    text: str


@dataclass(frozen=True)
class Case:
    label: str
    value: Any
    refuse: bool = False  # the documented contract refuses it: accepting it is a defect too
    context: dict[str, Any] | None = None  # what the value needs beside it (a business type: its entity, state)


U = "{u}"  # a unique tag per case


def _sized(n: int, fill: str = "x") -> str:
    tag = U if n >= 12 else ""
    return tag + fill * (n - (12 if tag else 0))


WRONG_TYPES = [
    Case("int 0", 0, True),
    Case("int 2^63", 2**63, True),
    Case("float 1.5", 1.5, True),
    Case("true", True, True),
    Case("array", [], True),
    Case("object", {}, True),
]


def _text_cases(f: EventField) -> list[Case]:
    lo, hi = f.min_length or 0, f.max_length or 10_000
    return [
        Case("empty", "", lo > 0),
        Case("one char", "x"),
        Case(f"max {hi} chars", _sized(hi)),
        Case(f"max+1 {hi + 1} chars", _sized(hi + 1), True),
        Case("100k chars", _sized(100_000), True),
        Case("emoji at max", _sized(hi, "😀")),
        Case("emoji at max+1", _sized(hi + 1, "😀"), True),
        Case("combining marks at max", _sized(hi, "\u0301")),
        Case("lone surrogate", "a\ud800b", True),
        Case("NUL", "a\x00b", True),
        Case("SOH", "a\x01b", True),
        Case("newline", "a\nb", True),
        Case("escape", "a\x1bb", True),
        Case("DEL", "a\x7fb", True),
        Case("C1 NEL", "a\x85b", True),
        Case("tab", f"{U}\tb"),
        Case("line separator U+2028", f"{U}\u2028b"),
        Case("BOM and zero width space", f"\ufeff{U}\u200bb"),
        Case("leading and trailing spaces", f"  {U}  "),
        Case("whitespace only", "   "),
        Case("null", None, not f.nullable),
        *WRONG_TYPES,
    ]


def _business_context(t: Any) -> dict[str, Any] | None:
    """A valid business event of type `t` around its type: entity, a counted state, amount, required fields."""
    b = t.business
    if b is None or not t.accepted_from_integrations:
        return None
    example = {"text": "x", "number": 1, "date": "2026-01-31"}
    out: dict[str, Any] = {"entityId": f"{t.name}-{{i}}-{{u}}", "state": sorted(b.final_states or b.states)[0]}
    if b.amount is not None:
        out |= {"amount": "10.00", "currency": "GBP"}
    out["fields"] = {f.name: f.values[0] if f.values else example[f.kind.value] for f in b.fields if f.required}
    return out


def _type_cases(f: EventField) -> list[Case]:
    from services.insights.domain.catalogue import CATALOGUE

    return [
        *[
            Case(f"catalogue {t.name}", t.name, not t.accepted_from_integrations, _business_context(t))
            for t in CATALOGUE.values()
        ],
        Case("custom, shortest", "custom:a"),
        Case("custom, 48-char name", "custom:" + "a" * 48),
        Case("custom, 49-char name", "custom:" + "a" * 49, True),
        Case("custom, trailing newline", "custom:abc\n", True),
        Case("custom, upper case", "custom:Abc", True),
        Case("custom, no name", "custom:", True),
        Case("upper case", "VISIT", True),
        Case("surrounding spaces", " visit ", True),
        Case("trailing newline", "visit\n", True),
        Case("unknown", "no_such_type", True),
        Case("empty", "", True),
        Case(f"max+1 {(f.max_length or 64) + 1} chars", "custom:" + "a" * 58, True),
        Case("100k chars", "a" * 100_000, True),
        Case("NUL", "visit\x00", True),
        Case("lone surrogate", "visit\ud800", True),
        Case("null", None, True),
        *WRONG_TYPES,
    ]


def _email_cases(f: EventField) -> list[Case]:
    at = "@example.com"
    return [
        Case("empty", "", True),
        Case("plain", f"{U}{at}"),
        Case("upper case (normalised)", f"{U}@EXAMPLE.COM"),
        Case("local part 64", _sized(64) + at),
        Case("local part 65", _sized(65) + at),
        Case("254 chars", _sized(64) + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".com"),
        Case("255 chars", _sized(64) + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 58 + ".com"),
        Case("100k chars", _sized(100_000) + at, True),
        Case("emoji local part", f"{U}😀{at}"),
        Case("internationalised domain", f"{U}@exämple.com"),
        Case("leading and trailing spaces", f"  {U}{at}  "),
        Case("NUL", f"a\x00b{at}", True),
        Case("newline", f"a\nb{at}", True),
        Case("lone surrogate", f"a\ud800b{at}", True),
        Case("no @", "not-an-email", True),
        Case("null", None, not f.nullable),
        *WRONG_TYPES,
    ]


def _uuid_cases(f: EventField) -> list[Case]:
    return [
        Case("empty", "", True),
        Case("canonical", "{target}"),
        Case("upper case", "{TARGET}"),
        Case("no hyphens", "{target_hex}"),
        Case("braces", "{{target}}"),
        Case("urn", "urn:uuid:{target}"),
        Case("another organisation's product", "{foreign}", True),
        Case("unknown id", "00000000-0000-4000-8000-000000000000", True),
        Case("nil", "00000000-0000-0000-0000-000000000000", True),
        Case("max", "ffffffff-ffff-ffff-ffff-ffffffffffff", True),
        Case("malformed", "not-a-uuid", True),
        Case("16 characters", "abcdefghijklmnop", True),
        Case("one digit too many", "{target}0", True),
        Case("100k chars", "a" * 100_000, True),
        Case("NUL", "{target}\x00", True),
        Case("null", None, not f.nullable),
        *WRONG_TYPES,
    ]


def _datetime_cases(f: EventField) -> list[Case]:
    return [
        Case("empty", "", True),
        Case("a minute ago", "{minute_ago}"),
        Case("an hour ago, +14:00", "{hour_ago_plus14}"),
        Case("an hour ago, -12:00, microseconds", "{hour_ago_minus12}"),
        Case("nanoseconds (kept to the microsecond)", "{minute_ago_ns}"),
        Case("space separator, lower-case z", "{minute_ago_space}"),
        Case("89 days ago", "{days_ago_89}"),
        Case("91 days ago", "{days_ago_91}", True),
        Case("4 minutes ahead", "{ahead_4}"),
        Case("10 minutes ahead", "{ahead_10}", True),
        Case("year 0001 UTC", "0001-01-01T00:00:00Z", True),
        Case("year 0001 +14:00 (year 0 in UTC)", "0001-01-01T00:00:00+14:00", True),
        Case("year 9999", "9999-12-31T23:59:59Z", True),
        Case("year 9999 -14:00 (year 10000 in UTC)", "9999-12-31T23:59:59-14:00", True),
        Case("2026-02-30", "2026-02-30T00:00:00Z", True),
        Case("hour 24", "2024-01-01T24:00:00Z", True),
        Case("leap second", "2016-12-31T23:59:60Z", True),
        Case("offset +24:00", "2024-01-01T00:00:00+24:00", True),
        Case("no offset", "{minute_ago_naive}", True),
        Case("date only", "{today}", True),
        Case("100k chars", "2024-01-01T00:00:00Z" + "0" * 100_000, True),
        Case("NUL", "{minute_ago}\x00", True),
        Case("unix seconds, now, as a number", "{unix_now}", True),
        Case("unix seconds, now, as a string", "{unix_now_text}", True),
        Case("unix milliseconds, now, as a number", "{unix_now_ms}", True),
        Case("2^31-1", 2**31 - 1, True),
        Case("2^53+1", 2**53 + 1, True),
        Case("1e308", 1e308, True),
        Case("NaN literal", Raw("NaN"), True),
        Case("true", True, True),
        Case("null", None, True),
        Case("array", [], True),
    ]


def _number_cases(f: EventField) -> list[Case]:
    lo = f.minimum if f.minimum is not None else -(2**63)
    cases = [
        Case("0", 0, lo > 0),
        Case("-1", -1, lo > -1),
        Case("1", 1),
        Case("2^31-1", 2**31 - 1),
        Case("2^31", 2**31),
        Case("2^53-1", 2**53 - 1),
        Case("2^53+1", 2**53 + 1),
        Case("2^63-1", 2**63 - 1),
        Case("2^63", 2**63),
        Case("2^64+1 literal (a double when parsed)", Raw(str(2**64 + 1))),
        Case("10^30 literal", Raw("1" + "0" * 30)),
        Case("1e308", 1e308),
        Case("-1e308", -1e308, lo >= 0),
        Case("1e309 literal (beyond a double)", Raw("1e309"), True),
        Case("float 1.0", 1.0),
        Case("float 1.5", 1.5, f.kind == "integer"),
        Case("float 1e-7", 1e-7, f.kind != "value"),
        Case("float 5e-324", 5e-324, f.kind != "value"),
        Case("float literal 2^53+1 (rounds when parsed)", Raw("9007199254740993.0")),
        Case("numeric string", "5"),
        Case("numeric string with spaces", " 5 "),
        Case("hex string", "0x10", f.kind != "value"),
        Case("text", "abc", f.kind != "value"),
        Case("NaN literal", Raw("NaN"), True),
        Case("Infinity literal", Raw("Infinity"), True),
        Case("-Infinity literal", Raw("-Infinity"), True),
        Case("NaN string", "NaN", f.kind != "value"),
        Case("Infinity string", "Infinity", f.kind != "value"),
        Case("true", True, f.kind != "value"),
        Case("false", False, f.kind != "value"),
        Case("null", None, not f.nullable and f.kind != "value"),
        Case("array", [], True),
        Case("object", {}, True),
    ]
    if f.maximum is not None:
        cases += [Case(f"maximum {f.maximum}", f.maximum), Case(f"maximum+1 {f.maximum + 1}", f.maximum + 1, True)]
    if f.kind == "money":
        cases += [
            Case("0.01", "0.01"),
            Case("0.001", "0.001", True),
            Case("3 decimals 1.005", "1.005", True),
            Case("3 decimals as a number 1.005", 1.005, True),
            Case("12.5 as a number", 12.5),
            Case("largest 999999999999.99", "999999999999.99"),
            Case("largest as a number", 999999999999.99),
            Case("largest + 0.01", "1000000000000.00", True),
            Case("many zero decimals", "1.10000000000000000000"),
            Case("many decimals", "1.0000000000000000000001", True),
            Case("negative zero", "-0"),
            Case("exponent 1e5", "1e5"),
            Case("exponent 1E+12", "1E+12", True),
            Case("Arabic-Indic digits", "١٢"),
        ]
    return cases


def _pattern_cases(f: EventField) -> list[Case]:
    return [
        Case("GBP", "GBP"),
        Case("EUR", "EUR"),
        Case("not ISO 4217", "XYZ", True),
        Case("lower case", "gbp", True),
        Case("two letters", "GB", True),
        Case("four letters", "GBPX", True),
        Case("non-ASCII letters", "ÄÖÜ", True),
        Case("trailing newline", "GBP\n", True),
        Case("empty", "", True),
        Case("100k chars", "A" * 100_000, True),
        Case("NUL", "GB\x00", True),
        # currency: null without its amount's pair is refused (they come together); accountCurrency is optional
        Case("null", None, f.name == "currency"),
        *WRONG_TYPES,
    ]


def _object_cases(f: EventField) -> list[Case]:
    return [
        Case("empty object", {}, True),  # a device needs its id
        Case("null", None, not f.nullable),
        Case("unknown member", {"id": "dev-{i}-{u}", "colour": "red"}, True),
        Case("array", [], True),
        Case("string", "x", True),
        Case("true", True, True),
    ]


def _list_cases(f: EventField) -> list[Case]:
    most = f.max_items or 100
    return [
        Case("empty", []),
        Case("null", None, not f.nullable),
        Case("one item", [{"quantity": 2}]),
        Case(f"max {most} items", [{"quantity": n + 1} for n in range(most)]),
        Case(f"max+1 {most + 1} items", [{"quantity": 1}] * (most + 1), True),
        Case("an item that is null", [None], True),
        Case("an item that is a string", ["x"], True),
        Case("an item with an unknown member", [{"sku": "x"}], True),
        Case("an object", {}, True),
        Case("a string", "x", True),
    ]


def _map_cases(f: EventField) -> list[Case]:
    most = f.max_items or 50
    return [
        Case("empty", {}),
        Case(f"max {most} keys", {f"k{n}": n for n in range(most)}),
        Case(f"max+1 {most + 1} keys", {f"k{n}": n for n in range(most + 1)}, True),
        Case("64-char key", {"k" + "x" * 63: 1}),
        Case("65-char key", {"k" + "x" * 64: 1}, True),
        Case("100k-char key", {"k" * 100_000: 1}, True),
        Case("empty key", {"": 1}, True),
        Case("key starting with a digit", {"1abc": 1}, True),
        Case("key with a space", {"a b": 1}, True),
        Case("key with a newline at the end", {"abc\n": 1}, True),
        Case("key with NUL", {"a\x00": 1}, True),
        Case("key with a dollar", {"a$": 1}, True),
        Case("key with non-ASCII letters", {"é": 1}, True),
        Case("key with a lone surrogate", {"a\ud800": 1}, True),
        Case("keys with dots, dashes, underscores", {"a.b-c_d": 1}),
        Case("dob key with a date", {"dob": "1990-01-01"}, True),
        Case("DOB key (any case)", {"DOB": "1990-01-01"}, True),
        Case("dateOfBirth key", {"dateOfBirth": "01/01/1990"}, True),
        Case("birth_year key with a number", {"birth_year": 1990}, True),
        Case("dob key left empty", {"dob": ""}),
        Case("null", None, True),
        Case("array", [], True),
        Case("string", "x", True),
        Case("0", 0, True),
    ]


def _value_cases(f: EventField) -> list[Case]:
    text = EventField(f.name, "text", True, 0, 500)
    texts = [c for c in _text_cases(text) if c.value not in (None, 0, 2**63, 1.5, True, [], {})]
    return [
        *texts,
        *_number_cases(f),
        Case("nested object", {"a": 1}, True),
        Case("array of strings", ["a"], True),
        Case("card number", "4111 1111 1111 1111", True),
        Case("card number, hyphens", "4111-1111-1111-1111", True),
        Case("card number, digits", "4111111111111111", True),
        Case("card number as a number", 4111111111111111, True),
        Case("card number as a float", 4111111111111111.0, True),
        Case("16 digits failing Luhn (not a card)", "4111111111111112"),
        Case("IBAN", "GB82WEST12345698765432", True),
        Case("IBAN, spaced, lower case", "gb82 west 1234 5698 7654 32", True),
        Case("IBAN-shaped, bad check digits", "GB00WEST12345698765432"),
        Case("NI number", "AB123456C", True),
        Case("NI number, spaced, lower case", "ab 12 34 56 c", True),
        Case("false", False),
        Case("true", True),
    ]


CASES_BY_KIND = {
    "text": _text_cases,
    "type": _type_cases,
    "email": _email_cases,
    "uuid": _uuid_cases,
    "datetime": _datetime_cases,
    "money": _number_cases,
    "integer": _number_cases,
    "pattern": _pattern_cases,
    "object": _object_cases,
    "list": _list_cases,
    "map": _map_cases,
    "value": _value_cases,
}


def cases_of(f: EventField) -> list[Case]:
    seen: dict[str, Case] = {}
    for c in CASES_BY_KIND[f.kind](f):
        seen.setdefault(c.label, c)  # the first of two cases with one label (value kind: text and number)
    return list(seen.values())


MATRIX = [(f, c) for f in event_fields() for c in cases_of(f)]
PARAMS = [pytest.param(f, c, id=f"{f.name}-{c.label}") for f, c in MATRIX]


# --------------------------------------------------------------------------- building events


def _concrete(name: str) -> str:
    """The path errors name: items[].amount -> items[0].amount, properties.* -> properties.k."""
    return name.replace("[]", "[0]").replace(".*", ".k")


def _fill(value: Any, subs: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, sub in subs.items():
            value = value.replace(key, sub)
        if value.startswith("#int:"):
            return int(value[5:])
        return value
    if isinstance(value, list):
        return [_fill(v, subs) for v in value]
    if isinstance(value, dict):
        return {_fill(k, subs): _fill(v, subs) for k, v in value.items()}
    return value


RAW_MARK = "__raw_literal__"


def _put(event: dict[str, Any], path: str, value: Any) -> None:
    node: Any = event
    parts = path.replace("[0]", ".0").split(".")
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    node[parts[-1]] = value


@dataclass
class Sent:
    field: EventField
    case: Case
    value: Any  # after substitutions
    event: dict[str, Any]
    text: str  # the event's JSON text
    alone: bool = False  # a JSON parser refuses the text: sent in a request of its own
    status: int = 0
    answer: dict[str, Any] = member(default_factory=dict)
    index: int = 0
    refusals: list[dict[str, Any]] = member(default_factory=list)
    row: dict[str, Any] | None = None
    device: dict[str, Any] | None = None
    email: str | None = None


def _subs(n: int, tag: str, t: Tenant, foreign: uuid.UUID) -> dict[str, str]:
    now = datetime.now(UTC)
    minute_ago = now - timedelta(minutes=1, milliseconds=n)
    product = t.products["Broadband"]
    return {
        "{u}": f"{tag}{n:04d}"[-12:].rjust(12, "0"),
        "{i}": str(n),
        "{target}": str(product),
        "{TARGET}": str(product).upper(),
        "{target_hex}": product.hex,
        "{foreign}": str(foreign),
        "{minute_ago}": minute_ago.isoformat(),
        "{minute_ago_ns}": minute_ago.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z",
        "{minute_ago_space}": minute_ago.strftime("%Y-%m-%d %H:%M:%S.%fz"),
        "{minute_ago_naive}": minute_ago.replace(tzinfo=None).isoformat(),
        "{hour_ago_plus14}": (now - timedelta(hours=1)).astimezone(timezone(timedelta(hours=14))).isoformat(),
        "{hour_ago_minus12}": (now - timedelta(hours=1, microseconds=n))
        .astimezone(timezone(-timedelta(hours=12)))
        .isoformat(),
        "{days_ago_89}": (now - timedelta(days=89)).isoformat(),
        "{days_ago_91}": (now - timedelta(days=91)).isoformat(),
        "{ahead_4}": (now + timedelta(minutes=4)).isoformat(),
        "{ahead_10}": (now + timedelta(minutes=10)).isoformat(),
        "{today}": now.date().isoformat(),
        "{unix_now}": f"#int:{int(now.timestamp())}",
        "{unix_now_text}": str(int(now.timestamp())),
        "{unix_now_ms}": f"#int:{int(now.timestamp() * 1000)}",
    }


def _build(n: int, tag: str, t: Tenant, foreign: uuid.UUID, f: EventField, case: Case) -> Sent:
    subs = _subs(n, tag, t, foreign)
    occurred = datetime.now(UTC) - timedelta(minutes=2, milliseconds=n)
    event: dict[str, Any] = {
        "id": f"case-{n}-{tag}",
        "type": "page_view",
        "occurredAt": occurred.isoformat(),
        "anonymousId": f"anon-{tag}",
    }
    event |= _fill(CONTEXT.get(f.name, {}), subs) | _fill(case.context or {}, subs)
    value = case.value if isinstance(case.value, Raw) else _fill(case.value, subs)
    _put(event, _concrete(f.name), RAW_MARK if isinstance(value, Raw) else value)
    text = json.dumps(event)  # NaN and Infinity as the literals Python's json writes; surrogates as escapes
    if isinstance(value, Raw):
        text = text.replace(json.dumps(RAW_MARK), value.text)
    try:
        orjson.loads(text)
        alone = False
    except orjson.JSONDecodeError:
        alone = True
    return Sent(f, case, value, event, text, alone)


# --------------------------------------------------------------------------- sending them, reading back


@dataclass
class Run:
    tenant: Tenant
    sent: dict[str, Sent]
    statuses: list[int]
    seconds: float


def _key(f: EventField, case: Case) -> str:
    return f"{f.name} {case.label}"


async def _post(client: httpx.AsyncClient, t: Tenant, body: bytes) -> httpx.Response:
    headers = {"authorization": f"Bearer {t.api_key}", "content-type": "application/json"}
    return await client.post(EVENTS, content=body, headers=headers)


@pytest.fixture(scope="module")
async def run(gateway_app: Any, pool: Any, insights_pool: Any, issuer: Any) -> AsyncIterator[Run]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    t = await create_tenant(pool, issuer, name="Event limits")
    other = await create_tenant(pool, issuer, name="Event limits, other")
    tag = uuid.uuid4().hex[:8]
    sent: dict[str, Sent] = {}
    for n, (f, case) in enumerate(MATRIX):
        sent[_key(f, case)] = _build(n, tag, t, other.products["Broadband"], f, case)
    batches: list[list[Sent]] = [[]]
    size = 0
    for s in (s for s in sent.values() if not s.alone):
        if len(batches[-1]) == MAX_EVENTS or size + len(s.text) + 2 > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(s)
        size += len(s.text.encode()) + 2
    statuses: list[int] = []
    transport = httpx.ASGITransport(app=gateway_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=60) as client:
        for batch in batches:
            body = ('{"events": [' + ", ".join(s.text for s in batch) + "]}").encode()
            r = await _post(client, t, body)
            statuses.append(r.status_code)
            answer = r.json()
            for i, s in enumerate(batch):
                s.status, s.answer, s.index = r.status_code, answer, i
                s.refusals = [x for x in answer.get("refused", []) if x["index"] == i]
        alone = [s for s in sent.values() if s.alone]
        answers = await asyncio.gather(*(_post(client, t, ('{"events": [' + s.text + "]}").encode()) for s in alone))
        for s, r in zip(alone, answers, strict=True):
            statuses.append(r.status_code)
            s.status, s.answer, s.index = r.status_code, r.json(), 0
            s.refusals = [x for x in s.answer.get("refused", []) if x["index"] == 0]
    async with tenant_tx(insights_pool, t.org_id) as conn:
        rows = [dict(r) for r in await conn.fetch("SELECT * FROM events WHERE org_id = $1", t.org_id)]
        devices = {
            (d["customer_id"], d["device_id"]): dict(d)
            for d in await conn.fetch("SELECT * FROM devices WHERE org_id = $1", t.org_id)
        }
    async with tenant_tx(pool, t.org_id) as conn:
        customers = {
            c["id"]: c["email"] for c in await conn.fetch("SELECT id, email FROM customers WHERE org_id = $1", t.org_id)
        }
    by_key = {r["source_key"]: r for r in rows}
    by_time = {r["occurred_at"]: r for r in rows}
    for s in sent.values():
        if s.field.name == "id":
            occurred = datetime.fromisoformat(s.event["occurredAt"])
            s.row = by_time.get(occurred)
        else:
            s.row = by_key.get(s.event["id"])
        if s.row is not None:
            s.device = devices.get((s.row["customer_id"], s.row["device_id"]))
            s.email = customers.get(s.row["customer_id"])
    yield Run(t, sent, statuses, loop.time() - started)


# --------------------------------------------------------------------------- judging


def _named(s: Sent) -> list[str]:
    """The fields a refusal names: the 202's refused entries for this event, or a 4xx's fields."""
    if s.status == 202:
        return [x["field"] for x in s.refusals]
    err = s.answer.get("error") or {}
    return [e.get("field") for e in [err, *(err.get("errors") or [])] if e.get("field")]


def _within(named: str, expected: str) -> bool:
    return named == expected or named.startswith((expected + ".", expected + "["))


def _number(value: Any) -> Decimal:
    text = value.text if isinstance(value, Raw) else value if isinstance(value, str) else json.dumps(value)
    return Decimal(text.strip())


def _same_number(sent: Any, stored: Any) -> bool:
    try:
        return stored is not None and not isinstance(stored, bool) and Decimal(str(stored)) == _number(sent)
    except InvalidOperation:
        return False


def _json(value: Any) -> Any:
    return json.loads(value, parse_float=Decimal) if isinstance(value, str) else value


def _check_stored(s: Sent) -> str | None:
    """Why what was stored is not what was sent, or None."""
    f, v, row = s.field, s.value, s.row
    assert row is not None
    name = f.name
    if v is None and name not in ("properties.*", "customFields.*", "fields.*"):
        return None  # absent: the default applies
    if name in ("id", "type", "anonymousId", "entityId", "state", "currency", "accountCurrency"):
        column = STORED_AT[name].split(".")[1]  # type: ignore[union-attr]
        return None if row[column] == v else f"stored {row[column]!r}"
    if name == "occurredAt":
        instant = TypeAdapter(AwareDatetime).validate_python(v)
        return None if row["occurred_at"] == instant else f"stored {row['occurred_at']!r}, sent {instant!r}"
    if name == "email":
        email = str(TypeAdapter(EmailStr).validate_python(v)).lower()
        return None if s.email == email else f"customer's email {s.email!r}, expected {email!r}"
    if name == "productId":
        return None if row["product_id"] == uuid.UUID(v) and row["category_id"] else f"stored {row['product_id']}"
    if name == "amount":
        return None if _same_number(v, row["amount"]) else f"stored {row['amount']!r}"
    items = _json(row["items"])
    if name == "items":
        n = len(items or [])
        return None if n == len(v) else f"{n} items stored, {len(v)} sent"
    if name.startswith("items[]."):
        key = name.split(".", 1)[1]
        got = (items or [{}])[0].get(key)
        if key == "productId":
            return None if got is not None and uuid.UUID(got) == uuid.UUID(v) else f"stored {got!r}"
        return None if _same_number(v, got) else f"stored {got!r}"
    if name == "device":
        return None if row["device_id"] == v["id"] else f"device {row['device_id']!r}"
    if name.startswith("device."):
        if name == "device.id":
            ok = row["device_id"] == v and s.device is not None
            return None if ok else f"stored {row['device_id']!r} (devices row: {s.device is not None})"
        column = STORED_AT[name].split(".")[1]  # type: ignore[union-attr]
        got = s.device[column] if s.device else "<no devices row>"
        return None if got == v else f"devices.{column} {got!r}"
    column = STORED_AT[name.split(".")[0]].split(".")[1]  # type: ignore[union-attr]
    props = _json(row[column]) or {}
    if name in ("properties", "customFields", "fields"):
        return None if props == (_json(json.dumps(v)) or {}) else f"stored {str(props)[:200]}"
    if name in ("properties.*", "customFields.*", "fields.*"):
        if "k" not in props:
            return f"no key k in {str(props)[:200]}"
        got = props["k"]
        if isinstance(v, str | bool) or v is None:
            return None if got == v and type(got) is type(v) else f"stored {got!r}"
        try:
            ok = not isinstance(got, bool) and Decimal(str(got)) == _number(v)
        except InvalidOperation:
            ok = False
        return None if ok else f"stored {got!r} for {v!r}"
    raise AssertionError(f"no read-back for {name}")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 120 else f"{text[:100]}... ({len(value) if isinstance(value, str | dict) else '?'})"


# --------------------------------------------------------------------------- the tests


def test_every_event_field_is_covered() -> None:
    """The enumeration finds every field of an event, nested ones too, and knows where each lands: a new field
    fails here until it has a `STORED_AT` entry (and a read-back in `_check_stored`)."""
    names = {f.name for f in event_fields()}
    assert {
        "id",
        "type",
        "occurredAt",
        "email",
        "amount",
        "items[].quantity",
        "items[].amount",
        "device.userAgent",
        "properties.*",
    } <= names
    assert names == set(STORED_AT), f"fields without a STORED_AT entry: {names - set(STORED_AT)}"
    assert all(cases_of(f) for f in event_fields())


@pytest.mark.parametrize(("field", "case"), PARAMS)
async def test_event_field(run: Run, field: EventField, case: Case) -> None:
    s = run.sent[_key(field, case)]
    where = f"events[].{field.name} = {_describe(s.value)}"
    assert 0 < s.status < 500, f"{where}: {s.status} {str(s.answer)[:500]}"
    expected = f"events[{s.index}].{_concrete(field.name)}"
    named = _named(s)
    if s.status != 202 or s.refusals:
        assert named, f"{where}: refused without naming a field: {s.status} {str(s.answer)[:500]}"
        wrong = [n for n in named if not _within(n, expected)]
        assert not wrong, f"{where}: refused naming {wrong}, not {expected}: {str(s.answer)[:500]}"
        assert s.row is None, f"{where}: refused, yet stored"
        return
    assert not case.refuse, f"{where}: accepted what the contract refuses (stored: {s.row is not None})"
    assert s.row is not None, f"{where}: accepted (202, not refused), but not stored"
    why = _check_stored(s)
    assert why is None, f"{where}: {why}"


async def test_the_field_matrix_costs_a_few_requests_and_no_5xx(run: Run) -> None:
    assert all(status < 500 for status in run.statuses), run.statuses
    batched = [s for s in run.sent.values() if not s.alone]
    assert len(batched) > 500 and len(run.statuses) < 60, (len(batched), len(run.statuses))
    # Every batch answered 202 with the counts that add up.
    for s in batched:
        assert s.status == 202, (s.status, s.answer)
        a = s.answer
        assert a["accepted"] == a["stored"] and a["duplicates"] == 0, a


# --------------------------------------------------------------------------- whole-batch limits


def _events(n: int, tag: str, pad: int = 0) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "id": f"w-{tag}-{k}",
            "type": "page_view",
            "occurredAt": (now - timedelta(minutes=3, milliseconds=k)).isoformat(),
            "anonymousId": f"anon-{tag}",
            **({"properties": {f"pad{p}": "p" * 450 for p in range(pad)}} if pad else {}),
        }
        for k in range(n)
    ]


async def test_whole_batch_limits(gateway: Any, pool: Any, insights_pool: Any, issuer: Any) -> None:
    t = await create_tenant(pool, issuer, name="Event batch limits")
    tag = uuid.uuid4().hex[:8]

    # 1,001 events: 413 naming events, nothing stored.
    r = await _post(gateway, t, json.dumps({"events": _events(MAX_EVENTS + 1, tag)}).encode())
    assert r.status_code == 413 and r.json()["error"]["field"] == "events", r.text

    # Not {"events": [...]}: 422 naming events.
    for body in (
        b"",
        b"[]",
        b'"x"',
        b"null",
        b"{}",
        b'{"events": {}}',
        b'{"events": null}',
        b'{"events": []}',
        b'{"events": "x"}',
        b'{"events": [], "more": 1}',
    ):
        r = await _post(gateway, t, body)
        assert r.status_code == 422 and r.json()["error"]["field"] == "events", (body, r.status_code, r.text)

    # Malformed JSON: 400, naming the field when there is one, else where the text stops being JSON.
    r = await _post(gateway, t, b'{"events": [')
    assert r.status_code == 400 and r.json()["error"]["code"] == "MALFORMED_JSON", r.text
    assert "line 1" in r.json()["error"]["message"], r.text
    for raw, named in (
        ('{"events": [{"id": "a"}, {"amount": NaN}]}', "events[1].amount"),
        ('{"events": [{"id": "\\ud800"}]}', "events[0].id"),
        ('{"events": [{"properties": {"k": Infinity}}]}', "events[0].properties.k"),
    ):
        r = await _post(gateway, t, raw.encode())
        assert r.status_code == 400 and r.json()["error"]["field"] == named, (raw, r.text)

    # A body within the documented 2 MiB (1,000 events of about 1.5 KiB) is judged event by event.
    body = json.dumps({"events": _events(MAX_EVENTS, tag + "b", pad=3)}).encode()
    assert 1024 * 1024 < len(body) <= MAX_BATCH_BYTES
    r = await _post(gateway, t, body)
    assert r.status_code == 202, r.text[:500]
    assert r.json()["stored"] == MAX_EVENTS, r.text[:500]
    async with tenant_tx(insights_pool, t.org_id) as conn:
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE org_id = $1", t.org_id)
    assert stored == MAX_EVENTS


async def test_an_oversized_body_is_refused_unread(gateway: Any, tenant: Tenant) -> None:
    """2 MiB + 1 byte: 413 on its declared length before a byte is read, and, streamed without a length,
    the moment it runs past the cap: the gateway never reads the rest."""
    headers = {"authorization": f"Bearer {tenant.api_key}", "content-type": "application/json"}
    body = b" " * (MAX_BATCH_BYTES + 1)
    r = await gateway.post(EVENTS, content=body, headers=headers)
    assert r.status_code == 413, r.text

    pulled = 0
    chunk = 64 * 1024
    total_chunks = (4 * MAX_BATCH_BYTES) // chunk

    async def stream() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(total_chunks):
            pulled += 1
            yield b" " * chunk

    r = await gateway.post(EVENTS, content=stream(), headers=headers)
    assert r.status_code == 413, r.text
    assert pulled * chunk <= MAX_BATCH_BYTES + 2 * chunk < total_chunks * chunk, pulled


async def test_another_organisation_never_sees_the_events(
    gateway: Any, tenant: Tenant, other_tenant: Tenant, insights_pool: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    r = await _post(gateway, tenant, json.dumps({"events": _events(3, tag)}).encode())
    assert r.status_code == 202 and r.json()["stored"] == 3, r.text
    async with tenant_tx(insights_pool, other_tenant.org_id) as conn:
        seen = await conn.fetchval("SELECT count(*) FROM events WHERE source_key LIKE $1", f"w-{tag}-%")
    assert seen == 0


async def test_a_field_name_holding_a_lone_surrogate_is_named_not_a_5xx(gateway: Any, tenant: Tenant) -> None:
    """The name is escaped in the answer (UTF-8 cannot hold it): on /v1/events, and on the /v1 routes that share
    the gateway's JSON error locator (it was a 500 there: the answer could not be encoded)."""
    headers = {"authorization": f"Bearer {tenant.api_key}", "content-type": "application/json"}
    for path, body, named in (
        (EVENTS, b'{"events": [{"properties": {"a\\ud800": 1}}]}', "events[0].properties.a\\ud800"),
        ("/v1/orders", b'{"customer": {"\\ud800": 1}}', "customer.\\ud800"),
    ):
        r = await gateway.post(path, content=body, headers=headers)
        assert r.status_code == 400 and r.json()["error"]["field"] == named, (path, r.status_code, r.text)
