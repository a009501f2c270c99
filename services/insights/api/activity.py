"""Insights API: activity (see the module's functions)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
