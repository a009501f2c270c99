"""asyncpg pools and the per-transaction tenant scope.

The organisation is set per transaction with `set_config('app.org_id', ..., true)`, so a
pooled connection carries no state between transactions and the pool can skip asyncpg's
reset query (which would otherwise cost a round trip on every release, halving throughput).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

logger = logging.getLogger(__name__)


class _NoResetConnection(asyncpg.Connection):
    async def reset(self, *, timeout: float | None = None) -> None:
        # Transactions always end (commit or rollback) before release and nothing is set at
        # session level, so there is nothing to reset.
        return None


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, wait: bool = True) -> asyncpg.Pool:
    """A pool for `dsn`; while PostgreSQL is unreachable, says so clearly and keeps retrying."""
    delay = 0.5
    while True:
        try:
            return await _create_pool(dsn, min_size=min_size, max_size=max_size)
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            if not wait:
                raise
            where = dsn.split("@")[-1]
            logger.error("PostgreSQL unreachable at %s (%s); retrying in %.1fs", where, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _create_pool(dsn: str, *, min_size: int, max_size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        connection_class=_NoResetConnection,
        init=_init_connection,
        server_settings={"timezone": "UTC", "application_name": "partner-platform"},
    )


@asynccontextmanager
async def tenant_tx(pool: asyncpg.Pool, org_id: UUID | str) -> AsyncIterator[asyncpg.Connection]:
    """A transaction in which row-level security admits only `org_id`'s rows."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            yield conn


@asynccontextmanager
async def system_tx(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A transaction with no tenant: only SECURITY DEFINER lookups can return rows."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            yield conn
