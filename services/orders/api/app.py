"""Composition of the orders service's internal API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from services.orders.api import catalogue, customers, ingest, orders, organisation
from shared import logging as slog
from shared.config import Settings, get_settings
from shared.db import create_pool
from shared.http import RequestContext, health_routes, tune_gc


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tune_gc()
        app.state.settings = settings
        app.state.pool = await create_pool(settings.service_database_url("orders"), max_size=settings.db_pool_max)
        try:
            yield
        finally:
            await app.state.pool.close()

    async def ready() -> None:
        await app.state.pool.fetchval("SELECT 1")

    app = Starlette(
        routes=[*health_routes(ready), *organisation.routes, *catalogue.routes, *customers.routes, *orders.routes,
                *ingest.routes],
        middleware=[Middleware(RequestContext)],
        lifespan=lifespan,
    )
    return app


def app() -> Starlette:
    """uvicorn factory: `uvicorn --factory services.orders.api.app:app`."""
    slog.configure("orders-api", get_settings().log_level)
    return create_app()
