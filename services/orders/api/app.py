"""Composition of the orders service's internal API (`uvicorn --factory services.orders.api.app:app`)."""

from __future__ import annotations

from starlette.applications import Starlette

from services.orders.api import catalogue, customers, ingest, orders, organisation
from shared.config import Settings
from shared.service.app import create_service_app, uvicorn_factory

SERVICE = "orders"
ROUTES = [*organisation.routes, *catalogue.routes, *customers.routes, *orders.routes, *ingest.routes]


def create_app(settings: Settings | None = None) -> Starlette:
    return create_service_app(SERVICE, ROUTES, settings)


def app() -> Starlette:
    """uvicorn factory."""
    return uvicorn_factory(SERVICE, ROUTES)
