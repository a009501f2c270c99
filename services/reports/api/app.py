"""Composition of the reports service's internal API (`python -m shared.service.serve services.reports.api.app:app`).

/healthz and /readyz come with the kit's app; the catalogue, previews, runs and schedules add their routes here."""

from __future__ import annotations

from starlette.applications import Starlette

from services.reports.api import collections, mongo_connections, reports, runs, schedules, watermarks
from shared.config import Settings
from shared.service.app import create_service_app, uvicorn_factory

SERVICE = "reports"
ROUTES = [
    *watermarks.routes,
    *runs.routes,
    *collections.routes,
    *schedules.routes,
    *mongo_connections.routes,
    *reports.routes,
]  # runs and collections first: their export routes are more specific


def create_app(settings: Settings | None = None) -> Starlette:
    return create_service_app(SERVICE, ROUTES, settings)


def app() -> Starlette:
    """uvicorn factory."""
    return uvicorn_factory(SERVICE, ROUTES)
