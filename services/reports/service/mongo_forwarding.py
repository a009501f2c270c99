"""Forwarding the documented collections to an organisation's own MongoDB (issue 11): connections and passes.

**Connections.** An admin gives a URI, a database and the collections to forward. Before anything is stored the
target is checked with a short server-selection timeout: reachable, authenticated, and allowed to write (a probe
document inserted into and deleted from `_platform_probe`); each failure is refused naming `uri` with the reason,
and nothing is stored. The URI is stored as a SecretBox token (shared/secrets.py) and never answered back: the API
shows it masked (scheme and hosts) with the database.

**Passes.** A pass (`forward`) writes, for each collection of an active connection, the documents changed since the
connection's position there, as `ReplaceOne({_id}, document, upsert=True)` in unordered bulk writes of a batch
(1,000 documents) with PyMongo's asyncio client. The position moves only after the target acknowledged the bulk
write, in its own short tenant transaction: a worker killed mid-bulk replays that batch, and the upserts keyed by
our ids make a replay change nothing, so a document is there once, never missing. What a position is depends on
how the collection's changes can be read (shared/collections.py `update_marker`):

- the reports read model's collections (`changes_cursor`): the service's "changed since" cursor
  (service/collections.py `changes`); from no position it hands out every document the read model holds, which is
  the backfill of a first connection;
- events and devices (the insights service's store, append-only, read by their time field): the time they were read
  through; a pass re-reads from `INSIGHTS_OVERLAP` before it (events reported a little late) to a few minutes
  ahead (the 5 minutes ingestion accepts); the first pass, and one pass a day, read the whole retained window (90
  days) again, so an event reported later than the overlap arrives within a day. Events are paged in time order,
  so a long backfill saves its progress after each bulk write;
- organisation profiles (a snapshot): forwarded whole when their digest changed.

A collection's first pass (its backfill) inserts, replacing only what the target already held, and the declared
indexes (the events collection's 90-day TTL index on `occurredAt` among them) are built once that first pass has
succeeded: the local peer keeps indexes up to date several times slower than it builds them (bench/README.md).
Dates are BSON dates (domain/mongo.py), which a TTL index needs.

Erasure: a contact erased in the reports copy (`customer.erased`) comes through its changes cursor with its
personal fields emptied and replaces the forwarded one; its forwarded events lose their personal fields
(anonymous id, device, properties) and its devices are deleted. Events and devices of an erased contact read from
the insights service later are written already anonymised, whichever service applied the erasure first.

The Activity Feed is not a declared collection (shared/collections.py), so nothing can forward it.

**Triggers and faults.** The reports worker runs a pass per connection (actor `reports.mongo_forward`, queue
`reports.mongo`): enqueued, debounced per organisation, after the read model applied its events, and by the
scheduler's sweep of every active connection. One pass at a time per connection (a session advisory lock; a second
is skipped). A pass that fails (the peer down, refused credentials) records the failure with its reason and marks
the connection failing; the sweep retries it with a back-off doubling from `RETRY_MIN_SECONDS` to
`RETRY_MAX_SECONDS`, and once the peer is back the next pass resumes from the positions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import dramatiq
from pymongo import AsyncMongoClient, InsertOne, ReplaceOne
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from services.reports.domain import mongo as domain
from services.reports.repository import collections as rows
from services.reports.repository import mongo_connections as store
from services.reports.service import collections as docs
from shared import logging as slog
from shared.collections import BY_NAME, Collection, Source
from shared.config import get_settings
from shared.db import connection, tenant_tx
from shared.errors import DomainError, ErrorCode, NotFound
from shared.messaging.broker import get_broker
from shared.secrets import secret_box

logger = logging.getLogger("reports.mongo")

QUEUE = "reports.mongo"
FORWARD = "reports.mongo_forward"
CHECK_TIMEOUT_MS = 3_000  # connect-time checks: an unreachable URI is refused within seconds
FORWARD_TIMEOUT_MS = 10_000
BULK_DOCUMENTS = 1_000
RETENTION = timedelta(days=90)  # seed 002: the window MongoDB retains (first pass of events and devices)
INSIGHTS_OVERLAP = timedelta(minutes=15)
INSIGHTS_AHEAD = timedelta(minutes=6)  # ingestion accepts events up to 5 minutes ahead
INSIGHTS_RECONCILE = timedelta(days=1)  # the whole retained window read again (late events)
RETRY_MIN_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0
SWEEP_SECONDS = 30.0
SWEEP_LIMIT = 1000
DEBOUNCE_MS = 2_000
WHAT = "MongoDB connection URI"
DUPLICATE_KEY = 11000

ClientFactory = Callable[[str, int], AsyncMongoClient[dict[str, Any]]]


def client_for(uri: str, timeout_ms: int) -> AsyncMongoClient[dict[str, Any]]:
    """A client for one connection: short timeouts (a pass must fail, be recorded and retried, not hang), dates
    read back aware in UTC."""
    return AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 6, 60_000),
        tz_aware=True,
        appname="partner-platform-reports",
    )


# --- connections ------------------------------------------------------------------------------------------------


def _uri_error(reason: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, f"uri: {reason}", "uri")


async def check_target(target: domain.Target, *, client_factory: ClientFactory = client_for) -> None:
    """Reachable, authenticated, allowed to write: a probe document inserted and deleted. A refusal names `uri`
    and says which of the three failed (never echoing the credentials)."""
    try:
        client = client_factory(target.uri, CHECK_TIMEOUT_MS)
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise _uri_error(f"is not usable: {domain.failure_reason(exc)}") from None
    try:
        db = client[target.database]
        probe = db[domain.PROBE_COLLECTION]
        probe_id = f"probe-{uuid.uuid4()}"
        await probe.insert_one({"_id": probe_id, "at": datetime.now(UTC)})
        await probe.delete_one({"_id": probe_id})
        with contextlib.suppress(PyMongoError):  # leave no empty collection behind (readWrite may drop it)
            await probe.drop()
    except ServerSelectionTimeoutError:
        raise _uri_error(
            f"cannot reach a MongoDB server at {target.hosts} within {CHECK_TIMEOUT_MS // 1000} s"
        ) from None
    except OperationFailure as exc:
        if exc.code == 18:
            raise _uri_error("authentication failed: the user name or password is wrong") from None
        if exc.code == 13:
            raise _uri_error(
                f"this user may not write to database {target.database} (it needs the readWrite role there)"
            ) from None
        raise _uri_error(f"the server refused the probe write: {domain.failure_reason(exc)}") from None
    except ConnectionFailure as exc:
        raise _uri_error(f"cannot reach a MongoDB server at {target.hosts}: {domain.failure_reason(exc)}") from None
    except (PyMongoError, ValueError) as exc:
        raise _uri_error(f"the probe write failed: {domain.failure_reason(exc)}") from None
    finally:
        await client.close()


def _body(raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise DomainError(ErrorCode.INVALID_INPUT, "the body is a JSON object")
    unknown = sorted(set(raw) - {"uri", "database", "collections"})
    if unknown:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{unknown[0]}: is not a field of a MongoDB connection", unknown[0])
    return raw


async def connect(
    pool: asyncpg.Pool,
    org_id: UUID,
    actor: str,
    raw: Any,
    *,
    client_factory: ClientFactory = client_for,
    now: datetime | None = None,
) -> store.MongoConnection:
    """Checks the target, then stores the connection (the URI encrypted). Nothing is stored on any refusal."""
    body = _body(raw)
    target = domain.parse_target(body)
    collections = domain.parse_collections(body.get("collections"))
    await check_target(target, client_factory=client_factory)  # outside any transaction: it waits on the network
    now = now or datetime.now(UTC)
    async with tenant_tx(pool, org_id) as conn:
        c = await store.insert(
            conn,
            org_id,
            uuid.uuid4(),
            secret_box().encrypt(target.uri),
            target.display_uri,
            target.database,
            collections,
            actor,
            now,
        )
    await enqueue(org_id, c.id)
    return c


async def update(
    pool: asyncpg.Pool,
    org_id: UUID,
    id: UUID,
    raw: Any,
    *,
    client_factory: ClientFactory = client_for,
    now: datetime | None = None,
) -> store.MongoConnection:
    """Changes the URI, database or collections (absent: kept). A new URI or database is checked like a new
    connection and starts afresh (indexes, backfill); a collection added is backfilled, one removed is no longer
    written (what was forwarded stays in the target)."""
    body = _body(raw)
    async with tenant_tx(pool, org_id) as conn:
        current = await store.get(conn, org_id, id)
    if current is None:
        raise NotFound("MongoDB connection")
    uri_now = secret_box().reveal(current.uri_secret, WHAT)
    uri, display, hosts = domain.parse_uri(body["uri"]) if "uri" in body else (uri_now, current.display_uri, "")
    database = domain.parse_database(body["database"]) if "database" in body else current.database
    collections = domain.parse_collections(body["collections"]) if "collections" in body else current.collections
    new_target = uri != uri_now or database != current.database
    if new_target:
        hosts = hosts or domain.parse_uri(uri)[2]
        await check_target(domain.Target(uri, display, hosts, database), client_factory=client_factory)
    now = now or datetime.now(UTC)
    async with tenant_tx(pool, org_id) as conn:
        if await store.get(conn, org_id, id, lock=True) is None:
            raise NotFound("MongoDB connection")
        secret = secret_box().encrypt(uri) if uri != uri_now else current.uri_secret
        c = await store.update_target(
            conn, org_id, id, secret, display, database, collections, now, new_target=new_target
        )
    await enqueue(org_id, c.id)
    return c


async def set_status(pool: asyncpg.Pool, org_id: UUID, id: UUID, status: str) -> store.MongoConnection:
    """Pause (passes stop; positions kept) or resume (the next pass forwards everything changed meanwhile)."""
    async with tenant_tx(pool, org_id) as conn:
        if await store.get(conn, org_id, id, lock=True) is None:
            raise NotFound("MongoDB connection")
        c = await store.set_status(conn, org_id, id, status, datetime.now(UTC))
    if status == "active":
        await enqueue(org_id, c.id)
    return c


async def delete(pool: asyncpg.Pool, org_id: UUID, id: UUID) -> None:
    """Deletes the connection, its positions and failures; the target's data stays (it is the organisation's)."""
    async with tenant_tx(pool, org_id) as conn:
        if not await store.delete(conn, org_id, id):
            raise NotFound("MongoDB connection")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def status_json(conn: asyncpg.Connection, c: store.MongoConnection) -> dict[str, Any]:
    """What admins see: the target masked, the state, per collection what was forwarded and the backlog (documents
    changed and not yet forwarded; null where it cannot be counted here: events and devices live in the insights
    service, organisation profiles are a snapshot), and the newest failures with their reasons."""
    positions = await store.positions(conn, c.org_id, c.id)
    per: list[dict[str, Any]] = []
    total: int | None = 0
    for name in c.collections:
        p = positions.get(name)
        col = BY_NAME[name]
        backlog: int | None = None
        if col.changes_cursor:
            width = len(rows.SQL[name].key)
            after = docs.decode_position(p.position, width) if p and p.position else None
            backlog = await store.backlog(conn, c.org_id, name, after)
        elif p is None:
            total = None
        if backlog is not None and total is not None:
            total += backlog
        per.append(
            {
                "collection": name,
                "forwarded": p.forwarded if p else 0,
                "backlog": backlog,
                "updatedAt": _iso(p.updated_at) if p else None,
            }
        )
    fails = await store.failures(conn, c.org_id, c.id)
    return {
        "id": str(c.id),
        "uri": c.display_uri,
        "host": c.display_uri.split("@")[-1].split("://")[-1],
        "database": c.database,
        "collections": list(c.collections),
        "status": c.status,
        "failing": c.failing_since is not None,
        "failingSince": _iso(c.failing_since),
        "lastSuccessAt": _iso(c.last_success_at),
        "lastAttemptAt": _iso(c.last_attempt_at),
        "indexesCreatedAt": _iso(c.indexes_at),
        "createdAt": _iso(c.created_at),
        "updatedAt": _iso(c.updated_at),
        "backlog": total,
        "collectionStatus": per,
        "failures": [{"at": _iso(f.at), "collection": f.collection, "reason": f.reason} for f in fails],
    }


# --- passes -----------------------------------------------------------------------------------------------------


class Sources:
    """The clients a pass reads with (service/collections.py's): insights-api for events and devices, orders-api for
    the providers' names of organisation profiles; made on first use (on the loop that uses them)."""

    def __init__(
        self, insights: docs.InsightsCollections | None = None, orders: docs.OrdersProviders | None = None
    ) -> None:
        self._insights, self._orders = insights, orders

    def insights(self) -> docs.InsightsCollections:
        if self._insights is None:
            self._insights = docs.InsightsCollections.from_settings(get_settings())
        return self._insights

    def orders(self) -> docs.OrdersProviders:
        if self._orders is None:
            self._orders = docs.OrdersProviders.from_settings(get_settings())
        return self._orders

    async def aclose(self) -> None:
        for client in (self._insights, self._orders):
            if client is not None:
                await client.aclose()
        self._insights = self._orders = None


@dataclass
class Pass:
    """What one pass did: `outcome` done, busy (another pass holds the connection), inactive (paused or gone) or
    failed (`reason`); documents written per collection."""

    outcome: str  # done, busy, inactive, backing_off, failed
    written: dict[str, int] = field(default_factory=dict)
    reason: str | None = None


def _lock_key(id: UUID) -> int:
    return int.from_bytes(hashlib.blake2b(f"mongo-forward:{id}".encode(), digest_size=8).digest(), "big", signed=True)


@contextlib.asynccontextmanager
async def _exclusive(pool: asyncpg.Pool, id: UUID) -> AsyncIterator[bool]:
    """One pass per connection across workers: a session advisory lock held for the pass (released with the session
    if the worker dies)."""
    async with pool.acquire() as conn:
        key = _lock_key(id)
        got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
        try:
            yield got
        finally:
            if got:
                await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def _bulk(db: Any, c: Collection, batch: list[dict[str, Any]], *, backfill: bool = False) -> None:
    """Unordered upserts keyed by `_id`, acknowledged before returning (the target's write concern, w=1 by default).

    A backfill (a collection's first pass: the target rarely holds its documents yet) inserts instead, and replaces
    only the documents the target already held (duplicate `_id`, e.g. a pass replayed after a crash): a MongoDB
    (SecantusDB most of all) inserts several times faster than it upserts, and the result is the same."""
    for start in range(0, len(batch), BULK_DOCUMENTS):
        documents = [domain.to_mongo(c, d) for d in batch[start : start + BULK_DOCUMENTS]]
        if backfill:
            try:
                await db[c.name].bulk_write([InsertOne(d) for d in documents], ordered=False)
                continue
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors") or []
                if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                documents = [documents[e["index"]] for e in errors]
        await db[c.name].bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in documents], ordered=False)


