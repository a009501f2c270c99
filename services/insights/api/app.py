"""Composition of the insights service's internal API (`python -m shared.service.serve ...insights.api.app:app`)."""

from __future__ import annotations

from starlette.applications import Starlette

from services.insights.api import activity, analytics, events, timeline
from shared.config import Settings
from shared.service.app import create_service_app, uvicorn_factory

SERVICE = "insights"
ROUTES = [*events.routes, *analytics.routes, *timeline.routes, *activity.routes]


def create_app(settings: Settings | None = None) -> Starlette:
    return create_service_app(SERVICE, ROUTES, settings)


def app() -> Starlette:
    """uvicorn factory."""
    return uvicorn_factory(SERVICE, ROUTES)
