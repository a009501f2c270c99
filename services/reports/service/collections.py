"""The documented collections' documents, streamed: for a date range (downloads, a forwarder's backfill) or
changed after a position (a forwarder keeping a copy current).

Constant memory whatever the collection's size: rows are read in keyset batches (repository/collections.py),
each batch in its own short tenant transaction that ends before its documents are handed on, so a slow reader
holds no connection, snapshot or transaction. Devices and events live only in the insights service's store: they
are read page by page from insights-api's internal endpoint (`InsightsCollections`), mapped by this service's
declarations, so that ingestion (a measured throughput target) writes nothing more for them.

Every generator yields lists of documents (one per batch); `documents()` flattens them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import ValidationError

from services.reports.domain import collections as domain
from services.reports.repository import collections as store
from shared.collections import Collection, Source
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.presets import DateRange
from shared.service import org_settings
from shared.service.client import ServiceClient

BATCH_ROWS = 1000
Document = dict[str, Any]


class InsightsCollections(ServiceClient):
    """insights-api's internal collection pages (devices, events), as the reports service reads them."""

    service = "insights"
    caller = "reports"

    async def page(
        self, name: str, org_id: UUID, since: datetime, until: datetime, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One keyset page of rows (JSON) and the cursor of the next, None after the last."""
        result: dict[str, Any] = await self.call(
            "POST",
            f"/internal/insights/collections/{name}",
            org_id=org_id,
            json={"since": since.isoformat(), "until": until.isoformat(), "after": after, "limit": limit},
        )
        return list(result["rows"]), result.get("next")


class OrdersProviders(ServiceClient):
    """The orders service's list of the organisation's providers (names), as organisation profiles read it."""

    service = "orders"
    caller = "reports"

    async def providers(self, org_id: UUID) -> list[tuple[UUID, str]]:
        rows: list[dict[str, Any]] = await self.call("GET", "/internal/providers", org_id=org_id)
        return [(UUID(str(r["id"])), str(r["name"])) for r in rows]


# --- input: which collection, which instants ---------------------------------------------------------------------


def _refuse(field: str, reason: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, f"{field}: {reason}", field)


@dataclass(frozen=True)
class Window:
    """A collection and the instants [since, until) its time field must fall in: whole days in `time_zone`."""

    collection: Collection
    first_day: date
    last_day: date
    time_zone: str

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first_day, time(0), ZoneInfo(self.time_zone))

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time(0), ZoneInfo(self.time_zone))

    def filter_json(self) -> dict[str, Any]:
        """The input with its range fixed to dates (what an export link carries)."""
        return {
            "collection": self.collection.name,
            "range": {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()},
        }


def parse_window(raw: Any, time_zone: str) -> Window:
    """`{collection, range: {from, to} | {preset}}` checked, each refusal naming its field (`collection`,
    `range`, `range.from`): an unknown collection, a missing or inverted range, a range past 25 months."""
    if not isinstance(raw, dict):
        raise _refuse("collection", "give a collection and a range")
    unknown = sorted(set(raw) - {"collection", "range"})
    if unknown:
        raise _refuse(unknown[0], "is not an input of a collection export")
    name = raw.get("collection")
    if not isinstance(name, str):
        raise _refuse("collection", f"give one of {', '.join(domain.NAMES)}")
    collection = domain.collection(name)
    try:
        date_range = DateRange.model_validate(raw.get("range") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"] if p != "__root__")
        field = f"range.{loc}" if loc else "range"
        raise _refuse(field, str(first["msg"]).removeprefix("Value error, ")) from None
    first_day, last_day = date_range.days(time_zone)
    if first_day is None or last_day is None:
        raise _refuse("range", "give a preset or both from and to")
    return Window(collection, first_day, last_day, time_zone)


async def window(conn: asyncpg.Connection, org_id: UUID, raw: Any, time_zone: str | None = None) -> Window:
    """`parse_window` in the organisation's time zone (or `time_zone`, the one an export link carries)."""
    tz = time_zone or (await org_settings.get(conn, org_id)).time_zone
    return parse_window(raw, tz)


# --- streams -----------------------------------------------------------------------------------------------------


def _key(row: asyncpg.Record, width: int) -> tuple[Any, ...]:
    return tuple(row[f"_k{i}"] for i in range(width))


async def _rows(conn: asyncpg.Connection, name: str, org_id: UUID, rows: list[asyncpg.Record]) -> list[Any]:
    """What `document` takes: the rows, and for orders each with its ledger (`history`), read in the same
    transaction."""
    if name != "orders" or not rows:
        return rows
    history = await store.ledgers(conn, org_id, [r["id"] for r in rows])
    return [{**r, "history": history[r["id"]]} for r in rows]


async def _reports_range(
    pool: asyncpg.Pool, name: str, org_id: UUID, since: datetime, until: datetime, batch: int
) -> AsyncIterator[list[Document]]:
    make = domain.DOCUMENTS[name]
    width = len(store.SQL[name].key)
    after: tuple[Any, ...] | None = None
    while True:
        async with tenant_tx(pool, org_id) as conn:
            rows = await store.range_page(conn, name, org_id, since, until, after, batch)
            full = await _rows(conn, name, org_id, rows)
        if rows:
            yield [make(r) for r in full]
        if len(rows) < batch:
            return
        last = rows[-1]
        after = (last["_t"], *_key(last, width))


async def _profiles(
    pool: asyncpg.Pool, org_id: UUID, batch: int, orders: OrdersProviders | None
) -> AsyncIterator[list[Document]]:
    """The organisation's providers are few (the orders service lists them all at once): their names are read
    once, then the profiles page by (kind, id)."""
    listed = await orders.providers(org_id) if orders is not None else None
    after: tuple[Any, ...] | None = None
    while True:
        async with tenant_tx(pool, org_id) as conn:
            rows = await store.organisation_profiles_page(conn, org_id, after, batch, listed)
        if rows:
            yield [domain.organisation_profile(r) for r in rows]
        if len(rows) < batch:
            return
        after = _key(rows[-1], 2)


async def _insights_range(
    insights: InsightsCollections, name: str, org_id: UUID, since: datetime, until: datetime, batch: int
) -> AsyncIterator[list[Document]]:
    make = domain.DOCUMENTS[name]
    after: str | None = None
    while True:
        rows, after = await insights.page(name, org_id, since, until, after, batch)
        if rows:
            yield [make(r) for r in rows]
        if after is None:
            return


async def batches(
    pool: asyncpg.Pool,
    name: str,
    org_id: UUID,
    since: datetime,
    until: datetime,
    *,
    insights: InsightsCollections | None = None,
    orders: OrdersProviders | None = None,
    batch: int = BATCH_ROWS,
) -> AsyncIterator[list[Document]]:
    """The documents of collection `name` for `org_id` whose time field is in [since, until), a batch at a time
    (a snapshot collection, organisation_profiles, yields all its documents). Devices and events need
    `insights` (the insights-api client); organisation profiles take their providers' names from `orders`
    (without it, providers are those the orders name, without names)."""
    c = domain.collection(name)
    if c.time_field is None:
        async for docs in _profiles(pool, org_id, batch, orders):
            yield docs
    elif c.source is Source.INSIGHTS:
        if insights is None:
            raise ValueError(f"{name} is read from the insights service: pass its client")
        async for docs in _insights_range(insights, name, org_id, since, until, batch):
            yield docs
    else:
        async for docs in _reports_range(pool, name, org_id, since, until, batch):
            yield docs


async def documents(
    pool: asyncpg.Pool,
    name: str,
    org_id: UUID,
    since: datetime,
    until: datetime,
    *,
    insights: InsightsCollections | None = None,
    orders: OrdersProviders | None = None,
    batch: int = BATCH_ROWS,
) -> AsyncIterator[Document]:
    """`batches`, one document at a time."""
    async for docs in batches(pool, name, org_id, since, until, insights=insights, orders=orders, batch=batch):
        for doc in docs:
            yield doc


# One generator per collection, for readers that name the collection in code (the MongoDB forwarder).


def contact_profiles(pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime) -> AsyncIterator[Document]:
    return documents(pool, "contact_profiles", org_id, since, until)


def organisation_profiles(
    pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime, orders: OrdersProviders | None = None
) -> AsyncIterator[Document]:
    return documents(pool, "organisation_profiles", org_id, since, until, orders=orders)


def devices(
    pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime, insights: InsightsCollections
) -> AsyncIterator[Document]:
    return documents(pool, "devices", org_id, since, until, insights=insights)


def events(
    pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime, insights: InsightsCollections
) -> AsyncIterator[Document]:
    return documents(pool, "events", org_id, since, until, insights=insights)


def subscriptions(pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime) -> AsyncIterator[Document]:
    return documents(pool, "subscriptions", org_id, since, until)


def orders(pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime) -> AsyncIterator[Document]:
    return documents(pool, "orders", org_id, since, until)


def leads(pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime) -> AsyncIterator[Document]:
    return documents(pool, "leads", org_id, since, until)


def service_requests(pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime) -> AsyncIterator[Document]:
    return documents(pool, "service_requests", org_id, since, until)


def financial_journals(pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime) -> AsyncIterator[Document]:
    return documents(pool, "financial_journals", org_id, since, until)


def usage_allowances(pool: asyncpg.Pool, org_id: UUID, since: datetime, until: datetime) -> AsyncIterator[Document]:
    return documents(pool, "usage_allowances", org_id, since, until)


# --- changes -----------------------------------------------------------------------------------------------------


def encode_position(values: tuple[Any, ...]) -> str:
    raw = json.dumps([v if isinstance(v, int) else str(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(position: str, width: int, field: str = "after") -> tuple[Any, ...]:
    try:
        padded = position + "=" * (-len(position) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != width + 1 or not isinstance(values[0], int):
            raise ValueError("shape")
        return (values[0], *(str(v) for v in values[1:]))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise DomainError(ErrorCode.INVALID_CURSOR, "is not a position returned by this collection", field) from exc


async def changes(
    pool: asyncpg.Pool, name: str, org_id: UUID, after: str | None = None, *, batch: int = BATCH_ROWS
) -> AsyncIterator[tuple[list[Document], str]]:
    """Documents of collection `name` whose data changed after position `after` (None: from the beginning),
    a batch at a time with the position after it: keep the last position and pass it next time. A document
    changed twice comes again (upsert it by `_id`). Only collections declared with `changes_cursor`; the
    append-only ones from the insights service follow their time field instead."""
    c = domain.collection(name)
    if not c.changes_cursor:
        raise _refuse("collection", f"{name} has no changes cursor; read it by its time field ({c.update_marker})")
    width = len(store.SQL[name].key)
    position = decode_position(after, width) if after else None
    make = domain.DOCUMENTS[name]
    async with tenant_tx(pool, org_id) as conn:
        below = await store.horizon(conn)
    while True:
        async with tenant_tx(pool, org_id) as conn:
            rows = await store.changes_page(conn, name, org_id, position, below, batch)
            full = await _rows(conn, name, org_id, rows)
        if not rows:
            return
        last = rows[-1]
        position = (int(last["_x"]), *_key(last, width))
        yield [make(r) for r in full], encode_position(position)
        if len(rows) < batch:
            return
