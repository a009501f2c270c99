"""The activity feed: the organisation's newest events across all its customers, filtered by type and
class, keyset-paginated (live pushes of new events are the live channel's; this is the query)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.routing import Route

from services.insights.domain import catalogue
from services.insights.domain.catalogue import EventClass
from services.insights.repository import activity
from shared.service.endpoint import TenantCall, tenant_endpoint
from shared.service.pagination import PageInput

MAX_TYPES = 50


class ActivityFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    types: list[str] | None = Field(default=None, min_length=1, max_length=MAX_TYPES)
    classes: list[EventClass] | None = Field(default=None, min_length=1, max_length=len(EventClass))

    @field_validator("types")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if catalogue.lookup(name) is None:
                raise ValueError(f"unknown event type {name!r}; eventTypes lists them")
        return sorted(set(value)) if value is not None else None


class ActivityQuery(PageInput):
    filter: ActivityFilter = Field(default_factory=ActivityFilter)


@tenant_endpoint()
async def activity_feed(call: TenantCall) -> Any:
    q = call.parse(ActivityQuery)
    classes = sorted({c.value for c in q.filter.classes}) if q.filter.classes is not None else None
    rows, more = await activity.page(
        call.conn, call.org_id, types=q.filter.types, classes=classes, first=q.first, after=q.after
    )
    return {"rows": rows, "has_next_page": more}


routes = [Route("/internal/activity", activity_feed, methods=["POST"])]
