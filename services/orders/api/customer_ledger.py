"""The ORDER stream of a customer's timeline: the changes of the customer's orders, newest first, keyset
pages in the merged timeline's order (the gateway merges it with the insights service's events)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from services.orders.repository import customer_ledger
from shared.service.endpoint import TenantCall, tenant_endpoint
from shared.service.pagination import PageInput


@tenant_endpoint()
async def customer_ledger_page(call: TenantCall) -> Any:
    """`after` is a cursor of the merged timeline (it may name an entry of the other stream); an unknown
    customer, or another organisation's, has no entries."""
    q = call.parse(PageInput)
    rows, more = await customer_ledger.page(
        call.conn, call.org_id, call.path_uuid("customer_id"), first=q.first, after=q.after
    )
    return {"rows": rows, "has_next_page": more}


routes = [Route("/internal/customers/{customer_id}/ledger", customer_ledger_page, methods=["POST"])]
