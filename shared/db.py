"""asyncpg pools, the per-transaction tenant scope, and what a pool does when PostgreSQL fails.

The organisation is set per transaction with `set_config('app.org_id', ..., true)`, so a
pooled connection carries no state between transactions and the pool can skip asyncpg's
reset query (which would otherwise cost a round trip on every release, halving throughput).

Every pool is bounded in time (settings in shared/config.py, README "Configuration"):
- `statement_timeout` (server side) ends a slow statement; asyncpg's `command_timeout` (client
  side, a little longer) ends the wait when the server does not answer at all (hung, stopped);
- waiting for a pooled connection is bounded by the acquire timeout;
- `idle_in_transaction_session_timeout` ends a transaction its client left open (a request that
  hangs between statements holds no connection and no lock for long).
Exports run longer statements: their pool passes its own `statement_timeout_ms`.

A connection error or timeout inside `tenant_tx`/`system_tx` becomes `DependencyUnavailable`
naming the database (`PostgreSQL database orders at 10.0.0.5:5432`), reported as one warning per
interval without a traceback; endpoints answer it with 503 UNAVAILABLE. A successful transaction
records the time, so readiness (`ping`) answers from that without queueing on a busy pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg

from shared import logging as slog
from shared.config import Settings, get_settings
from shared.health import DependencyUnavailable

logger = logging.getLogger(__name__)

# What an unreachable, stopped, restarting or overloaded server raises (not what a bad query does).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # acquire or command timeout (asyncio.TimeoutError is TimeoutError)
    asyncpg.PostgresConnectionError,  # class 08, incl. ConnectionDoesNotExistError (lost mid-query)
    asyncpg.QueryCanceledError,  # statement_timeout
    asyncpg.AdminShutdownError,  # the server is shutting down or restarting
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,  # starting up or in recovery
    asyncpg.TooManyConnectionsError,
    asyncpg.IdleInTransactionSessionTimeoutError,
)
# A recent successful transaction is proof enough of readiness: no probe query while traffic flows.
READY_FRESH_SECONDS = 5.0
# asyncpg's client-side timeout outlasts the server's statement_timeout, so a slow statement fails
# with PostgreSQL's clear error and the client-side one only fires when the server is silent.
CLIENT_TIMEOUT_MARGIN_SECONDS = 1.0


@dataclass
class PoolInfo:
    """What the platform knows of a pool: how to name its database, its timeouts, its last success."""

    dependency: str
    """For logs: `PostgreSQL database orders at 10.0.0.5:5432`."""
    public: str
    """For answers (no address): `database orders`."""
    acquire_timeout: float | None
    last_ok: float = float("-inf")

    def unavailable(self, exc: BaseException) -> DependencyUnavailable:
        self.last_ok = float("-inf")  # readiness asks the database again instead of trusting the past
        slog.dependency_unavailable(logger, self.dependency, exc)
        return DependencyUnavailable(self.dependency, exc, public=self.public)

    def succeeded(self) -> None:
        self.last_ok = time.monotonic()
        slog.dependency_available(logger, self.dependency)


class Pool(asyncpg.Pool):
    """An asyncpg pool that carries its `PoolInfo` (asyncpg's pool takes no other attributes)."""

    __slots__ = ("platform",)
    platform: PoolInfo


def describe_dsn(dsn: str) -> tuple[str, str]:
    """(`PostgreSQL database orders at host:port`, `database orders`) for `dsn`; never the password."""
    parts = urlsplit(dsn)
    database = parts.path.lstrip("/") or parts.username or "postgres"
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    return f"PostgreSQL database {database} at {parts.hostname or 'localhost'}:{port}", f"database {database}"


def pool_info(pool: asyncpg.Pool) -> PoolInfo:
    """The pool's info; a pool made without `create_pool` (benchmarks) gets a generic one."""
    info = getattr(pool, "platform", None)
    if isinstance(info, PoolInfo):
        return info
    return _GENERIC


_GENERIC = PoolInfo("PostgreSQL", "database", acquire_timeout=None)


class _NoResetConnection(asyncpg.Connection):
    async def reset(self, *, timeout: float | None = None) -> None:
        # Transactions always end (commit or rollback) before release and nothing is set at
        # session level, so there is nothing to reset.
        return None


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    wait: bool = True,
    statement_timeout_ms: int | None = None,
    acquire_timeout_ms: int | None = None,
    idle_in_transaction_timeout_ms: int | None = None,
    settings: Settings | None = None,
) -> Pool:
    """A pool for `dsn`; while PostgreSQL is unreachable, says so clearly and keeps retrying.

    Timeouts default to the interactive settings (DB_STATEMENT_TIMEOUT_MS, DB_ACQUIRE_TIMEOUT_MS,
    DB_IDLE_IN_TRANSACTION_TIMEOUT_MS) of `settings` (default: the process's); 0 turns one off.
    Exports pass EXPORT_STATEMENT_TIMEOUT_MS.
    """
    settings = settings or get_settings()
    statement = settings.db_statement_timeout_ms if statement_timeout_ms is None else statement_timeout_ms
    acquire = settings.db_acquire_timeout_ms if acquire_timeout_ms is None else acquire_timeout_ms
    idle = (
        settings.db_idle_in_transaction_timeout_ms
        if idle_in_transaction_timeout_ms is None
        else idle_in_transaction_timeout_ms
    )
    dependency, public = describe_dsn(dsn)
    info = PoolInfo(dependency, public, acquire_timeout=acquire / 1000 if acquire else None)
    delay = 0.5
    while True:
        try:
            pool = await _create_pool(dsn, min_size=min_size, max_size=max_size, statement_ms=statement, idle_ms=idle)
            pool.platform = info
            info.succeeded()
            return pool
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            if not wait:
                raise
            logger.error("PostgreSQL unreachable at %s (%s); retrying in %.1fs", dsn.split("@")[-1], exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _create_pool(dsn: str, *, min_size: int, max_size: int, statement_ms: int, idle_ms: int) -> Pool:
    server_settings = {
        "timezone": "UTC",
        "application_name": "partner-platform",
        "statement_timeout": str(statement_ms),
        "idle_in_transaction_session_timeout": str(idle_ms),
    }
    # What asyncpg.create_pool does (it constructs `asyncpg.Pool` with its defaults), with our subclass;
    # awaiting the pool opens its first connections (and closes them again if that fails).
    pool = Pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        loop=None,
        connection_class=_NoResetConnection,
        record_class=asyncpg.Record,
        command_timeout=statement_ms / 1000 + CLIENT_TIMEOUT_MARGIN_SECONDS if statement_ms else None,
        server_settings=server_settings,
    )
    await pool
    return pool


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, waited for at most the acquire timeout; failures as `DependencyUnavailable`."""
    info = pool_info(pool)
    try:
        async with pool.acquire(timeout=info.acquire_timeout) as conn:
            yield conn
    except UNAVAILABLE_ERRORS as exc:
        raise info.unavailable(exc) from exc
    info.succeeded()


@asynccontextmanager
async def tenant_tx(
    pool: asyncpg.Pool, org_id: UUID | str, *, snapshot: bool = False
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction in which row-level security admits only `org_id`'s rows.

    `snapshot`: a read-only transaction whose statements all see one snapshot (REPEATABLE READ), for
    reads that must agree with each other (an export batch: its last key, then its rows).
    """
    async with connection(pool) as conn:
        async with conn.transaction(isolation="repeatable_read", readonly=True) if snapshot else conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            yield conn


