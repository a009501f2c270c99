"""Mixpanel connections and forwarding (issue 11): what connecting, pausing and forwarding do.

Connecting checks the credentials with Mixpanel before anything is stored (a refusal stores nothing and says
why), then stores them encrypted (shared/secrets.py SecretBox) with the live cursor at the first transaction not
yet begun: every event stored from then on is the live cursor's, every event stored before it and that happened
in the last 90 days is the backfill's. Credentials never leave this module but to Mixpanel.

Forwarding (`forward`, run by the `insights.mixpanel_forward` actor, never by ingestion) takes one batch at a
time in one tenant transaction that locks the connection's row (SKIP LOCKED: a second worker on the same
connection returns at once): the events after the position (backfill first, then live), mapped
(domain/mixpanel.py), POSTed gzipped to /import, and the position moved in the same transaction only once
Mixpanel accepted them, so a worker killed mid-batch or a failed request re-sends the same batch, which
Mixpanel deduplicates by `$insert_id`. A 400 with failed_records is a partial success: the refused events are
recorded with their reason (shown to admins) and the position moves past them (they would fail the same way
again). A 429, a 5xx or an unreachable peer rolls the batch back and records the error with the time of the
next attempt (Retry-After when given, else exponential back-off). With contacts on, the batch's customers are
then set on their profiles through /engage (`$set`, `$set_once` for the first seen), before the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from services.insights.domain import mixpanel as rules
from services.insights.repository import mixpanel as store
from services.insights.service import mixpanel_peer as peer
from services.insights.service import segments
from shared import logging as slog
from shared.config import Settings
from shared.db import system_tx, tenant_tx
from shared.errors import DomainError, ErrorCode, NotFound
from shared.secrets import SecretBox
from shared.service.client import ServiceClient

logger = logging.getLogger("insights.mixpanel")
# The insights worker's queue of forwarding jobs and cohort imports (infra/processes.py: insights-worker).
MIXPANEL_QUEUE = "insights.mixpanel"
TICK_SECONDS = 2.0
COHORT_TICK_SECONDS = 60.0
MAX_UNMATCHED_LISTED = 1000
MAX_EMAIL_LOOKUPS = 500  # per import: the orders service is asked one email at a time (its list's prefix search)
BACKFILL_DAYS = 90
REFUSED_DELAY = 300.0  # credentials refused mid-way: try again in 5 minutes (an admin may fix them meanwhile)
MAX_CUSTOMER_BATCH = 500  # the orders service's batch read
IN_FLIGHT = 4  # requests of 2,000 events sent at once per connection


class OrdersContacts(ServiceClient):
    """The orders service (the one owner of customers) as forwarding reads it: the contacts of a batch."""

    service = "orders"
    caller = "insights"

    async def by_email(self, org_id: UUID, email: str) -> UUID | None:
        """The customer with this email (the list's prefix search, then the exact address)."""
        page = await self.call(
            "POST", "/internal/customers/list", org_id=org_id, json={"filter": {"search": email}, "first": 10}
        )
        for row in page["rows"]:
            if (row.get("email") or "").lower() == email.lower():
                return UUID(str(row["id"]))
        return None

    async def contacts(self, org_id: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), MAX_CUSTOMER_BATCH):
            chunk = [str(c) for c in ids[i : i + MAX_CUSTOMER_BATCH]]
            out += await self.call("POST", "/internal/customers/batch", org_id=org_id, json={"ids": chunk})
        return out


@dataclass(frozen=True)
class ConnectInput:
    project_id: str
    project_token: str
    username: str
    secret: str
    region: str
    forward_contacts: bool
    event_types: list[str]


def _project(box: SecretBox, c: store.Connection) -> peer.Project:
    return peer.Project(
        region=c.region,
        project_id=c.project_id,
        token=box.decrypt(c.token_enc),
        username=box.decrypt(c.username_enc),
        secret=box.decrypt(c.secret_enc),
    )


