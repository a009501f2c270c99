"""What the edge accepts can be applied: every field of every body the gateway takes in (each `/v1` POST body
and the provider commission webhook) driven to its type's limits is either refused with a 4xx naming the field,
or accepted and then stored exactly, never a 5xx, never a 202 the worker then fails to apply.

The fields are enumerated from the OpenAPI document the gateway serves (built from shared/api_contracts.py
and webhooks.CommissionWebhook, headers included), so a field added later is driven here the day it exists;
`STORED_AT` says where each one lands, and a field without an entry fails `test_every_field_is_covered`.

Each case is one test (`-k 'orders-externalRef'` picks a field). `/v1` cases are sent one by one and read back
from the database and through GraphQL; the webhook cases are all sent first, one real worker applies them,
and each test then checks the receipt (the delivery log) and the order of its own case.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import httpx
import pytest
from pydantic import AwareDatetime, EmailStr, TypeAdapter
from starlette.routing import Route

from shared.config import Settings
from tests.factories import Tenant, create_order, create_tenant, gql, signed_headers

ORDERS = "/v1/orders"
IDENTIFY = "/v1/customers/identify"
WEBHOOK = "/webhooks/providers/{provider}/commission"
BODY_CAPS = {ORDERS: 256 * 1024, IDENTIFY: 256 * 1024, WEBHOOK: 64 * 1024}
ROUTE_TAG = {ORDERS: "orders", IDENTIFY: "identify", WEBHOOK: "webhook"}

# Where each field lands: the column a test reads back (None: no column of its own, e.g. an object, or a
# value that only selects what happens, like the webhook's `type`).
STORED_AT: dict[tuple[str, str], str | None] = {
    (ORDERS, "externalRef"): "orders.external_ref",
    (ORDERS, "productId"): "orders.product_id",
    (ORDERS, "customer"): None,
    (ORDERS, "customer.email"): "customers.email",
    (ORDERS, "customer.anonymousId"): "customers.anonymous_id",
    (ORDERS, "status"): "orders.status",
    (ORDERS, "commission"): None,
    (ORDERS, "commission.amount"): "orders.commission_amount",
    (ORDERS, "commission.currency"): "orders.currency",
    (ORDERS, "occurredAt"): "orders.created_at",
    (ORDERS, "channel"): "customers.channel",
    (ORDERS, "kind"): "orders.kind",
    (ORDERS, "failureReason"): "orders.failure_reason",
    (IDENTIFY, "anonymousId"): "customers.anonymous_id",
    (IDENTIFY, "email"): "customers.email",
    (IDENTIFY, "channel"): "customers.channel",
    (IDENTIFY, "accountCurrency"): "customers.account_currency",
    (IDENTIFY, "customFields"): None,  # keys are checked against definitions: tests/services/gateway/test_custom_fields
    (WEBHOOK, "webhook-id"): "webhook_receipts.webhook_id",
    (WEBHOOK, "type"): None,
    (WEBHOOK, "data"): None,
    (WEBHOOK, "data.order_id"): "webhook_receipts.order_id",
    (WEBHOOK, "data.sequence"): "webhook_receipts.sequence",
    (WEBHOOK, "data.status"): "orders.status",
    (WEBHOOK, "data.commission_status"): "orders.comm_status",
    (WEBHOOK, "data.amount"): "orders.commission_amount",
    (WEBHOOK, "data.currency"): "webhook_receipts.requested",
    (WEBHOOK, "data.failure_reason"): "orders.failure_reason",
}

# Routes whose bodies are driven to their limits by a test of their own: a batch of events, each judged alone,
# is driven case by case within a few batches there (tests/services/insights/test_event_field_limits.py).
DRIVEN_ELSEWHERE = {"/v1/events"}

# What a field needs beside it to be meaningful (a failure reason only goes with a FAILED order).
CONTEXT: dict[tuple[str, str], dict[str, Any]] = {
    (ORDERS, "failureReason"): {"status": "FAILED"},
    (WEBHOOK, "data.failure_reason"): {"data.status": "FAILED", "data.amount": None, "data.currency": None},
    (WEBHOOK, "data.commission_status"): {"data.status": "SUCCESSFUL"},
}


# --------------------------------------------------------------------------- the fields, from the document


@dataclass(frozen=True)
class EdgeField:
    route: str
    name: str  # as errors name it: dotted body path ("customer.email", "data.sequence") or the header's name
    kind: str  # text, email, uuid, datetime, money, integer, choice, pattern, object
    nullable: bool = False
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    header: bool = False


_ALTERNATION = re.compile(r"^\^\(?([^()\[\]{}*+?]+?)\)?\$$")


def _kind(node: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    types = {b.get("type") for b in node.get("anyOf", [])} or {node.get("type")}
    if "properties" in node:
        return "object", ()
    if node.get("type") == "object":
        return "map", ()  # free keys (custom fields): each key is checked against the organisation's definitions
    if types == {"number", "string"}:
        return "money", ()  # pydantic's Decimal: a number or a decimal string
    if types == {"integer"}:
        return "integer", ()
    if node.get("format") in ("uuid", "email", "date-time"):
        return {"date-time": "datetime"}.get(node["format"], node["format"]), ()
    if "enum" in node:
        return "choice", tuple(node["enum"])
    if "pattern" in node:
        m = _ALTERNATION.match(node["pattern"])
        if m:
            return "choice", tuple(a.replace("\\.", ".") for a in m.group(1).split("|"))
        return "pattern", ()
    if types == {"string"}:
        return "text", ()
    raise AssertionError(f"a field of a kind this test cannot drive: {node}")


def _walk(schemas: dict[str, Any], route: str, node: dict[str, Any], name: str, out: list[EdgeField]) -> None:
    nullable = False
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b != {"type": "null"}]
        nullable = len(branches) < len(node["anyOf"])
        node = branches[0] if len(branches) == 1 else {"anyOf": branches}
    if "$ref" in node:
        node = schemas[node["$ref"].rsplit("/", 1)[-1]]
    if node.get("type") == "array":
        return  # a batch (POST /v1/events): its items are driven by the route's own test (DRIVEN_ELSEWHERE)
    kind, choices = _kind(node)
    if name:
        out.append(
            EdgeField(
                route,
                name,
                kind,
                nullable,
                node.get("minLength"),
                node.get("maxLength"),
                node.get("minimum"),
                node.get("maximum"),
                choices,
            )
        )
    for prop, sub in node.get("properties", {}).items():
        _walk(schemas, route, sub, f"{name}.{prop}" if name else prop, out)


@cache
def document() -> dict[str, Any]:
    from services.gateway.docs import build_openapi

    return build_openapi(Settings())


@cache
def edge_fields() -> tuple[EdgeField, ...]:
    """Every body field of every POST the gateway documents with a JSON body, and the free-text headers
    that are stored (those with a maxLength: the webhook id)."""
    doc = document()
    schemas = doc["components"]["schemas"]
    out: list[EdgeField] = []
    for path, item in doc["paths"].items():
        op = item.get("post")
        if not op or "requestBody" not in op:
            continue
        for p in op.get("parameters", []):
            if p["in"] == "header" and "maxLength" in p["schema"]:
                out.append(EdgeField(path, p["name"], "text", max_length=p["schema"]["maxLength"], header=True))
        _walk(schemas, path, op["requestBody"]["content"]["application/json"]["schema"], "", out)
    return tuple(out)


# --------------------------------------------------------------------------- the values


@dataclass(frozen=True)
class Raw:
    """JSON text sent as is, for literals `json.dumps` would not write from a Python value."""

    text: str


@dataclass(frozen=True)
class Case:
    label: str
    value: Any
    refuse: bool = False  # the documented contract refuses it: accepting it is a defect too


UNIQUE = "{u}"  # replaced by a per-case unique tag, so every accepted text lands in a row of its own


def _sized(n: int, fill: str = "x") -> str:
    """`n` characters starting with the unique tag (when there is room for it)."""
    tag = UNIQUE if n >= 12 else ""
    return tag + fill * (n - (12 if tag else 0))


WRONG_TYPES = [
    Case("int 0", 0, True),
    Case("int -1", -1, True),
    Case("int 2^63", 2**63, True),
    Case("float 1.5", 1.5, True),
    Case("true", True, True),
    Case("false", False, True),
    Case("array", [], True),
    Case("object", {}, True),
]


def _text_cases(f: EdgeField) -> list[Case]:
    lo, hi = f.min_length or 0, f.max_length or 10_000
    cases = [
        Case("empty", "", lo > 0),
        Case("one char", "x"),
        Case(f"max {hi} chars", _sized(hi)),
        Case(f"max+1 {hi + 1} chars", _sized(hi + 1), True),
        Case("100k chars", _sized(100_000), hi < 100_000),
        Case("emoji at max (4 bytes each)", _sized(hi, "😀")),
        Case("emoji at max+1", _sized(hi + 1, "😀"), True),
        Case("combining marks at max (code points)", _sized(hi, "\u0301") if hi >= 12 else "e" + "\u0301" * (hi - 1)),
        Case("CJK at max (3 bytes each)", _sized(hi, "漢")),
        Case("lone surrogate", "a\ud800b", True),
        Case("NUL", "a\x00b", True),
        Case("SOH", "a\x01b", True),
        Case("newline", "a\nb", True),
        Case("carriage return", "a\rb", True),
        Case("escape", "a\x1bb", True),
        Case("DEL", "a\x7fb", True),
        Case("C1 NEL", "a\x85b", True),
        Case("C1 APC", "a\x9fb", True),
        Case("tab", "a\tb"),
        Case("line separator U+2028", "a\u2028b"),
        Case("bidi override U+202E", "a\u202eb"),
        Case("BOM and zero width space", "\ufeffa\u200bb"),
        Case("leading and trailing whitespace", f"  {UNIQUE}  "),
        Case("whitespace only", "   "),
        Case("null", None, not f.nullable),
    ]
    return cases + WRONG_TYPES


def _email_cases(f: EdgeField) -> list[Case]:
    at = "@example.com"
    return [
        Case("empty", "", True),
        Case("plain", f"{UNIQUE}{at}"),
        Case("upper-case domain (normalised)", f"{UNIQUE}@EXAMPLE.COM"),
        Case("local part 64", _sized(64) + at),
        Case("local part 65", _sized(65) + at),
        Case("254 chars", _sized(64) + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".com"),
        Case("255 chars", _sized(64) + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 58 + ".com"),
        Case("100k chars", _sized(100_000) + at, True),
        Case("emoji local part", f"{UNIQUE}😀{at}"),
        Case("internationalised domain", f"{UNIQUE}@exämple.com"),
        Case("leading and trailing whitespace (normalised)", f"  {UNIQUE}{at}  "),
        Case("NUL", f"a\x00b{at}", True),
        Case("newline", f"a\nb{at}", True),
        Case("DEL", f"a\x7fb{at}", True),
        Case("lone surrogate", f"a\ud800b{at}", True),
        Case("no @", "not-an-email", True),
        Case("null", None, not f.nullable),
        *WRONG_TYPES,
    ]


def _uuid_cases(f: EdgeField) -> list[Case]:
    # "{target}" is the id the base body carries (the product, the order): other spellings of the same id.
    return [
        Case("empty", "", True),
        Case("canonical", "{target}"),
        Case("upper case", "{TARGET}"),
        Case("no hyphens", "{target_hex}"),
        Case("braces", "{{target}}"),
        Case("urn", "urn:uuid:{target}"),
        Case("unknown id", "00000000-0000-4000-8000-000000000000"),
        Case("nil", "00000000-0000-0000-0000-000000000000"),
        Case("max", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
        Case("one digit too many", "{target}0", True),
        Case("100k chars", "a" * 100_000, True),
        Case("NUL", "{target}\x00", True),
        Case("null", None, not f.nullable),
        *WRONG_TYPES,
    ]


def _datetime_cases(f: EdgeField) -> list[Case]:
    return [
        Case("empty", "", True),
        Case("now", "{now}"),
        Case("an hour ago, +14:00", "{hour_ago_plus14}"),
        Case("microseconds", "2024-02-29T12:34:56.123456Z"),
        Case("nanoseconds (kept to the microsecond)", "2024-02-29T12:34:56.123456789Z"),
        Case("space separator, lower-case z", "2024-02-29 12:34:56z"),
        Case("year 0001 UTC", "0001-01-01T00:00:00Z"),
        Case("year 0001 +14:00 (year 0 in UTC)", "0001-01-01T00:00:00+14:00"),
        Case("year 0001 -14:00", "0001-01-01T00:00:00-14:00"),
        Case("1999-12-31 (before 2000)", "1999-12-31T23:59:59Z"),
        Case("1970 epoch", "1970-01-01T00:00:00Z"),
        Case("year 9999", "9999-12-31T23:59:59Z", True),
        Case("year 9999 -14:00 (year 10000 in UTC)", "9999-12-31T23:59:59-14:00", True),
        Case("a day ahead", "{day_ahead}", True),
        Case("2026-02-30", "2026-02-30T00:00:00Z", True),
        Case("hour 24", "2024-01-01T24:00:00Z", True),
        Case("leap second", "2016-12-31T23:59:60Z", True),
        Case("offset +24:00", "2024-01-01T00:00:00+24:00", True),
        Case("no time zone", "2024-01-01T00:00:00", True),
        Case("date only", "2024-01-01", True),
        Case("100k chars", "2024-01-01T00:00:00Z" + "0" * 100_000, True),
        Case("NUL", "2024-01-01T00:00:00Z\x00", True),
        Case("unix seconds as a number", 1_700_000_000, True),
        Case("unix seconds as a string", "1700000000", True),
        Case("2^31-1", 2**31 - 1, True),
        Case("2^53+1", 2**53 + 1, True),
        Case("1e308", 1e308, True),
        Case("-1e308", -1e308, True),
        Case("NaN literal", float("nan"), True),
        Case("true", True, True),
        Case("null", None, not f.nullable),
        Case("array", [], True),
    ]


def _number_cases(f: EdgeField) -> list[Case]:
    lo = f.minimum if f.minimum is not None else 0
    cases = [
        Case("0", 0, lo > 0),
        Case("-1", -1, lo > -1),
        Case("1", 1),
        Case("2^31-1", 2**31 - 1),
        Case("2^31", 2**31),
        Case("2^53+1", 2**53 + 1),
        Case("2^63-1", 2**63 - 1),
        Case("2^63", 2**63),
        Case("2^64", 2**64),
        Case("1e308", 1e308),
        Case("-1e308", -1e308, True),
        Case("float 1.0", 1.0),
        Case("float 1.5", 1.5, f.kind == "integer"),
        Case("float 1e-7", 1e-7, True),
        Case("float literal 2^53+1 (rounds when parsed)", Raw("9007199254740993.0")),
        Case("integer literal 10^30", Raw("1" + "0" * 30)),
        Case("numeric string", "5"),
        Case("numeric string with spaces", " 5 "),
        Case("numeric string with underscores", "1_000"),
        Case("hex string", "0x10", True),
        Case("empty string", "", True),
        Case("text", "abc", True),
        Case("NaN literal", float("nan"), True),
        Case("Infinity literal", float("inf"), True),
        Case("-Infinity literal", float("-inf"), True),
        Case("NaN string", "NaN", True),
        Case("Infinity string", "Infinity", True),
        Case("true", True, True),
        Case("false", False, True),
        Case("null", None, not f.nullable),
        Case("array", [], True),
        Case("object", {}, True),
    ]
    if f.maximum is not None:
        cases += [Case(f"maximum {f.maximum}", f.maximum), Case(f"maximum+1 {f.maximum + 1}", f.maximum + 1, True)]
    if f.kind == "money":
        cases += [
            Case("0.01", "0.01"),
            Case("0.001", "0.001", True),
            Case("1.005", "1.005", True),
            Case("12.5 as a number", 12.5),
            Case("largest 999999999999.99", "999999999999.99"),
            Case("largest as a number", 999999999999.99),
            Case("largest + 0.01", "1000000000000.00", True),
            Case("999999999999.995", "999999999999.995", True),
            Case("many zero decimals", "1.10000000000000000000"),
            Case("many decimals", "1.0000000000000000000001", True),
            Case("negative zero", "-0"),
            Case("exponent 0E-100", "0E-100"),
            Case("exponent 1e5", "1e5"),
            Case("exponent 1E+12", "1E+12", True),
            Case("Arabic-Indic digits", "١٢"),
        ]
    return cases


def _choice_cases(f: EdgeField) -> list[Case]:
    return [
        *[Case(f"valid {c}", c) for c in f.choices],
        Case("lower case", f.choices[0].lower(), f.choices[0].lower() not in f.choices),
        Case("surrounding spaces", f" {f.choices[0]} ", True),
        Case("trailing newline", f.choices[0] + "\n", True),
        Case("unknown value", "DONE", True),
        Case("empty", "", True),
        Case("100k chars", "A" * 100_000, True),
        Case("NUL", f.choices[0] + "\x00", True),
        Case("null", None, not f.nullable),
        *WRONG_TYPES,
    ]


def _pattern_cases(f: EdgeField) -> list[Case]:
    return [
        Case("valid (the base value)", "{base}"),
        Case("another valid value", "EUR"),
        Case("lower case", "gbp", True),
        Case("two letters", "GB", True),
        Case("four letters", "GBPX", True),
        Case("non-ASCII letters", "ÄÖÜ", True),
        Case("trailing newline", "GBP\n", True),
        Case("empty", "", True),
        Case("100k chars", "A" * 100_000, True),
        Case("NUL", "GB\x00", True),
        Case("null", None, not f.nullable),
        *WRONG_TYPES,
    ]


def _object_cases(f: EdgeField) -> list[Case]:
    return [
        Case("empty object", {}),
        Case("null", None, not f.nullable),
        Case("array", [], True),
        Case("string", "x", True),
        Case("0", 0, True),
        Case("true", True, True),
    ]


def _map_cases(f: EdgeField) -> list[Case]:
    return [
        Case("empty object", {}),
        Case("a key no definition has", {"no_such_field": "x"}, True),
        Case("null", None, not f.nullable),
        Case("array", [], True),
        Case("string", "x", True),
        Case("0", 0, True),
    ]


def _header_cases(f: EdgeField) -> list[Case]:
    hi = f.max_length or 200
    return [
        Case(f"max {hi} chars", _sized(hi)),
        Case(f"max+1 {hi + 1} chars", _sized(hi + 1), True),
        Case("10k chars", _sized(10_000), True),
        Case("SOH", f"{UNIQUE}\x01", True),
        Case("escape", f"{UNIQUE}\x1b", True),
        Case("DEL", f"{UNIQUE}\x7f", True),
        Case("tab inside", f"{UNIQUE}\tx"),
        Case("latin-1 letters", f"{UNIQUE}é"),
    ]


CASES_BY_KIND = {
    "text": _text_cases,
    "email": _email_cases,
    "uuid": _uuid_cases,
    "datetime": _datetime_cases,
    "money": _number_cases,
    "integer": _number_cases,
    "choice": _choice_cases,
    "pattern": _pattern_cases,
    "object": _object_cases,
    "map": _map_cases,
}


def cases_of(f: EdgeField) -> list[Case]:
    return _header_cases(f) if f.header else CASES_BY_KIND[f.kind](f)


def _params(routes: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(f, c, id=f"{ROUTE_TAG.get(f.route, f.route)}-{f.name}-{c.label}")
        for f in edge_fields()
        if f.route in routes
        for c in cases_of(f)
    ]


# --------------------------------------------------------------------------- building requests


def _fill(value: Any, subs: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, sub in subs.items():
            value = value.replace(key, sub)
    return value


def _set(body: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = body
    for p in parents:
        node = node[p]
    if value is _DROP:
        node.pop(last, None)
    else:
        node[last] = value


def _get(body: dict[str, Any], dotted: str) -> Any:
    node: Any = body
    for p in dotted.split("."):
        node = node.get(p) if isinstance(node, dict) else None
    return node


_DROP = object()
RAW_MARK = "__raw_literal__"


def _encode(body: dict[str, Any], raw: Raw | None) -> bytes:
    text = json.dumps(body)  # NaN and Infinity are written as the literals Python's json allows
    if raw is not None:
        text = text.replace(json.dumps(RAW_MARK), raw.text)
    return text.encode()


def _request_body(base: dict[str, Any], f: EdgeField, case: Case, subs: dict[str, str]) -> tuple[bytes, Any]:
    """The body to send, and the value sent (after substitutions)."""
    body = json.loads(json.dumps(base))
    for dotted, v in CONTEXT.get((f.route, f.name), {}).items():
        _set(body, dotted, _DROP if v is None else v)
    value = _fill(case.value, subs)
    if not f.header:
        _set(body, f.name, RAW_MARK if isinstance(value, Raw) else value)
    return _encode(body, value if isinstance(value, Raw) else None), value


def _subs(target: uuid.UUID | None, base_value: Any) -> dict[str, str]:
    from datetime import UTC, datetime, timedelta, timezone

    now = datetime.now(UTC)
    subs = {
        UNIQUE: uuid.uuid4().hex[:12],
        "{now}": now.isoformat(),
        "{hour_ago_plus14}": (now - timedelta(hours=1)).astimezone(timezone(timedelta(hours=14))).isoformat(),
        "{day_ahead}": (now + timedelta(days=1)).isoformat(),
        "{base}": str(base_value),
    }
    if target is not None:
        subs |= {"{target}": str(target), "{TARGET}": str(target).upper(), "{target_hex}": target.hex}
    return subs


# --------------------------------------------------------------------------- judging answers


def _named(answer: dict[str, Any], name: str) -> bool:
    """The error names the field (or one inside it), or the object holding it with a reason that names it
    (`customer`: "give an email or an anonymousId")."""
    err = answer.get("error") or {}
    named = [(err.get("field"), err.get("message") or "")]
    named += [(e.get("field"), e.get("message") or "") for e in err.get("errors") or []]
    leaf = name.rsplit(".", 1)[-1]
    return any(
        n == name or (n or "").startswith(name + ".") or (n and name.startswith(n + ".") and leaf in message)
        for n, message in named
    )


def _judge_refusal(f: EdgeField, case: Case, r: httpx.Response, sent: bytes) -> None:
    if r.status_code == 413:
        assert len(sent) > BODY_CAPS[f.route], f"413 for a {len(sent)}-byte body, under the cap: {r.text[:300]}"
        return  # the whole body is refused unread: no field to name
    answer = r.json()
    assert _named(answer, f.name), f"{r.status_code} does not name {f.name!r}: {r.text[:500]}"


def _expected_number(value: Any) -> Decimal:
    text = value.text if isinstance(value, Raw) else value if isinstance(value, str) else json.dumps(value)
    return Decimal(text)


def _same(f: EdgeField, sent: Any, stored: Any) -> bool:
    """The stored value is the sent one (in the form the field documents)."""
    if sent is None or f.kind in ("object", "map"):
        return True  # absent: the default applies
    if f.kind in ("money", "integer"):
        try:
            return stored is not None and Decimal(str(stored)) == _expected_number(sent)
        except InvalidOperation:
            return False
    if f.kind == "uuid":
        return stored is not None and uuid.UUID(str(stored)) == uuid.UUID(str(sent))
    if f.kind == "email":
        return bool(stored == TypeAdapter(EmailStr).validate_python(sent))
    if f.kind == "datetime":
        return bool(stored == TypeAdapter(AwareDatetime).validate_python(sent))
    return bool(stored == sent)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 120 else f"{text[:100]}... ({len(value) if isinstance(value, str) else '?'} chars)"


# --------------------------------------------------------------------------- the enumeration itself


def test_every_field_is_covered() -> None:
    """The enumeration finds every body of a POST route (the /v1 ones and the webhook) and knows where each
    field lands; a new field or route fails here until it has a `STORED_AT` entry (and a base body)."""
    from services.gateway.app import create_app

    fields = edge_fields()
    names = {(f.route, f.name) for f in fields}
    assert {
        (ORDERS, "externalRef"),
        (ORDERS, "commission.amount"),
        (ORDERS, "customer.email"),
        (IDENTIFY, "anonymousId"),
        (WEBHOOK, "data.sequence"),
        (WEBHOOK, "data.amount"),
        (WEBHOOK, "webhook-id"),
    } <= names
    assert names == set(STORED_AT), f"fields without a STORED_AT entry: {names - set(STORED_AT)}"
    app = create_app(Settings())
    posts = {
        r.path
        for r in app.routes
        if isinstance(r, Route) and "POST" in (r.methods or ()) and r.path.startswith(("/v1/", "/webhooks/"))
    }
    driven = set(BASES) | {WEBHOOK}
    assert posts >= DRIVEN_ELSEWHERE, f"DRIVEN_ELSEWHERE names routes that are gone: {DRIVEN_ELSEWHERE - posts}"
    assert posts - DRIVEN_ELSEWHERE == {f.route for f in fields} == driven, (
        f"POST routes {sorted(posts - driven)} take bodies this test does not drive yet: give each a base body "
        "(BASES), its fields' columns (STORED_AT) and a read-back in test_v1_field"
    )
    assert all(cases_of(f) for f in fields)


# --------------------------------------------------------------------------- /v1


@pytest.fixture(scope="module")
async def tenants(pool: Any, issuer: Any) -> dict[str, Tenant]:
    """An organisation per route, so that the few values cases share ("x", "   ") meet no earlier row."""
    return {route: await create_tenant(pool, issuer, name=f"Limits {tag}") for route, tag in ROUTE_TAG.items()}


def _order_base(t: Tenant) -> dict[str, Any]:
    return {
        "externalRef": f"lim-{uuid.uuid4().hex}",
        "productId": str(t.products["Broadband"]),
        "customer": {"email": f"lim-{uuid.uuid4().hex[:12]}@example.com"},
        "commission": {"amount": "12.50", "currency": "GBP"},
    }


def _identify_base(t: Tenant) -> dict[str, Any]:
    return {"anonymousId": f"anon-{uuid.uuid4().hex}", "email": f"lim-{uuid.uuid4().hex[:12]}@example.com"}


BASES = {ORDERS: _order_base, IDENTIFY: _identify_base}

ORDER_ROW = """SELECT o.external_ref, o.product_id, o.status, o.commission_amount, o.currency, o.created_at, o.kind,
       o.failure_reason, c.email, c.anonymous_id, c.channel
  FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1"""
CUSTOMER_ROW = "SELECT email, anonymous_id, channel, account_currency FROM customers WHERE id = $1"
ORDER_QUERY = """query($id: ID!) { order(id: $id) { id externalRef status commStatus kind failureReason createdAt
  commission { amount currency } expectedCommission { amount currency } customer { email displayName channel } } }"""
CUSTOMER_QUERY = "query($id: ID!) { customer(id: $id) { email displayName channel } }"


@pytest.mark.parametrize(("field", "case"), _params((ORDERS, IDENTIFY)))
async def test_v1_field(gateway: Any, pool: Any, tenants: dict[str, Tenant], field: EdgeField, case: Case) -> None:
    from shared.db import tenant_tx

    t = tenants[field.route]
    base = BASES[field.route](t)
    target = uuid.UUID(base["productId"]) if field.route == ORDERS else None
    base_value = _get(base, field.name)
    sent, value = _request_body(base, field, case, _subs(target, base_value))
    headers = {"authorization": f"Bearer {t.api_key}", "content-type": "application/json"}
    r = await gateway.post(field.route, content=sent, headers=headers)
    where = f"{field.route} {field.name} = {_describe(value)}"
    assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:500]}"
    if r.status_code >= 400:
        _judge_refusal(field, case, r, sent)
        return
    assert not case.refuse, f"{where}: accepted ({r.status_code}) what the contract refuses: {r.text[:300]}"
    column = STORED_AT[(field.route, field.name)]
    answer = r.json()
    async with tenant_tx(pool, t.org_id) as conn:
        if field.route == ORDERS:
            row = await conn.fetchrow(ORDER_ROW, uuid.UUID(answer["order"]["id"]))
        else:
            row = await conn.fetchrow(CUSTOMER_ROW, uuid.UUID(answer["customer"]["id"]))
    assert row is not None, f"{where}: answered {r.status_code} but nothing was stored"
    if column is not None:
        stored = row[column.split(".")[1]]
        assert _same(field, value, stored), f"{where}: stored {_describe(stored)}"
    # What was stored reads back through the dashboard's API too.
    if field.route == ORDERS:
        body = await gql(gateway, ORDER_QUERY, {"id": answer["order"]["id"]}, token=t.admin_token)
        assert "errors" not in body and body["data"]["order"], f"{where}: GraphQL read-back: {body}"
    else:
        body = await gql(gateway, CUSTOMER_QUERY, {"id": answer["customer"]["id"]}, token=t.admin_token)
        assert "errors" not in body and body["data"]["customer"], f"{where}: GraphQL read-back: {body}"


# --------------------------------------------------------------------------- the provider webhook


@dataclass
class Delivery:
    field: EdgeField
    case: Case
    value: Any
    sent: bytes
    webhook_id: str
    order_id: uuid.UUID
    status: int = 0
    answer: str = ""
    receipt: dict[str, Any] | None = None
    order: dict[str, Any] | None = None
    deliveries: dict[str, Any] | None = None


def _webhook_base(order_id: uuid.UUID) -> dict[str, Any]:
    return {
        "type": "commission.updated",
        "data": {
            "order_id": str(order_id),
            "sequence": 1,
            "status": "SUCCESSFUL",
            "amount": "12.50",
            "currency": "GBP",
        },
    }


WEBHOOK_PARAMS = _params((WEBHOOK,))
DELIVERIES_QUERY = "query($id: ID!) { orderDeliveries(id: $id) { webhookId sequence outcome reason requested } }"


@pytest.fixture(scope="module")
async def webhook_deliveries(
    gateway_app: Any, pool: Any, tenants: dict[str, Tenant]
) -> AsyncIterator[dict[str, Delivery]]:
    """Every webhook case sent (one at a time, so that one bad item cannot hold up another's batch), then
    applied by one real worker; each delivery with its answer, receipt and order afterwards."""
    import services.orders.worker  # noqa: F401  (the worker's resources, and its actors declared)
    from shared.db import tenant_tx
    from tests.workers import running_worker

    t = tenants[WEBHOOK]
    url = WEBHOOK.format(provider=t.provider["public_id"])
    secret = t.provider["webhook_secret"]
    out: dict[str, Delivery] = {}
    transport = httpx.ASGITransport(app=gateway_app)
    with running_worker({"orders"}):
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            for param in WEBHOOK_PARAMS:
                f, case = param.values
                order = await create_order(pool, t)
                subs = _subs(order["id"], "GBP")
                sent, value = _request_body(_webhook_base(order["id"]), f, case, subs)
                webhook_id = value if f.header else f"lim-{uuid.uuid4().hex}"
                d = Delivery(f, case, value, sent, webhook_id, order["id"])
                try:
                    signed = signed_headers(secret, sent, webhook_id)
                    headers = [(k.encode(), v.encode("latin-1")) for k, v in signed.items()]
                    r = await client.post(url, content=sent, headers=headers)
                    d.status, d.answer = r.status_code, r.text
                except (httpx.HTTPError, UnicodeError, ValueError) as exc:
                    d.status, d.answer = -1, f"not sendable: {exc!r}"
                out[f"{f.route} {f.name} {case.label}"] = d
            accepted = [d for d in out.values() if d.status == 202]
            # Until every accepted delivery has its receipt, or none has come for 10 s.
            seen, last_progress = -1, time.monotonic()
            while time.monotonic() - last_progress < 10:
                async with tenant_tx(pool, t.org_id) as conn:
                    rows = await conn.fetch(
                        "SELECT webhook_id, order_id, sequence, requested, outcome FROM webhook_receipts"
                        " WHERE provider_id = $1 AND webhook_id = ANY($2::text[])",
                        t.provider["id"],
                        [d.webhook_id for d in accepted],
                    )
                if len(rows) == len(accepted):
                    break
                if len(rows) != seen:
                    seen, last_progress = len(rows), time.monotonic()
                await asyncio.sleep(0.2)
        receipts = {r["webhook_id"]: dict(r) for r in rows}
        async with tenant_tx(pool, t.org_id) as conn:
            orders = {
                r["id"]: dict(r)
                for r in await conn.fetch(
                    "SELECT id, status, comm_status, commission_amount, failure_reason, provider_seq FROM orders"
                    " WHERE id = ANY($1::uuid[])",
                    [d.order_id for d in accepted],
                )
            }
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            for d in accepted:
                d.receipt, d.order = receipts.get(d.webhook_id), orders.get(d.order_id)
                if d.receipt is not None:
                    d.deliveries = await gql(client, DELIVERIES_QUERY, {"id": str(d.order_id)}, token=t.admin_token)
    yield out


@pytest.mark.parametrize(("field", "case"), WEBHOOK_PARAMS)
async def test_webhook_field(webhook_deliveries: dict[str, Delivery], field: EdgeField, case: Case) -> None:
    d = webhook_deliveries[f"{field.route} {field.name} {case.label}"]
    where = f"webhook {field.name} = {_describe(d.value)}"
    if d.status == -1:
        pytest.skip(f"{where}: an HTTP client cannot send it ({d.answer})")
    assert 0 < d.status < 500, f"{where}: {d.status} {d.answer[:500]}"
    if d.status != 202:
        r = httpx.Response(d.status, text=d.answer)
        _judge_refusal(field, case, r, d.sent)
        return
    assert not case.refuse, f"{where}: accepted (202) what the contract refuses"
    receipt = d.receipt
    assert receipt is not None, f"{where}: answered 202, but the worker never applied or recorded it"
    assert d.deliveries is not None and "errors" not in d.deliveries, f"{where}: delivery log: {d.deliveries}"
    outcome, order = receipt["outcome"], d.order
    assert order is not None
    applied = outcome == "applied"
    requested = json.loads(receipt["requested"]) if isinstance(receipt["requested"], str) else receipt["requested"]
    name = field.name
    if name == "webhook-id":
        assert receipt["webhook_id"] == d.value, f"{where}: stored as {receipt['webhook_id']!r}"
    elif name == "data.order_id":
        assert _same(field, d.value, receipt["order_id"]), f"{where}: recorded for {receipt['order_id']}"
    elif name == "data.sequence":
        assert _same(field, d.value, receipt["sequence"]), f"{where}: recorded sequence {receipt['sequence']}"
        if applied:
            assert _same(field, d.value, order["provider_seq"]), f"{where}: order at {order['provider_seq']}"
    elif name in ("data.status", "data.commission_status", "data.amount", "data.currency", "data.failure_reason"):
        key = name.split(".")[1]
        if d.value is not None:
            assert key in requested and _same(field, d.value, requested[key]), f"{where}: recorded {requested}"
        column = (STORED_AT[(WEBHOOK, name)] or "").split(".")
        if applied and column[0] == "orders" and d.value is not None:
            stored = order[column[1]]
            assert _same(field, d.value, stored), f"{where}: applied as {_describe(stored)} ({outcome})"


async def test_an_anonymous_id_standing_for_one_email_given_with_another(gateway: Any, pool: Any, tenant: Any) -> None:
    """A visitor's anonymous id already stands for one email's customer; a second person on that device gives
    another email: a customer of their own (it was a 500, the anonymous id's unique index refusing the copy)."""
    from shared.db import tenant_tx

    headers = {"authorization": f"Bearer {tenant.api_key}"}
    first = {"externalRef": "shared-1", "productId": str(tenant.products["Broadband"])}
    r = await gateway.post(
        ORDERS, json={**first, "customer": {"email": "one@example.com", "anonymousId": "device-1"}}, headers=headers
    )
    assert r.status_code == 201, r.text
    r = await gateway.post(IDENTIFY, json={"anonymousId": "device-1", "email": "two@example.com"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["customer"]["email"] == "two@example.com"
    second = {"externalRef": "shared-2", "productId": str(tenant.products["Broadband"])}
    r = await gateway.post(
        ORDERS, json={**second, "customer": {"email": "three@example.com", "anonymousId": "device-1"}}, headers=headers
    )
    assert r.status_code == 201, r.text
    async with tenant_tx(pool, tenant.org_id) as conn:
        rows = await conn.fetch("SELECT email, anonymous_id FROM customers WHERE merged_into IS NULL ORDER BY email")
    assert [tuple(r) for r in rows] == [
        ("one@example.com", "device-1"),
        ("three@example.com", None),
        ("two@example.com", None),
    ]
