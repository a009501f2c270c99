"""Worker entry point: `dramatiq services.orders.worker`.

Imports the broker first, then every actor of the service; the asyncpg pool is created
on the AsyncIO middleware's event loop when the worker boots.
"""

from __future__ import annotations

from shared import logging as slog
from shared.config import get_settings
from shared.db import create_pool
from shared.health import serve_health
from shared.messaging.broker import ResourceMiddleware, broker
from services.orders import actors

slog.configure("orders-worker", get_settings().log_level)
_health = None


async def _startup() -> None:
    global _health
    settings = get_settings()
    actors.resources.pool = await create_pool(settings.service_database_url("orders"), max_size=settings.db_pool_max)

    async def ready() -> bool:
        assert actors.resources.pool is not None
        await actors.resources.pool.fetchval("SELECT 1")
        return True

    _health = await serve_health(ready)


async def _shutdown() -> None:
    if _health is not None:
        _health.close()
    if actors.resources.pool is not None:
        await actors.resources.pool.close()


broker.add_middleware(ResourceMiddleware(_startup, _shutdown))
