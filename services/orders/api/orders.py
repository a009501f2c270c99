"""Orders: the list (with its relations), batches, the summary header, the ledger, manual commission, exports."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse
from starlette.routing import Route

from services.orders import exports
from services.orders.api.catalogue import Ids
from services.orders.domain.commission import CommStatus
from services.orders.domain.filters import CustomerFilter, OrderFilter
from services.orders.repository import catalogue, customers, orders, organisations
from services.orders.repository import exports as export_queries
from services.orders.service import commission
from shared.api_contracts import OrderRelation
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.service.endpoint import OrgCall, TenantCall, org_endpoint, tenant_endpoint
from shared.service.pagination import PageInput

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]


class Page(PageInput):
    filter: OrderFilter = Field(default_factory=OrderFilter)
    # Related rows to return with the page, so a list screen needs one call, not one per relation.
    expand: list[OrderRelation] = Field(default_factory=list, max_length=len(OrderRelation))


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: OrderFilter = Field(default_factory=OrderFilter)


class ManualCommission(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    comm_status: CommStatus = Field(alias="commStatus")
    amount: Money | None = None


_RELATED = {
    OrderRelation.CUSTOMER: customers.by_ids,
    OrderRelation.INTEGRATION: catalogue.integrations_by_ids,
    OrderRelation.CATEGORY: catalogue.categories_by_ids,
    OrderRelation.PRODUCT: catalogue.products_by_ids,
}


@tenant_endpoint()
async def list_orders(call: TenantCall) -> Any:
    page = call.parse(Page)
    tz = await organisations.time_zone(call.conn, call.org_id)
    rows, more = await orders.list_page(call.conn, call.org_id, page.filter, tz, page.first, page.after)
    related: dict[str, list[dict[str, Any]]] = {}
    for relation in dict.fromkeys(page.expand):
        ids = list({row[f"{relation.value}_id"] for row in rows})
        related[relation.value] = await _RELATED[relation](call.conn, call.org_id, ids) if ids else []
    return {"rows": rows, "has_next_page": more, "related": related}


@tenant_endpoint()
async def orders_batch(call: TenantCall) -> Any:
    return await orders.by_ids(call.conn, call.org_id, call.parse(Ids).ids)


@tenant_endpoint()
async def summary(call: TenantCall) -> Any:
    q = call.parse(SummaryQuery)
    tz = await organisations.time_zone(call.conn, call.org_id)
    return await orders.summary(call.conn, call.org_id, q.filter, tz)


@tenant_endpoint(admin=True)
async def manual_commission(call: TenantCall) -> Any:
    """An admin confirms (or corrects the amount of) a commission from the dashboard."""
    body = call.parse(ManualCommission)
    order, changed = await commission.set_by_hand(
        call.conn, call.org_id, call.path_uuid("order_id"), body.comm_status, body.amount, call.actor
    )
    return {"order": order, "changed": changed}


@tenant_endpoint()
async def order_ledger(call: TenantCall) -> Any:
    return await orders.ledger(call.conn, call.org_id, call.path_uuid("order_id"))


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: dict[str, Any] = Field(default_factory=dict)


_MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@org_endpoint()
async def export(call: OrgCall) -> Any:
    """Streams the rows of a list as CSV or XLSX; the stream opens its own transaction."""
    kind, fmt = call.request.path_params["kind"], call.request.path_params["fmt"]
    if kind not in ("orders", "customers") or fmt not in _MEDIA:
        raise DomainError(ErrorCode.UNKNOWN_EXPORT, "exports are orders or customers, as csv or xlsx", "kind")
    body = call.parse(ExportRequest)
    async with tenant_tx(call.pool, call.org_id) as conn:
        tz = await organisations.time_zone(conn, call.org_id)
    if kind == "orders":
        query = export_queries.orders_query(call.org_id, call.parse(OrderFilter, body.filter, "filter."), tz)
    else:
        query = export_queries.customers_query(call.org_id, call.parse(CustomerFilter, body.filter, "filter."), tz)
    stream = (
        exports.stream_csv(call.pool, call.org_id, query)
        if fmt == "csv"
        else exports.stream_xlsx(call.pool, call.org_id, query, kind)
    )
    return StreamingResponse(
        stream, media_type=_MEDIA[fmt], headers={"content-disposition": f'attachment; filename="{kind}.{fmt}"'}
    )


routes = [
    Route("/internal/orders/list", list_orders, methods=["POST"]),
    Route("/internal/orders/batch", orders_batch, methods=["POST"]),
    Route("/internal/orders/summary", summary, methods=["POST"]),
    Route("/internal/orders/{order_id}/commission", manual_commission, methods=["POST"]),
    Route("/internal/orders/{order_id}/ledger", order_ledger, methods=["GET"]),
    Route("/internal/exports/{kind}.{fmt}", export, methods=["POST"]),
]