def view(
    c: store.Connection, backlog: int | None = None, failures: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What the API shows of a connection: never a credential."""
    return {
        "id": str(c.id),
        "projectId": c.project_id,
        "region": c.region,
        "forwardContacts": c.forward_contacts,
        "eventTypes": list(c.event_types),
        "paused": c.paused,
        "backfillFrom": c.backfill_from.isoformat(),
        "backfillDone": c.backfill_done,
        "forwarded": c.forwarded,
        "failed": c.failed,
        "profiles": c.profiles,
        "lastSuccessAt": c.last_success_at.isoformat() if c.last_success_at else None,
        "lastError": c.last_error,
        "lastErrorAt": c.last_error_at.isoformat() if c.last_error_at else None,
        "nextAttemptAt": c.next_attempt_at.isoformat() if c.next_attempt_at else None,
        "backlog": backlog,
        "failures": [
            {
                "eventId": str(f["event_id"]),
                "eventType": f["event_type"],
                "occurredAt": f["occurred_at"].isoformat(),
                "field": f["field"],
                "reason": f["reason"],
                "recordedAt": f["recorded_at"].isoformat(),
            }
            for f in failures or []
        ],
        "createdAt": c.created_at.isoformat(),
    }


async def connect(pool: asyncpg.Pool, settings: Settings, org_id: UUID, data: ConnectInput) -> store.Connection:
    """Checks the input and the credentials with Mixpanel, then stores the connection (encrypted)."""
    region = rules.parse_region(data.region)
    project_id = rules.parse_project_id(data.project_id)
    event_types = rules.parse_event_types(data.event_types)
    for name, value in (("projectToken", data.project_token), ("username", data.username), ("secret", data.secret)):
        if not value.strip():
            raise DomainError(ErrorCode.INVALID_INPUT, "is required", name)
    project = peer.Project(region, project_id, data.project_token, data.username, data.secret)
    problem = await peer.check(settings, project)
    if problem is not None:
        raise DomainError(ErrorCode.INVALID_INPUT, problem, "credentials")
    box = SecretBox.from_settings(settings)
    async with tenant_tx(pool, org_id) as conn:
        created = await store.insert_connection(
            conn,
            org_id,
            project_id=project_id,
            region=region,
            token_enc=box.encrypt(data.project_token),
            username_enc=box.encrypt(data.username),
            secret_enc=box.encrypt(data.secret),
            forward_contacts=data.forward_contacts,
            event_types=event_types,
            backfill_from=datetime.now(UTC) - timedelta(days=BACKFILL_DAYS),
        )
    if created is None:
        raise DomainError(
            ErrorCode.DUPLICATE_NAME, f"project {project_id} ({region}) is already connected", "projectId"
        )
    slog.log(logger, logging.INFO, "mixpanel connected", connection=str(created.id), region=region)
    return created


async def status(conn: asyncpg.Connection, org_id: UUID, connection_id: UUID) -> dict[str, Any]:
    c = await store.get(conn, org_id, connection_id)
    if c is None:
        raise NotFound("Mixpanel connection", "id")
    return view(c, await store.backlog(conn, c), await store.recent_failures(conn, org_id, c.id))


async def list_connections(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    return [view(c, await store.backlog(conn, c)) for c in await store.list_all(conn, org_id)]


async def change(
    conn: asyncpg.Connection,
    org_id: UUID,
    connection_id: UUID,
    *,
    paused: bool | None = None,
    forward_contacts: bool | None = None,
    event_types: list[str] | None = None,
) -> dict[str, Any]:
    types = rules.parse_event_types(event_types) if event_types is not None else None
    c = await store.update_settings(
        conn, org_id, connection_id, paused=paused, forward_contacts=forward_contacts, event_types=types
    )
    if c is None:
        raise NotFound("Mixpanel connection", "id")
    return view(c)


async def delete(conn: asyncpg.Connection, org_id: UUID, connection_id: UUID) -> None:
    if not await store.delete(conn, org_id, connection_id):
        raise NotFound("Mixpanel connection", "id")


# ------------------------------------------------------------------------------------------------ forwarding


class _Later(Exception):
    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.reason, self.delay = reason, delay


@dataclass
class Round:
    """What forwarding did: batches and events sent, events refused, and why it stopped."""

    batches: int = 0
    events: int = 0
    failed: int = 0
    profiles: int = 0
    stopped: str = ""  # caught_up | busy | paused | waiting | gone | budget


def _chunks(events: list[store.Outgoing], size: int) -> list[tuple[list[store.Outgoing], bytes]]:
    """The requests of a scan: `size` events each, within 10 MB; after a request cut to fit, none (the rest is
    scanned again from its last event)."""
    out = []
    for i in range(0, len(events), size):
        chunk = events[i : i + size]
        fitted, body = _fit(chunk)
        out.append((fitted, body))
        if len(fitted) < len(chunk):
            break
    return out


def _fit(batch: list[store.Outgoing]) -> tuple[list[store.Outgoing], bytes]:
    """The batch, halved until its JSON is within Mixpanel's 10 MB, and that JSON."""
    while True:
        body = b"[" + b",".join(o.doc for o in batch) + b"]"
        if len(batch) == 1 or len(body) <= rules.MAX_BATCH_BYTES:
            return batch, body
        batch = batch[: len(batch) // 2]


async def _profiles(
    conn: asyncpg.Connection,
    settings: Settings,
    orders: OrdersContacts,
    c: store.Connection,
    project: peer.Project,
    customers: list[UUID],
) -> int:
    if not customers:
        return 0
    rows = await orders.contacts(c.org_id, customers)
    integrations = await store.customer_integrations(conn, c.org_id, customers)
    updates = []
    for row in rows:
        cid = UUID(str(row["id"]))
        contact = rules.Contact(
            customer_id=cid,
            email=row.get("email"),
            name=row.get("display_name"),
            first_seen=datetime.fromisoformat(row["first_seen"]) if row.get("first_seen") else None,
            last_seen=datetime.fromisoformat(row["last_seen"]) if row.get("last_seen") else None,
            integrations=tuple(integrations.get(cid, ())),
            custom_fields=row.get("custom_fields") or {},
        )
        updates.append(rules.profile_update(project.token, contact))
    for i in range(0, len(updates), rules.MAX_PROFILE_UPDATES):
        outcome = await peer.engage(settings, updates[i : i + rules.MAX_PROFILE_UPDATES], c.region, c.attempts)
        if isinstance(outcome, peer.RetryLater):
            raise _Later(outcome.reason, outcome.delay)
        if isinstance(outcome, peer.Refused):
            raise _Later(outcome.reason, REFUSED_DELAY)
    return len(updates)


def _start(c: store.Connection, backfill: bool) -> tuple[bool, Any, Any]:
    return (True, c.backfill_at, c.backfill_id) if backfill else (False, c.live_xid, c.live_id)


def _moved(c: store.Connection, backfill: bool, position: Any) -> store.Connection:
    """The connection as it will be once `position` is committed."""
    if backfill:
        return dataclasses.replace(c, backfill_at=position[0], backfill_id=position[1])
    return dataclasses.replace(c, live_xid=position[0], live_id=position[1])


class Ahead:
    """The next batch, read while the current one is sent (a read-only tenant transaction of its own)."""

    def __init__(self) -> None:
        self._task: asyncio.Task[store.Batch] | None = None
        self._start: tuple[bool, Any, Any] | None = None

    def read(self, pool: asyncpg.Pool, c: store.Connection, backfill: bool, limit: int) -> None:
        self.cancel()

        async def run() -> store.Batch:
            async with tenant_tx(pool, c.org_id) as conn:
                return await (store.backfill_batch if backfill else store.live_batch)(conn, c, limit)

        self._start, self._task = _start(c, backfill), asyncio.create_task(run())

    async def take(self, start: tuple[bool, Any, Any]) -> store.Batch | None:
        """The batch read ahead if it starts at `start` (None otherwise, or when its read failed)."""
        task, expected = self._task, self._start
        self._task = self._start = None
        if task is None:
            return None
        if expected != start:
            task.cancel()
            return None
        try:
            return await task
        except Exception:
            return None

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = self._start = None


async def forward_batch(
    pool: asyncpg.Pool,
    settings: Settings,
    box: SecretBox,
    orders: OrdersContacts,
    org_id: UUID,
    connection_id: UUID,
    limit: int = rules.MAX_BATCH_EVENTS,
    ahead: Ahead | None = None,
    in_flight: int = IN_FLIGHT,
) -> Round:
    """One batch of one connection (see the module's docstring). `Round.stopped` is empty when more may follow.

    `ahead` (from `forward`): the next batch is read on another connection while this one is being sent, and used
    by the next call if it starts where this one's position ends (else read again): reading and sending overlap.
    """
    result = Round()
    scan_limit = limit * in_flight
    try:
        async with tenant_tx(pool, org_id) as conn:
            c = await store.get(conn, org_id, connection_id, lock=True)
            if c is None:
                result.stopped = "gone" if await store.get(conn, org_id, connection_id) is None else "busy"
                return result
            if c.paused:
                result.stopped = "paused"
                return result
            if c.next_attempt_at is not None and c.next_attempt_at > datetime.now(UTC):
                result.stopped = "waiting"
                return result
            backfill = not c.backfill_done and await store.backfill_ready(conn, c)
            start = _start(c, backfill)
            scan = await ahead.take(start) if ahead is not None else None
            if scan is None:
                scan = await (store.backfill_batch if backfill else store.live_batch)(conn, c, scan_limit)
            if scan.last is None and backfill:
                await store.advance_backfill(conn, c, None, 0, 0)  # done: the live cursor from now on
                backfill = False
                scan = await store.live_batch(conn, c, scan_limit)
            if scan.last is None:
                result.stopped = "caught_up"
                return result
            if ahead is not None:
                ahead.read(pool, _moved(c, backfill, scan.last), backfill, scan_limit)
            if not scan.events:  # only types not forwarded: passed over
                await (store.advance_backfill if backfill else store.advance_live)(conn, c, scan.last, 0, 0)
                return result
            chunks = _chunks(scan.events, limit)
            batch = [o for chunk, _ in chunks for o in chunk]
            project = _project(box, c)
            # The requests of one scan in flight together (Mixpanel: "10-20 concurrent clients sending 2,000
            # events per batch", https://docs.mixpanel.com/troubleshooting/errors/429-rate-limit-exceeded); one not
            # accepted rolls the whole scan back (those accepted are deduplicated when sent again).
            outcomes = await asyncio.gather(
                *(peer.import_events(settings, project, body, len(chunk), c.attempts) for chunk, body in chunks)
            )
            failures = []
            for (chunk, _), outcome in zip(chunks, outcomes, strict=True):
                if isinstance(outcome, peer.RetryLater):
                    raise _Later(outcome.reason, outcome.delay)
                if isinstance(outcome, peer.Refused):
                    raise _Later(outcome.reason, REFUSED_DELAY)
                for f in outcome.failed:
                    index = f.get("index")
                    if isinstance(index, int) and 0 <= index < len(chunk):
                        event = chunk[index]
                        failures.append(
                            {
                                "event_id": event.id,
                                "event_type": event.type,
                                "occurred_at": event.occurred_at,
                                "field": f.get("field"),
                                "reason": str(f.get("message") or "refused by Mixpanel"),
                            }
                        )
            await store.record_failures(conn, c, failures)
            # The scan's end, unless the batch was cut to fit (then its last event: the rest is scanned again).
            position = scan.last if len(batch) == len(scan.events) else batch[-1].position
            forwarded = len(batch) - len(failures)
            if backfill:
                await store.advance_backfill(conn, c, position, forwarded, len(failures))
            else:
                await store.advance_live(conn, c, position, forwarded, len(failures))
            if c.forward_contacts:
                customers = list(dict.fromkeys(e.customer_id for e in batch if e.customer_id is not None))
                result.profiles = await _profiles(conn, settings, orders, c, project, customers)
                await store.record_profiles(conn, c, result.profiles)
            result.batches, result.events, result.failed = len(chunks), forwarded, len(failures)
            return result
    except _Later as later:
        # The batch's transaction rolled back: the position did not move. Record why and when to try again.
        async with tenant_tx(pool, org_id) as conn:
            c = await store.get(conn, org_id, connection_id)
            if c is not None:
                await store.record_error(conn, c, later.reason, later.delay)
        slog.log(logger, logging.WARNING, "mixpanel batch not accepted", reason=later.reason, retry_in=later.delay)
        result.stopped = "waiting"
        return result


async def forward(
    pool: asyncpg.Pool,
    settings: Settings,
    orders: OrdersContacts,
    org_id: UUID,
    connection_id: UUID,
    *,
    budget_seconds: float = 20.0,
) -> Round:
    """Batches of one connection until caught up, waiting, or `budget_seconds` spent (the job is then queued
    again by the ticker); the connection may be queued again at once afterwards."""
    box = SecretBox.from_settings(settings)
    total = Round()
    deadline = time.monotonic() + budget_seconds
    ahead = Ahead()
    try:
        while True:
            r = await forward_batch(pool, settings, box, orders, org_id, connection_id, ahead=ahead)
            total.batches += r.batches
            total.events += r.events
            total.failed += r.failed
            total.profiles += r.profiles
            if r.stopped:
                total.stopped = r.stopped
                break
            if time.monotonic() > deadline:
                total.stopped = "budget"
                break
    finally:
        ahead.cancel()
        if total.stopped not in ("busy", "gone"):
            async with tenant_tx(pool, org_id) as conn:
                await store.finished(conn, org_id, connection_id)
    return total


# --------------------------------------------------------------------------------------------------- ticker


async def tick(
    pool: asyncpg.Pool,
    queue_forwarding: Callable[[UUID, UUID], None],
    queue_cohort: Callable[[UUID, UUID, int], None] | None = None,
) -> int:
    """Queues a forwarding job for each connection due one (active, not backing off, not queued in the last
    minute: the owner's function marks them) and, given `queue_cohort`, each scheduled cohort re-import due."""
    async with system_tx(pool) as conn:
        due = await store.due(conn, 200)
        cohorts = await store.cohort_imports_due(conn, 100) if queue_cohort is not None else []
    for org_id, connection_id in due:
        queue_forwarding(org_id, connection_id)
    for org_id, connection_id, cohort_id in cohorts:
        assert queue_cohort is not None
        queue_cohort(org_id, connection_id, cohort_id)
    return len(due)


async def tick_periodically(
    pool_of: Callable[[], asyncpg.Pool],
    queue_forwarding: Callable[[UUID, UUID], None],
    queue_cohort: Callable[[UUID, UUID, int], None],
) -> None:
    """Each insights worker's loop (until cancelled): forwarding jobs every TICK_SECONDS, cohort re-imports every
    COHORT_TICK_SECONDS. Several workers may tick: the owner's function hands each connection to one."""
    await asyncio.sleep(random.uniform(0.5, 2.0))
    last_cohorts = 0.0
    while True:
        try:
            cohorts = time.monotonic() - last_cohorts > COHORT_TICK_SECONDS
            await tick(pool_of(), queue_forwarding, queue_cohort if cohorts else None)
            if cohorts:
                last_cohorts = time.monotonic()
        except Exception as exc:  # the store away: the next tick tries again
            slog.log(logger, logging.WARNING, "mixpanel tick failed", error=type(exc).__name__)
        await asyncio.sleep(TICK_SECONDS * random.uniform(0.8, 1.2))


# ------------------------------------------------------------------------------------------ cohorts as segments


async def _match(orders: OrdersContacts, org_id: UUID, members: list[dict[str, Any]]) -> tuple[set[UUID], list[str]]:
    """Our customers among a cohort's members: by distinct id (our customer id, as forwarding sends it, the
    surviving customer after a merge), else by the profile's email. Returns the matched customers and the
    distinct ids matched by neither."""
    by_distinct: dict[str, UUID] = {}
    for m in members:
        with contextlib.suppress(ValueError):
            by_distinct[str(m["$distinct_id"])] = UUID(str(m["$distinct_id"]))
    known = {UUID(str(r["id"])) for r in await orders.contacts(org_id, list(set(by_distinct.values())))}
    matched: set[UUID] = set()
    unmatched: list[str] = []
    lookups = 0
    for m in members:
        distinct = str(m["$distinct_id"])
        customer = by_distinct.get(distinct)
        if customer is not None and customer in known:
            matched.add(customer)
            continue
        email = (m.get("$properties") or {}).get("$email")
        if isinstance(email, str) and email and lookups < MAX_EMAIL_LOOKUPS:
            lookups += 1
            found = await orders.by_email(org_id, email)
            if found is not None:
                matched.add(found)
                continue
        unmatched.append(distinct)
    return matched, unmatched


async def import_cohort(
    pool: asyncpg.Pool,
    settings: Settings,
    orders: OrdersContacts,
    org_id: UUID,
    connection_id: UUID,
    cohort_id: int,
    *,
    name: str | None = None,
    every_minutes: int | None = None,
) -> dict[str, Any]:
    """Imports (or re-imports) a Mixpanel cohort as a static segment: made on the first import (named `name`),
    its members replaced by the cohort's on every later one (added and removed counted), when recorded."""
    if every_minutes is not None and every_minutes < 15:
        raise DomainError(ErrorCode.INVALID_INPUT, "at least every 15 minutes", "everyMinutes")
    async with tenant_tx(pool, org_id) as conn:
        c = await store.get(conn, org_id, connection_id)
        previous = await store.cohort_import(conn, org_id, connection_id, cohort_id) if c else None
    if c is None:
        raise NotFound("Mixpanel connection", "connectionId")
    if previous is None and not (name or "").strip():
        raise DomainError(ErrorCode.INVALID_INPUT, "a first import names its segment", "name")
    project = _project(SecretBox.from_settings(settings), c)
    try:
        members = [m async for m in peer.cohort_members(settings, project, cohort_id)]
    except peer.UnknownCohort:
        raise DomainError(
            ErrorCode.NOT_FOUND, f"Mixpanel project {c.project_id} has no cohort {cohort_id}", "cohortId", status=404
        ) from None
    except (RuntimeError, TimeoutError, aiohttp.ClientError) as exc:
        raise DomainError(ErrorCode.UNAVAILABLE, f"Mixpanel could not be read: {exc}", "cohortId", status=503) from None
    matched, unmatched = await _match(orders, org_id, members)
    source = f"mixpanel_cohort:{c.project_id}:{cohort_id}"
    segment_id = (
        previous["segment_id"]
        if previous is not None
        else await segments.create_static(pool, org_id, (name or "").strip(), source="mixpanel_cohort")
    )
    diff = await segments.replace_static_members(pool, org_id, segment_id, sorted(matched), source="mixpanel_cohort")
    async with tenant_tx(pool, org_id) as conn:
        saved = await store.save_cohort_import(
            conn,
            org_id,
            connection_id,
            cohort_id,
            segment_id=segment_id,
            every_minutes=every_minutes,
            members=len(matched),
            added=len(diff.added),
            removed=len(diff.removed),
            unmatched=unmatched[:MAX_UNMATCHED_LISTED],
            unmatched_count=len(unmatched),
        )
    slog.log(logger, logging.INFO, "mixpanel cohort imported", cohort=cohort_id, source=source, members=len(matched))
    return cohort_view(saved)


def cohort_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "connectionId": str(row["connection_id"]),
        "cohortId": int(row["cohort_id"]),
        "segmentId": str(row["segment_id"]),
        "everyMinutes": row["every_minutes"],
        "importedAt": row["imported_at"].isoformat() if row["imported_at"] else None,
        "members": row["members"],
        "added": row["added"],
        "removed": row["removed"],
        "unmatchedCount": row["unmatched_count"],
        "unmatched": list(row["unmatched"]),
    }


async def reimport_cohort(
    pool: asyncpg.Pool, settings: Settings, org_id: UUID, connection_id: UUID, cohort_id: int
) -> None:
    """The scheduled re-import (the actor's body): as `import_cohort`, with the orders client of this call."""
    orders = OrdersContacts.from_settings(settings)
    try:
        await import_cohort(pool, settings, orders, org_id, connection_id, cohort_id)
    finally:
        if orders._session is not None:
            await orders._session.close()


async def cohort_imports(conn: asyncpg.Connection, org_id: UUID, connection_id: UUID) -> list[dict[str, Any]]:
    if await store.get(conn, org_id, connection_id) is None:
        raise NotFound("Mixpanel connection", "connectionId")
    return [cohort_view(r) for r in await store.cohort_imports(conn, org_id, connection_id)]
