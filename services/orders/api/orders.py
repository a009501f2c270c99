from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse
from starlette.routing import Route

from services.orders.api.catalogue import Ids
from services.orders.api.kit import Call, endpoint
from services.orders.domain.commission import CommStatus, Status
from services.orders.domain.filters import CustomerFilter, OrderFilter
from services.orders.errors import DomainError, NotFound
from services.orders import exports
from services.orders.repository import catalogue, customers, orders, organisations

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]


Relation = Literal["customer", "integration", "category", "product"]


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: OrderFilter = Field(default_factory=OrderFilter)
    first: int = Field(default=50, ge=1, le=500)
    after: str | None = None
    # Related rows to return with the page, so a list screen needs one call, not one per relation.
    expand: list[Relation] = Field(default_factory=list, max_length=4)


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: OrderFilter = Field(default_factory=OrderFilter)


class ManualCommission(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    comm_status: CommStatus = Field(alias="commStatus")
    amount: Money | None = None


@endpoint()
async def list_orders(call: Call) -> Any:
    page = call.parse(Page)
    tz = await organisations.time_zone(call.conn, call.org_id)
    rows, more = await orders.list_page(call.conn, call.org_id, page.filter, tz, page.first, page.after)
    related: dict[str, list[dict[str, Any]]] = {}
    for relation in dict.fromkeys(page.expand):
        fetch = _RELATED[relation]
        ids = list({row[f"{relation}_id"] for row in rows})
        related[relation] = await fetch(call.conn, call.org_id, ids) if ids else []
    return {"rows": rows, "has_next_page": more, "related": related}


_RELATED = {
    "customer": customers.by_ids,
    "integration": catalogue.integrations_by_ids,
    "category": catalogue.categories_by_ids,
    "product": catalogue.products_by_ids,
}


@endpoint()
async def orders_batch(call: Call) -> Any:
    return await orders.by_ids(call.conn, call.org_id, call.parse(Ids).ids)


@endpoint()
async def summary(call: Call) -> Any:
    q = call.parse(SummaryQuery)
    tz = await organisations.time_zone(call.conn, call.org_id)
    return await orders.summary(call.conn, call.org_id, q.filter, tz)


@endpoint(admin=True)
async def manual_commission(call: Call) -> Any:
    """An admin confirms (or corrects the amount of) a commission from the dashboard."""
    body = call.parse(ManualCommission)
    order_id = call.path_uuid("order_id")
    if body.comm_status is CommStatus.NA:
        raise DomainError("ILLEGAL_TRANSITION", "commission cannot be set to N/A by hand; it follows the order status",
                          "commStatus")
    current = await orders.by_ids(call.conn, call.org_id, [order_id])
    if not current:
        raise NotFound("order", "orderId")
    if current[0]["status"] != Status.SUCCESSFUL:
        raise DomainError("ILLEGAL_TRANSITION", "commission can only be updated on a SUCCESSFUL order", "commStatus")
    order, changed = await orders.change_state(
        call.conn, call.org_id, order_id, status=None, comm_status=body.comm_status, amount=body.amount, currency=None,
        source="manual", reference=None, actor=call.actor)
    return {"order": order, "changed": changed}


@endpoint()
async def order_ledger(call: Call) -> Any:
    return await orders.ledger(call.conn, call.org_id, call.path_uuid("order_id"))


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: dict[str, Any] = Field(default_factory=dict)


@endpoint(tx=False)
async def export(call: Call) -> Any:
    kind, fmt = call.request.path_params["kind"], call.request.path_params["fmt"]
    if kind not in ("orders", "customers") or fmt not in ("csv", "xlsx"):
        raise DomainError("UNKNOWN_EXPORT", "exports are orders or customers, as csv or xlsx", "kind")
    body = call.parse(ExportRequest)
    pool = call.request.app.state.pool
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(call.org_id))
            tz = await organisations.time_zone(conn, call.org_id)
    if kind == "orders":
        sql, args, header = exports.orders_query(call.org_id, call.parse(OrderFilter, body.filter, "filter."), tz)
    else:
        sql, args, header = exports.customers_query(call.org_id, call.parse(CustomerFilter, body.filter, "filter."), tz)
    if fmt == "csv":
        stream = exports.stream_csv(pool, call.org_id, sql, args)
        media = "text/csv; charset=utf-8"
    else:
        stream = exports.stream_xlsx(pool, call.org_id, sql, args, header, kind)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return StreamingResponse(stream, media_type=media,
                             headers={"content-disposition": f'attachment; filename="{kind}.{fmt}"'})


routes = [
    Route("/internal/orders/list", list_orders, methods=["POST"]),
    Route("/internal/orders/batch", orders_batch, methods=["POST"]),
    Route("/internal/orders/summary", summary, methods=["POST"]),
    Route("/internal/orders/{order_id}/commission", manual_commission, methods=["POST"]),
    Route("/internal/orders/{order_id}/ledger", order_ledger, methods=["GET"]),
    Route("/internal/exports/{kind}.{fmt}", export, methods=["POST"]),
]