async def _save(pool: asyncpg.Pool, org_id: UUID, id: UUID, name: str, position: str | None, written: int) -> bool:
    async with tenant_tx(pool, org_id) as conn:
        return await store.save_position(conn, org_id, id, name, position, written, datetime.now(UTC))


async def _erase_forwarded(db: Any, org_id: UUID, customer_ids: list[str], collections: tuple[str, ...]) -> None:
    if "events" in collections:
        await db["events"].update_many(
            {"orgId": str(org_id), "customerId": {"$in": customer_ids}}, {"$set": domain.erased_event_fields()}
        )
    if "devices" in collections:
        await db["devices"].delete_many({"orgId": str(org_id), "customerId": {"$in": customer_ids}})


async def _without_erased(pool: asyncpg.Pool, org_id: UUID, name: str, batch: list[dict[str, Any]]) -> list[Any]:
    """Events and devices of erased contacts as the target may hold them: events anonymised, devices left out."""
    ids = {d["customerId"] for d in batch if d.get("customerId")}
    if not ids:
        return batch
    async with tenant_tx(pool, org_id) as conn:
        erased = {str(i) for i in await store.erased_among(conn, org_id, [UUID(i) for i in ids])}
    if not erased:
        return batch
    if name == "devices":
        return [d for d in batch if d.get("customerId") not in erased]
    return [{**d, **domain.erased_event_fields()} if d.get("customerId") in erased else d for d in batch]


