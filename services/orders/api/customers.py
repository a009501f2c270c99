from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.orders.api.catalogue import Ids
from services.orders.api.kit import Call, endpoint
from services.orders.domain.filters import CustomerFilter
from services.orders.repository import customers, organisations


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: CustomerFilter = Field(default_factory=CustomerFilter)
    first: int = Field(default=50, ge=1, le=500)
    after: str | None = None


@endpoint()
async def list_customers(call: Call) -> Any:
    page = call.parse(Page)
    tz = await organisations.time_zone(call.conn, call.org_id)
    rows, more = await customers.list_page(call.conn, call.org_id, page.filter, tz, page.first, page.after)
    return {"rows": rows, "has_next_page": more}


@endpoint()
async def customers_batch(call: Call) -> Any:
    return await customers.by_ids(call.conn, call.org_id, call.parse(Ids).ids)


@endpoint()
async def customer_profile(call: Call) -> Any:
    return await customers.profile(call.conn, call.org_id, call.path_uuid("customer_id"))


@endpoint()
async def customer_timeline(call: Call) -> Any:
    return await customers.timeline(call.conn, call.org_id, call.path_uuid("customer_id"))


routes = [
    Route("/internal/customers/list", list_customers, methods=["POST"]),
    Route("/internal/customers/batch", customers_batch, methods=["POST"]),
    Route("/internal/customers/{customer_id}", customer_profile, methods=["GET"]),
    Route("/internal/customers/{customer_id}/timeline", customer_timeline, methods=["GET"]),
]
