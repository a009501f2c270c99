"""Mixpanel forwarding rules, no I/O: what a connection may say, and how our events and contacts look there.

Mapping (Mixpanel's documented event and profile shapes: https://docs.mixpanel.com/reference/import-events,
https://developer.mixpanel.com/reference/profile-set):
- `event` is our catalogue type (`order_placed`, `page_view`, `custom:...`), so a Mixpanel report names what
  the insights builder names.
- `properties.time` is occurred_at in milliseconds; `distinct_id` is our customer id, the surviving customer's
  after an identity merge (the caller resolves it); an event with no customer goes with the empty distinct id,
  which Mixpanel accepts and leaves out of behavioural analysis.
- `$insert_id` is our event id as written (a uuid: 36 characters of hex and `-`, within Mixpanel's "36
  characters or less, alphanumeric or -"), so a batch sent twice is deduplicated there.
- The dimensions and the event's own properties follow; Mixpanel's reserved names (`$...`, `mp_...`, `time`,
  `distinct_id`, `token`) are never taken from an event's properties.
`document` assembles one from what the repository reads (the event's properties as JSON text, never decoded:
decoding each stored event in Python and encoding it again cost a third of the forwarding time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

from services.insights.domain import catalogue
from shared.errors import DomainError, ErrorCode

REGIONS = ("EU", "US")
# https://docs.mixpanel.com/reference/import-events: "up to 2000 events and 10MB uncompressed per request".
MAX_BATCH_EVENTS = 2000
MAX_BATCH_BYTES = 10 * 1024 * 1024
# https://www.mintlify.com/mixpanel/docs/api-reference/rate-limits: /engage takes 2000 profile updates a request.
MAX_PROFILE_UPDATES = 2000
MAX_EVENT_TYPES = 200
_RESERVED = ("$", "mp_")
_RESERVED_NAMES = frozenset({"time", "distinct_id", "token"})


def parse_region(value: str) -> str:
    region = value.strip().upper()
    if region not in REGIONS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"unknown region {value!r}: EU or US", "region")
    return region


def parse_event_types(values: Iterable[str]) -> list[str]:
    """The catalogue types picked, each known (custom behaviour types included), in the order given, once."""
    types = list(dict.fromkeys(values))
    if len(types) > MAX_EVENT_TYPES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"at most {MAX_EVENT_TYPES} event types", "eventTypes")
    for i, name in enumerate(types):
        if catalogue.lookup(name) is None:
            raise DomainError(ErrorCode.INVALID_INPUT, f"unknown event type {name!r}", f"eventTypes[{i}]")
    return types


def parse_project_id(value: str) -> str:
    project = value.strip()
    if not project.isascii() or not project.isdigit() or len(project) > 20:
        raise DomainError(ErrorCode.INVALID_INPUT, "a Mixpanel project id is a number", "projectId")
    return project


def insert_id(event_id: UUID) -> str:
    return str(event_id)


def document(
    event_type: str, ms: int, distinct_id: str, insert_id_: str, dimensions: Mapping[str, Any], properties_json: str
) -> bytes:
    """One Mixpanel event as JSON: the event's own properties (JSON text of an object, reserved names already
    removed), then ours. Ours come last so that, should a name repeat, ours is the one JSON parsers keep."""
    ours = orjson.dumps({**dimensions, "time": ms, "distinct_id": distinct_id, "$insert_id": insert_id_})
    head = b'{"event":' + orjson.dumps(event_type) + b',"properties":'
    props = properties_json.strip()
    if props in ("{}", ""):
        return head + ours + b"}"
    return head + props[:-1].encode() + b"," + ours[1:] + b"}"


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Contact:
    """A customer as forwarded to a Mixpanel profile."""

    customer_id: UUID
    email: str | None
    name: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    integrations: tuple[str, ...]
    custom_fields: Mapping[str, Any]


def profile_update(token: str, contact: Contact) -> dict[str, Any]:
    """One /engage update: `$set` what may change, `$set_once` the first time we saw them (never moves back)."""
    values: dict[str, Any] = {"integrations_visited": list(contact.integrations)}
    if contact.email is not None:
        values["$email"] = contact.email
    if contact.name is not None:
        values["$name"] = contact.name
    if contact.last_seen is not None:
        values["last_seen"] = contact.last_seen.isoformat()
    for key, value in contact.custom_fields.items():
        if not key.startswith(_RESERVED) and key not in _RESERVED_NAMES:
            values[f"custom.{key}"] = _value(value)
    update: dict[str, Any] = {"$token": token, "$distinct_id": str(contact.customer_id), "$set": values}
    if contact.first_seen is not None:
        update["$set_once"] = {"first_seen": contact.first_seen.isoformat()}
    return update