T = TypeVar("T")


async def _ahead(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """`items`, the next one read while the current one is written: the read model and the target work at once. The
    prefetched batch is only read: its position moves after its own bulk write, as for any batch."""
    pending: asyncio.Future[T] = asyncio.ensure_future(anext(items))
    try:
        while True:
            try:
                item = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(items))
            yield item
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


async def _forward_changes(
    pool: asyncpg.Pool, db: Any, c: store.MongoConnection, col: Collection, position: str | None
) -> int:
    written = 0
    async for batch, after in _ahead(docs.changes(pool, col.name, c.org_id, position, batch=BULK_DOCUMENTS)):
        await _bulk(db, col, batch, backfill=position is None)
        if col.name == "contact_profiles":
            erased = [d["_id"] for d in batch if d.get("erased")]
            if erased:
                await _erase_forwarded(db, c.org_id, erased, c.collections)
        if not await _save(pool, c.org_id, c.id, col.name, after, len(batch)):
            break  # deleted meanwhile
        written += len(batch)
    return written


async def _forward_insights(
    pool: asyncpg.Pool,
    sources: Sources,
    db: Any,
    c: store.MongoConnection,
    col: Collection,
    position: str | None,
    now: datetime,
) -> int:
    """Events or devices by their time field. A pass reads from INSIGHTS_OVERLAP before the time the last one read
    through; once a day (and on the first pass: the backfill) it reads the whole retained window again instead, so
    an event reported more than the overlap late (ingestion takes them up to 90 days old) is forwarded within a day.
    The position holds both times: `through`, and `full`, when the latest whole-window read began."""
    held = json.loads(position) if position else {}
    through = datetime.fromisoformat(held["through"]) if "through" in held else None
    full = datetime.fromisoformat(held["full"]) if "full" in held else None
    if through is None or full is None or now - full >= INSIGHTS_RECONCILE:
        since, full = now - RETENTION, now
    else:
        since = through - INSIGHTS_OVERLAP
    written = 0
    async for batch in _ahead(
        docs.batches(
            pool, col.name, c.org_id, since, now + INSIGHTS_AHEAD, insights=sources.insights(), batch=BULK_DOCUMENTS
        )
    ):
        batch = await _without_erased(pool, c.org_id, col.name, batch)
        if batch:
            await _bulk(db, col, batch, backfill=position is None)
        written += len(batch)
        if col.name == "events" and batch:
            # Time order: every event before the last one's time is written. Saved so a long backfill resumes.
            reached = min(datetime.fromisoformat(batch[-1]["occurredAt"]), now)
            mark = json.dumps({"through": reached.isoformat(), "full": full.isoformat()})
            if not await _save(pool, c.org_id, c.id, col.name, mark, 0):
                return written
    mark = json.dumps({"through": now.isoformat(), "full": full.isoformat()})
    await _save(pool, c.org_id, c.id, col.name, mark, written)
    return written


