"""Composition of the insights service's internal API (`python -m shared.service.serve ...insights.api.app:app`)."""

from __future__ import annotations

from starlette.applications import Starlette

from services.insights.api import activity, analytics, events, exports, saved_insights, segments, timeline
from services.insights.api import collections as collection_api
from services.insights.api import insights as insight_api
from services.insights.api import mixpanel as mixpanel_api
from shared.api_events import MAX_BATCH_BYTES
from shared.config import Settings
from shared.service.app import create_service_app, uvicorn_factory

SERVICE = "insights"
ROUTES = [*events.routes, *analytics.routes, *timeline.routes, *activity.routes, *exports.routes]
ROUTES += saved_insights.routes
ROUTES += insight_api.routes
ROUTES += collection_api.routes
ROUTES += segments.routes
ROUTES += mixpanel_api.routes
# The gateway relays an event batch as it came, up to the documented 2 MiB: the internal cap is 1 MiB.
BODY_LIMITS = (("/internal/events/ingest", MAX_BATCH_BYTES),)


def create_app(settings: Settings | None = None) -> Starlette:
    return create_service_app(SERVICE, ROUTES, settings, body_limits=BODY_LIMITS)


def app() -> Starlette:
    """uvicorn factory."""
    return uvicorn_factory(SERVICE, ROUTES, body_limits=BODY_LIMITS)