@asynccontextmanager
async def system_tx(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A transaction with no tenant: only SECURITY DEFINER lookups can return rows."""
    async with connection(pool) as conn:
        async with conn.transaction():
            yield conn


async def ping(pool: asyncpg.Pool, timeout: float | None = None) -> None:
    """Readiness of the pool's database: a transaction that succeeded in the last few seconds is
    enough (no query, no wait on a busy pool); otherwise `SELECT 1` within `timeout`. Raises
    `DependencyUnavailable`."""
    info = pool_info(pool)
    if time.monotonic() - info.last_ok < READY_FRESH_SECONDS:
        return
    try:
        async with pool.acquire(timeout=timeout or info.acquire_timeout) as conn:
            await conn.fetchval("SELECT 1", timeout=timeout)
    except UNAVAILABLE_ERRORS as exc:
        raise info.unavailable(exc) from exc
    info.succeeded()


def unavailable_error(pool: asyncpg.Pool, exc: BaseException) -> DependencyUnavailable:
    """`exc`, raised by `pool`'s database outside `tenant_tx`/`system_tx`, as `DependencyUnavailable`
    (reported once per interval)."""
    return pool_info(pool).unavailable(exc)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached or did not answer (not a bad query)."""
    return isinstance(exc, UNAVAILABLE_ERRORS)
