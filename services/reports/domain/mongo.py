"""MongoDB connections and forwarded documents, as rules with no I/O (issue 11).

An organisation's admins connect their own MongoDB: a `mongodb://` or `mongodb+srv://` URI (TLS options ride in its
query, as every MongoDB driver reads them), a database name and the documented collections to forward
(shared/collections.py). The URI carries credentials, so the API only ever shows it masked (`display_uri`): scheme
and hosts, never the user, password or options (an option may name a key file or carry its password).

Forwarded documents are the declared documents (services/reports/domain/collections.py) with one change of shape:
fields declared DATETIME become BSON dates (UTC, millisecond precision, as MongoDB stores every date), so the events
collection's TTL index can expire them (a TTL index ignores strings) and a reader's date queries work natively.
Everything else is as declared: decimals stay exact strings beside their currency.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.reports.domain import collections
from shared.collections import BY_NAME, NAMES, Collection, FieldType
from shared.errors import DomainError, ErrorCode

# A MongoDB database name: at most 63 bytes, none of the characters MongoDB refuses in one (its naming rules).
_DB_NAME = re.compile(r"^[^/\\. \"$*<>:|?\x00]{1,63}$")
_URI = re.compile(r"^(?P<scheme>mongodb(?:\+srv)?)://(?:(?P<auth>[^@/]*)@)?(?P<hosts>[^/?@]+)(?P<rest>[/?].*)?$")
MAX_URI_LENGTH = 2048
PROBE_COLLECTION = "_platform_probe"
SNAPSHOT = "organisation_profiles"  # the one collection with no time field: forwarded whole when it changed

Document = dict[str, Any]


def _refuse(field: str, reason: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, f"{field}: {reason}", field)


@dataclass(frozen=True)
class Target:
    """A checked connection input: the URI in clear (only ever stored encrypted), its masked form, the database."""

    uri: str
    display_uri: str
    hosts: str
    database: str


def parse_uri(raw: Any, field: str = "uri") -> tuple[str, str, str]:
    """The URI, its masked form and its hosts; a refusal names `field` and says what is wrong (never echoing it)."""
    if not isinstance(raw, str) or not raw.strip():
        raise _refuse(field, "give a mongodb:// or mongodb+srv:// connection string")
    uri = raw.strip()
    if len(uri) > MAX_URI_LENGTH:
        raise _refuse(field, f"is longer than {MAX_URI_LENGTH} characters")
    m = _URI.match(uri)
    if m is None:
        if not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise _refuse(field, "must start with mongodb:// or mongodb+srv://")
        raise _refuse(field, "is not a MongoDB connection string (scheme://[user:password@]host[:port][/db][?options])")
    hosts = m["hosts"]
    if m["scheme"] == "mongodb+srv" and ("," in hosts or ":" in hosts):
        raise _refuse(field, "a mongodb+srv:// string names one host name, without a port")
    if any(not h for h in hosts.split(",")):
        raise _refuse(field, "names an empty host")
    masked = f"{m['scheme']}://{'***:***@' if m['auth'] is not None else ''}{hosts}"
    return uri, masked, hosts


def parse_database(raw: Any, field: str = "database") -> str:
    if not isinstance(raw, str) or not _DB_NAME.match(raw):
        raise _refuse(field, 'give a MongoDB database name: 1 to 63 characters, none of / \\ . space " $ * < > : | ?')
    return raw


def parse_collections(raw: Any, field: str = "collections") -> tuple[str, ...]:
    """The collections to forward, in declared order; None or absent: all of them. The Activity Feed is no declared
    collection, so it can never be named here (seed 002: it is the one collection never forwarded)."""
    if raw is None:
        return NAMES
    if not isinstance(raw, list) or not raw:
        raise _refuse(field, f"give at least one of {', '.join(NAMES)}")
    seen: set[str] = set()
    for i, name in enumerate(raw):
        if not isinstance(name, str) or name not in BY_NAME:
            raise _refuse(f"{field}[{i}]", f"unknown collection; one of {', '.join(NAMES)}")
        if name in seen:
            raise _refuse(f"{field}[{i}]", "is named twice")
        seen.add(name)
    return tuple(n for n in NAMES if n in seen)


def parse_target(body: Mapping[str, Any]) -> Target:
    uri, display, hosts = parse_uri(body.get("uri"))
    return Target(uri, display, hosts, parse_database(body.get("database")))


def to_mongo(c: Collection, doc: Mapping[str, Any]) -> Document:
    """The document as forwarded: DATETIME fields as BSON dates, the rest as declared (the collections' own
    `native`, one definition for every MongoDB writer)."""
    return collections.native(c, doc)


def _iso(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_mongo(c: Collection, doc: Mapping[str, Any]) -> Document:
    """A forwarded document read back, in the declared JSON shape (dates as ISO-8601 `Z` text at MongoDB's
    millisecond precision): what readers and tests compare with the collection's documents."""
    out = dict(doc)
    for f in c.fields:
        value = out.get(f.name)
        if f.type is FieldType.DATETIME and isinstance(value, datetime):
            out[f.name] = _iso(value)
    return out


def millis(c: Collection, doc: Mapping[str, Any]) -> Document:
    """A declared document with its DATETIME fields cut to milliseconds (what survives a BSON date)."""
    out = to_mongo(c, doc)
    for f in c.fields:
        value = out.get(f.name)
        if isinstance(value, datetime):
            out[f.name] = value.replace(microsecond=value.microsecond // 1000 * 1000)
    return from_mongo(c, out)


def erased_event_fields() -> Document:
    """What an erased contact's forwarded events lose: the personal fields the insights service erases too
    (anonymous ids, devices, event properties)."""
    return {"anonymousId": None, "deviceId": None, "properties": {}}


def failure_reason(exc: BaseException) -> str:
    """A failure as shown to admins: the driver's message without anything that may echo the URI's credentials."""
    text = f"{type(exc).__name__}: {exc}"
    text = re.sub(r"mongodb(\+srv)?://[^@\s/]*@", r"mongodb\1://***:***@", text)
    return text[:500]
