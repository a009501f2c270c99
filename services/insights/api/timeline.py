"""A customer's timeline (its events, the events half of `customer.timeline`) and devices.

The gateway merges this stream with the orders service's ledger of the customer's orders, by the order
and cursors of `shared.service.merged_pages`. The customer is the gateway's, already resolved by the
orders service (merges followed); here it is only a key: an unknown customer, or another organisation's
(row-level security and `org_id` both exclude its rows), has no events and no devices.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from starlette.routing import Route

from services.insights.domain.catalogue import EventClass
from services.insights.repository import devices, timeline
from shared.config import get_settings
from shared.service.endpoint import TenantCall, tenant_endpoint
from shared.service.pagination import PageInput


class TimelineQuery(PageInput):
    """`after` is a cursor of the merged timeline (it may name an entry of the other stream)."""

    classes: list[EventClass] | None = Field(default=None, min_length=1, max_length=len(EventClass))


@tenant_endpoint()
async def customer_timeline(call: TenantCall) -> Any:
    q = call.parse(TimelineQuery)
    classes = sorted({c.value for c in q.classes}) if q.classes is not None else None
    rows, more = await timeline.page(
        call.conn, call.org_id, call.path_uuid("customer_id"), classes=classes, first=q.first, after=q.after
    )
    return {"rows": rows, "has_next_page": more}


@tenant_endpoint()
async def customer_devices(call: TenantCall) -> Any:
    return await devices.of_customer(
        call.conn, call.org_id, call.path_uuid("customer_id"), get_settings().max_page_size
    )


routes = [
    Route("/internal/customers/{customer_id}/timeline", customer_timeline, methods=["POST"]),
    Route("/internal/customers/{customer_id}/devices", customer_devices, methods=["GET"]),
]
