"""Outbox relay: publishes committed domain events to every subscriber's queue.

Claims unsent rows with FOR UPDATE SKIP LOCKED (several relays may run), enqueues one
Dramatiq message per subscriber, then marks the rows sent in the same transaction. A
crash between publish and commit republishes: delivery is at-least-once and consumers
deduplicate on the event id. LISTEN/NOTIFY wakes the relay as soon as an event commits;
a poll interval covers missed notifications.

Faults. The LISTEN connection is watched (PostgreSQL closing it, or a keepalive query going
unanswered) and reopened with back-off, with a log line each way; while it is down the relay
polls every `DEGRADED_POLL_SECONDS`, so events keep flowing, only later. A pool or Redis failure
is one warning per dependency per interval and a back-off, never a traceback per iteration.

Housekeeping (needs the kit's `outbox_housekeeping.sql`): the lag gauge `outbox_lag_seconds`
(age of the oldest unpublished event), and pruning: published rows older than
OUTBOX_RETENTION_HOURS are deleted in batches every `PRUNE_EVERY_SECONDS`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import redis
from dramatiq import Message

from shared import logging as slog
from shared.config import Settings, check_production_secrets, database_secrets, get_settings
from shared.db import UNAVAILABLE_ERRORS, connection, create_pool, ping, pool_info
from shared.health import DependencyUnavailable, serve_health
from shared.messaging.broker import get_broker
from shared.messaging.contracts import SUBSCRIPTIONS, Subscription, envelope, subscriptions_of
from shared.metrics import OUTBOX_LAG, OUTBOX_PRUNED, OUTBOX_PUBLISH_DELAY, OUTBOX_PUBLISHED, redis_name

logger = logging.getLogger("relay")
BATCH_WINDOW_SECONDS = 0.05
CHANNEL = "outbox"
POLL_SECONDS = 2.0
DEGRADED_POLL_SECONDS = 0.5  # while LISTEN is down
LISTEN_KEEPALIVE_SECONDS = 30.0
LISTEN_CONNECT_TIMEOUT_SECONDS = 5.0
RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS = 0.5, 30.0
FAILURE_BACKOFF_MAX_SECONDS = 5.0
LAG_EVERY_SECONDS = 1.0
PRUNE_EVERY_SECONDS = 600.0
PRUNE_BATCH = 1000
CLOSE_TIMEOUT_SECONDS = 5.0


async def relay_once(
    pool: asyncpg.Pool, service: str, batch: int = 500, subscriptions: tuple[Subscription, ...] = SUBSCRIPTIONS
) -> int:
    """Publishes up to `batch` unsent events of `service` to the subscriptions that want them."""
    broker = get_broker()
    subscribers = subscriptions_of(service, subscriptions)
    async with connection(pool) as conn:
        async with conn.transaction():
            rows = await conn.fetch("SELECT * FROM outbox_claim($1)", batch)
            if not rows:
                return 0
            for row in rows:
                event = envelope(
                    id=row["id"],
                    type=row["type"],
                    org_id=row["org_id"],
                    occurred_at=row["occurred_at"],
                    version=row["version"],
                    payload=row["payload"],
                )
                for sub in subscribers:
                    if not sub.wants(row["type"]):
                        continue
                    broker.enqueue(
                        Message(queue_name=sub.queue, actor_name=sub.actor, args=(event,), kwargs={}, options={})
                    )
            await conn.execute("SELECT outbox_mark_sent($1)", [r["id"] for r in rows])
            now = await conn.fetchval("SELECT clock_timestamp()")
    OUTBOX_PUBLISHED.labels(service).inc(len(rows))
    delay = OUTBOX_PUBLISH_DELAY.labels(service)
    for row in rows:
        delay.observe(max(0.0, (now - row["occurred_at"]).total_seconds()))
    return len(rows)


async def prune_published(pool: asyncpg.Pool, service: str, retention_hours: float, batch: int = PRUNE_BATCH) -> int:
    """Deletes published events older than the retention, `batch` rows per short transaction."""
    total = 0
    while True:
        async with connection(pool) as conn:
            deleted: int = await conn.fetchval(
                "SELECT outbox_prune(make_interval(secs => $1), $2)", retention_hours * 3600.0, batch
            )
        total += deleted
        OUTBOX_PRUNED.labels(service).inc(deleted)
        if deleted < batch:
            return total
        await asyncio.sleep(0)  # let publishing run between batches


async def outbox_lag(pool: asyncpg.Pool) -> float:
    """Seconds since the oldest unpublished event occurred (0 when none waits)."""
    async with connection(pool) as conn:
        lag: float = await conn.fetchval("SELECT outbox_lag_seconds()")
    return lag


async def _wait(events: list[asyncio.Event], timeout: float) -> None:
    """Until one of `events` is set, or `timeout` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


