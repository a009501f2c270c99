"""Composition of the orders service's internal API (`uvicorn --factory services.orders.api.app:app`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from services.orders.api import (
    catalogue,
    custom_fields,
    customer_ledger,
    customers,
    erasure,
    identities,
    ingest,
    orders,
    organisation,
    teams,
)
from services.orders.service.organisation import check_zone_rules
from shared.config import Settings
from shared.service.app import create_service_app, service_state, uvicorn_factory

SERVICE = "orders"
ROUTES = [
    *organisation.routes,
    *catalogue.routes,
    *customers.routes,
    *customer_ledger.routes,
    *orders.routes,
    *ingest.routes,
    *identities.routes,
    *erasure.routes,
    *teams.routes,
    *custom_fields.routes,
]


def _with_zone_rules_check(app: Starlette) -> Starlette:
    """Once the pool exists, the database's zone rules are compared with the platform's in the background
    (a warning names the zones that differ), so the first `timeZones` or settings change need not wait."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with inner(app):
            check = asyncio.create_task(check_zone_rules(service_state(app).pool))
            try:
                yield
            finally:
                check.cancel()

    app.router.lifespan_context = lifespan
    return app


def create_app(settings: Settings | None = None) -> Starlette:
    return _with_zone_rules_check(create_service_app(SERVICE, ROUTES, settings))


def app() -> Starlette:
    """uvicorn factory."""
    return _with_zone_rules_check(uvicorn_factory(SERVICE, ROUTES))