async def _forward_snapshot(
    pool: asyncpg.Pool, sources: Sources, db: Any, c: store.MongoConnection, col: Collection, position: str | None
) -> int:
    now = datetime.now(UTC)
    snapshot = [d async for d in docs.documents(pool, col.name, c.org_id, now, now, orders=sources.orders())]
    digest = hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()
    if digest == position:
        return 0
    await _bulk(db, col, snapshot)
    await _save(pool, c.org_id, c.id, col.name, digest, len(snapshot))
    return len(snapshot)


async def create_indexes(db: Any, collections: tuple[str, ...]) -> None:
    """The declared indexes of each forwarded collection (the events collection's TTL index among them); creating
    an index that exists with the same options is a no-op, so this is safe to repeat."""
    for name in collections:
        col = BY_NAME[name]
        for ix in col.indexes:
            options: dict[str, Any] = {"name": ix.name}
            if ix.unique:
                options["unique"] = True
            if ix.expire_after_seconds is not None:
                options["expireAfterSeconds"] = ix.expire_after_seconds
            await db[name].create_index(list(ix.keys), **options)


async def forward(
    pool: asyncpg.Pool,
    org_id: UUID,
    id: UUID,
    *,
    sources: Sources | None = None,
    client_factory: ClientFactory = client_for,
    only_if_due: bool = False,
) -> Pass:
    """One pass of a connection (see the module's docstring). Never raises for the target's faults: they are
    recorded on the connection and retried by the sweep with back-off."""
    if sources is None:  # a pass of its own: its clients are closed with it
        sources = Sources()
        try:
            return await forward(
                pool, org_id, id, sources=sources, client_factory=client_factory, only_if_due=only_if_due
            )
        finally:
            await sources.aclose()
    async with _exclusive(pool, id) as mine:
        if not mine:
            return Pass("busy")
        now = datetime.now(UTC)
        async with tenant_tx(pool, org_id) as conn:
            c = await store.get(conn, org_id, id)
            if c is None or c.status != "active":
                return Pass("inactive")
            if only_if_due and not _due(c, now):
                return Pass("backing_off")
            await store.mark_attempt(conn, org_id, id, now)
            positions = await store.positions(conn, org_id, id)
        done = Pass("done")
        current: str | None = None
        client = client_factory(secret_box().reveal(c.uri_secret, WHAT), FORWARD_TIMEOUT_MS)
        try:
            db = client[c.database]
            for name in c.collections:
                current = name
                col, p = BY_NAME[name], positions.get(name)
                position = p.position if p else None
                if col.changes_cursor:
                    n = await _forward_changes(pool, db, c, col, position)
                elif col.source is Source.INSIGHTS:
                    n = await _forward_insights(pool, sources, db, c, col, position, now)
                else:
                    n = await _forward_snapshot(pool, sources, db, c, col, position)
                done.written[name] = n
            current = None
            if c.indexes_at is None:
                # After the first pass's backfill: one index build over the documents is far cheaper than keeping
                # the indexes up to date through a million inserts.
                await create_indexes(db, c.collections)
                async with tenant_tx(pool, org_id) as conn:
                    await store.mark_indexes(conn, org_id, id, now)
        except (PyMongoError, ValueError) as exc:
            reason = domain.failure_reason(exc)
            if isinstance(exc, BulkWriteError):
                first = (exc.details.get("writeErrors") or [{}])[0]
                reason = f"bulk write refused: {first.get('errmsg', reason)}"[:500]
            async with tenant_tx(pool, org_id) as conn:
                await store.record_failure(conn, org_id, id, current, reason, datetime.now(UTC))
            slog.log(logger, logging.WARNING, "mongo pass failed", connection=str(id), collection=current, error=reason)
            return Pass("failed", done.written, reason)
        finally:
            await client.close()
        async with tenant_tx(pool, org_id) as conn:
            await store.mark_success(conn, org_id, id, datetime.now(UTC))
        return done