class Listener:
    """The relay's LISTEN connection, reopened with back-off whenever it is lost.

    Lost means PostgreSQL closed it (restart, kill, failover: asyncpg's termination callback)
    or a keepalive `SELECT 1` went unanswered (a hung server, a half-open connection). Each
    (re)connection wakes the relay, since events may have committed while nobody listened.
    """

    def __init__(
        self,
        dsn: str,
        wake: asyncio.Event,
        dependency: str,
        *,
        keepalive: float = LISTEN_KEEPALIVE_SECONDS,
        channel: str = CHANNEL,
    ) -> None:
        self.dsn, self.wake, self.dependency = dsn, wake, dependency
        self.keepalive, self.channel = keepalive, channel
        self.connected = False
        self.reconnects = 0

    def _notified(self, *_: object) -> None:
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        delay = RECONNECT_MIN_SECONDS
        attempts = 0
        while not stop.is_set():
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=LISTEN_CONNECT_TIMEOUT_SECONDS,
                    server_settings={"application_name": "partner-platform-relay"},
                )
            except (*UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
                attempts += 1
                slog.dependency_unavailable(logger, f"{self.dependency} (LISTEN)", exc)
                await _wait([stop], delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            try:
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(self.channel, self._notified)
                self.connected = True
                if attempts or self.reconnects:
                    self.reconnects += 1
                    slog.log(logger, logging.INFO, "LISTEN reconnected", dependency=self.dependency, attempts=attempts)
                    slog.dependency_available(logger, f"{self.dependency} (LISTEN)")
                attempts, delay = 0, RECONNECT_MIN_SECONDS
                self.wake.set()
                await self._watch(conn, lost, stop)
            except (*UNAVAILABLE_ERRORS, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                slog.dependency_unavailable(logger, f"{self.dependency} (LISTEN)", exc)
            finally:
                self.connected = False
                conn.terminate()  # never close(): it waits for a server that may be gone
            if not stop.is_set():
                attempts += 1
                slog.log(logger, logging.WARNING, "LISTEN connection lost; reconnecting", dependency=self.dependency)
                await _wait([stop], delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _watch(self, conn: asyncpg.Connection, lost: asyncio.Event, stop: asyncio.Event) -> None:
        while not stop.is_set() and not lost.is_set():
            await _wait([stop, lost], self.keepalive)
            if stop.is_set() or lost.is_set():
                return
            await conn.execute("SELECT 1", timeout=LISTEN_CONNECT_TIMEOUT_SECONDS)


@dataclass
class Housekeeping:
    """The lag gauge (at most once a second) and pruning (every `prune_every` seconds)."""

    pool: asyncpg.Pool
    service: str
    retention_hours: float
    prune_every: float = PRUNE_EVERY_SECONDS
    lag_every: float = LAG_EVERY_SECONDS
    _lag_at: float = float("-inf")
    _pruned_at: float = float("-inf")
    _missing: set[str] = field(default_factory=set)

    async def tick(self) -> None:
        now = time.monotonic()
        if now - self._lag_at >= self.lag_every:
            self._lag_at = now
            await self._guard("outbox_lag_seconds", self._lag)
        if now - self._pruned_at >= self.prune_every:
            self._pruned_at = now
            await self._guard("outbox_prune", self._prune)

    async def _lag(self) -> None:
        OUTBOX_LAG.labels(self.service).set(await outbox_lag(self.pool))

    async def _prune(self) -> None:
        deleted = await prune_published(self.pool, self.service, self.retention_hours)
        if deleted:
            slog.log(
                logger,
                logging.INFO,
                "pruned published outbox events",
                count=deleted,
                retention_hours=self.retention_hours,
            )

    async def _guard(self, function: str, step: Callable[[], Awaitable[None]]) -> None:
        if function in self._missing:
            return
        try:
            await step()
        except DependencyUnavailable:
            pass  # reported where raised; the next tick tries again
        except asyncpg.UndefinedFunctionError:
            self._missing.add(function)
            logger.warning(
                "%s() is missing from the %s database: add `-- include: outbox_housekeeping` to a migration",
                function,
                self.service,
            )


async def run(
    service: str,
    poll_seconds: float = POLL_SECONDS,
    *,
    settings: Settings | None = None,
    stop: asyncio.Event | None = None,
    subscriptions: tuple[Subscription, ...] = SUBSCRIPTIONS,
    degraded_poll_seconds: float = DEGRADED_POLL_SECONDS,
    keepalive_seconds: float = LISTEN_KEEPALIVE_SECONDS,
    prune_every: float = PRUNE_EVERY_SECONDS,
    on_listener: Callable[[Listener], None] | None = None,
) -> None:
    """Relays `service`'s outbox until `stop` is set (SIGINT/SIGTERM set it when none is given)."""
    settings = settings or get_settings()
    check_production_secrets(settings, database_secrets(service))
    dsn = settings.service_database_url(service)
    pool = await create_pool(dsn, max_size=2, settings=settings)
    wake = asyncio.Event()
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    listener = Listener(dsn, wake, pool_info(pool).dependency, keepalive=keepalive_seconds)
    if on_listener is not None:
        on_listener(listener)
    listening = asyncio.create_task(listener.run(stop))
    housekeeping = Housekeeping(pool, service, settings.outbox_retention_hours, prune_every=prune_every)

    async def ready() -> bool:
        await ping(pool, timeout=settings.readiness_timeout_ms / 1000)
        return True

    health = await serve_health(ready)
    logger.info("outbox relay for %s started", service)
    failures = 0
    try:
        while not stop.is_set():
            wake.clear()  # before claiming: a notification during the claim wakes the next wait
            try:
                sent = await relay_once(pool, service, subscriptions=subscriptions)
                failures = 0
            except Exception as exc:
                failures += 1
                _report(exc)
                await _wait([stop], min(0.5 * 2**failures, FAILURE_BACKOFF_MAX_SECONDS))
                continue
            await housekeeping.tick()
            if sent:
                slog.log(logger, logging.INFO, "relayed events", count=sent)
                continue
            await _wait([wake, stop], poll_seconds if listener.connected else degraded_poll_seconds)
            if wake.is_set() and not stop.is_set():
                # Let a burst of commits accumulate: one claim of many rows beats many claims of one.
                await asyncio.sleep(BATCH_WINDOW_SECONDS)
    finally:
        stop.set()
        if health:
            health.close()
        await listening
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            pool.terminate()  # a server that does not answer cannot be said goodbye to


def _report(exc: BaseException) -> None:
    """A failed iteration: an outage is one warning per interval (no traceback), anything else a bug."""
    if isinstance(exc, DependencyUnavailable):
        return  # reported where raised (shared/db.py)
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        slog.dependency_unavailable(logger, redis_name(get_broker()), exc)
        return
    logger.error("relay iteration failed; retrying", exc_info=exc)


def main() -> None:
    parser = argparse.ArgumentParser(description="Publish a service's outbox to its subscribers")
    parser.add_argument("service")
    args = parser.parse_args()
    slog.configure(f"{args.service}-relay", get_settings().log_level)
    asyncio.run(run(args.service))


if __name__ == "__main__":
    main()
