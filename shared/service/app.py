"""A service's internal API app: one pool, health and metrics routes, request ids, typed state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from shared import logging as slog
from shared.config import Settings, check_production_secrets, database_secrets, get_settings
from shared.db import create_pool, ping
from shared.http import BodyLimit, RequestContext, SecurityHeaders, health_routes, tune_gc
from shared.metrics import HttpMetrics

INTERNAL_BODY_LIMIT = 1024 * 1024


@dataclass
class ServiceState:
    """What an endpoint needs of its process: who it is, its settings and its pool.

    `name` is the service's name, also the audience its service tokens must carry.
    """

    name: str
    settings: Settings
    pool: asyncpg.Pool
    # Exports' own small pool: a burst of exports never takes the connections interactive requests
    # need. Made by create_service_app; None only where a state is built by hand.
    export_pool: asyncpg.Pool | None = None


# How long an export batch waits for a connection of the export pool (ms).
EXPORT_ACQUIRE_TIMEOUT_MS = 30_000


def service_state(app: Starlette) -> ServiceState:
    state: ServiceState = app.state.service
    return state


def create_service_app(
    name: str,
    routes: Sequence[BaseRoute],
    settings: Settings | None = None,
    body_limits: Sequence[tuple[str, int]] = (),
) -> Starlette:
    """The internal API of service `name`, connected to its own database as its own app role.

    Exports get a pool of their own (`ServiceState.export_pool`), which holds no connection until
    an export runs. `body_limits`: paths (prefixes) whose bodies may pass INTERNAL_BODY_LIMIT, each with
    its own cap (what the gateway relays there as it came, such as a batch of events).
    """
    settings = settings or get_settings()
    check_production_secrets(settings, ("SERVICE_TOKEN_SECRET", *database_secrets(name)))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tune_gc()
        pool = await create_pool(settings.service_database_url(name), max_size=settings.db_pool_max, settings=settings)
        export_pool = await create_export_pool(settings, name)
        app.state.service = ServiceState(name=name, settings=settings, pool=pool, export_pool=export_pool)
        try:
            yield
        finally:
            await export_pool.close()
            await pool.close()

    async def ready() -> None:
        # A recent successful transaction answers without a query; never queues on a busy pool.
        await ping(service_state(app).pool, timeout=settings.readiness_timeout_ms / 1000)

    app = Starlette(
        routes=[*health_routes(ready), *routes],
        middleware=[
            Middleware(HttpMetrics),
            # Internal calls carry filters and id batches, never files: a megabyte is far more than any needs.
            Middleware(BodyLimit, limits=body_limits, default=INTERNAL_BODY_LIMIT),
            Middleware(RequestContext),
            Middleware(SecurityHeaders),
        ],
        lifespan=lifespan,
    )
    return app


def uvicorn_factory(name: str, routes: Sequence[BaseRoute], body_limits: Sequence[tuple[str, int]] = ()) -> Starlette:
    """What a service's `app()` factory returns: logging configured, then the app."""
    slog.configure(f"{name}-api", get_settings().log_level)
    return create_service_app(name, routes, body_limits=body_limits)


async def create_export_pool(settings: Settings, name: str) -> asyncpg.Pool:
    """The exports' pool of service `name`: EXPORT_DB_POOL_MAX connections, none kept while no export runs.

    Exports read in batches, each in its own short transaction, so a transaction left open (a
    bug) is ended by the server after EXPORT_IDLE_IN_TRANSACTION_MS instead of holding a snapshot
    and a connection while a file is formatted or a client reads slowly. A batch waits longer for a
    connection than an interactive request would (EXPORT_ACQUIRE_TIMEOUT_MS): failing would cut a
    download short, and the pool is small on purpose.
    """
    return await create_pool(
        settings.service_database_url(name),
        min_size=0,
        max_size=settings.export_db_pool_max,
        statement_timeout_ms=settings.export_statement_timeout_ms,
        acquire_timeout_ms=EXPORT_ACQUIRE_TIMEOUT_MS,
        idle_in_transaction_timeout_ms=settings.export_idle_in_transaction_ms,
        settings=settings,
    )