async def forward_org(
    pool: asyncpg.Pool,
    org_id: UUID,
    *,
    sources: Sources | None = None,
    client_factory: ClientFactory = client_for,
) -> list[Pass]:
    """A pass of each of the organisation's active connections that is not waiting out a failure's back-off."""
    now = datetime.now(UTC)
    async with tenant_tx(pool, org_id) as conn:
        due = [c.id for c in await store.listed(conn, org_id) if c.status == "active" and _due(c, now)]
    return [await forward(pool, org_id, id, sources=sources, client_factory=client_factory) for id in due]


def _due(c: store.MongoConnection, now: datetime) -> bool:
    """A failing connection waits, after its latest failure, as long as it had been failing then (RETRY_MIN..MAX):
    the waits double from one failure to the next."""
    if c.failing_since is None or c.last_attempt_at is None:
        return True
    failing_for = (c.last_attempt_at - c.failing_since).total_seconds()
    wait = min(RETRY_MAX_SECONDS, max(RETRY_MIN_SECONDS, failing_for))
    return (now - c.last_attempt_at).total_seconds() >= wait


# --- enqueueing -------------------------------------------------------------------------------------------------


def send_debounced(org_id: str, delay_ms: int = DEBOUNCE_MS) -> bool:
    """After the read model applied an organisation's events: one pass of its connections `delay_ms` later, however
    many events land meanwhile (a Redis key per organisation, set only if absent, expiring with the delay). Blocking
    (Redis); called from the worker's thread, not an event loop. False when one is already pending."""
    broker = get_broker()
    client = getattr(broker, "client", None)
    if client is not None and not client.set(f"reports:mongo:pending:{org_id}", b"1", nx=True, px=delay_ms):
        return False
    broker.enqueue(
        dramatiq.Message(queue_name=QUEUE, actor_name=FORWARD, args=(org_id, None), kwargs={}, options={}),
        delay=delay_ms,
    )
    return True


