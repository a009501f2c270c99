"""Customers: the list, batches for the gateway's loaders, the profile and the timeline."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.orders.api.catalogue import Ids
from services.orders.domain.filters import CustomerFilter
from services.orders.repository import customers, organisations
from shared.service import segment_copies
from shared.service.endpoint import TenantCall, tenant_endpoint
from shared.service.pagination import PageInput


class Page(PageInput):
    filter: CustomerFilter = Field(default_factory=CustomerFilter)


async def known_segment(call: TenantCall, segment_id: UUID | None) -> None:
    """A segment filter names a segment this organisation's copy knows (else NOT_FOUND naming it)."""
    if segment_id is not None:
        await segment_copies.require_known(call.conn, call.org_id, segment_id, "filter.segmentId")


@tenant_endpoint()
async def list_customers(call: TenantCall) -> Any:
    page = call.parse(Page)
    await known_segment(call, page.filter.segment_id)
    tz = await organisations.time_zone(call.conn, call.org_id)
    rows, more = await customers.list_page(call.conn, call.org_id, page.filter, tz, page.first, page.after)
    return {"rows": rows, "has_next_page": more}


class CountQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: CustomerFilter = Field(default_factory=CustomerFilter)


@tenant_endpoint()
async def count_customers(call: TenantCall) -> Any:
    q = call.parse(CountQuery)
    await known_segment(call, q.filter.segment_id)
    tz = await organisations.time_zone(call.conn, call.org_id)
    return {"total_count": await customers.count(call.conn, call.org_id, q.filter, tz)}


@tenant_endpoint()
async def customers_batch(call: TenantCall) -> Any:
    return await customers.by_ids(call.conn, call.org_id, call.parse(Ids).ids)


@tenant_endpoint()
async def customer_profile(call: TenantCall) -> Any:
    return await customers.profile(call.conn, call.org_id, call.path_uuid("customer_id"))


@tenant_endpoint()
async def customer_timeline(call: TenantCall) -> Any:
    return await customers.timeline(call.conn, call.org_id, call.path_uuid("customer_id"))


routes = [
    Route("/internal/customers/list", list_customers, methods=["POST"]),
    Route("/internal/customers/count", count_customers, methods=["POST"]),
    Route("/internal/customers/batch", customers_batch, methods=["POST"]),
    Route("/internal/customers/{customer_id}", customer_profile, methods=["GET"]),
    Route("/internal/customers/{customer_id}/timeline", customer_timeline, methods=["GET"]),
]