async def enqueue(org_id: UUID, id: UUID | None = None) -> None:
    """A pass of one connection (or every active one of the organisation) now."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=QUEUE, actor_name=FORWARD, args=(str(org_id), str(id) if id else None), kwargs={}, options={}
    )
    try:
        await asyncio.to_thread(get_broker().enqueue, message)
    except Exception:  # the sweep forwards it anyway; a Redis outage must not fail a saved connection
        logger.warning("could not enqueue a MongoDB pass for %s; the sweep will run it", org_id, exc_info=True)


async def sweep(pool: asyncpg.Pool) -> int:
    """Every active connection's pass, enqueued (the scheduler calls this every SWEEP_SECONDS): the periodic catch
    up behind the event-driven passes, and the retry of failing ones (a pass skips what is still backing off)."""
    async with connection(pool) as conn:
        active = await store.active(conn, SWEEP_LIMIT)
    if not active:
        return 0
    messages: list[dramatiq.Message[Any]] = [
        dramatiq.Message(queue_name=QUEUE, actor_name=FORWARD, args=(str(o), str(i)), kwargs={}, options={})
        for o, i in active
    ]

    def send_all() -> None:
        broker = get_broker()
        for m in messages:
            broker.enqueue(m)

    await asyncio.to_thread(send_all)
    return len(messages)
