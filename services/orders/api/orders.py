"""Orders: the list (with its relations), batches, the summary header, the ledger, manual commission, exports."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.orders import exports
from services.orders.api.catalogue import Ids
from services.orders.api.customers import known_segment
from services.orders.domain.commission import CommStatus
from services.orders.domain.filters import AuditFilter, CustomerFilter, OrderFilter
from services.orders.domain.settings import TimeZone
from services.orders.repository import catalogue, customers, deliveries, orders, organisations
from services.orders.repository import exports as export_queries
from services.orders.service import commission
from services.orders.service.audit import AuditAction, record
from shared.api_contracts import OrderRelation
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode, Forbidden
from shared.service.endpoint import OrgCall, TenantCall, org_endpoint, tenant_endpoint
from shared.service.exports import MEDIA, streamed_export
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


# What a provider user sees of an order's relations: the product and category it was for. Customers and the
# partner's integrations are the partner's business.
_PROVIDER_RELATIONS = frozenset({OrderRelation.PRODUCT, OrderRelation.CATEGORY})


@tenant_endpoint(providers=True)
async def list_orders(call: TenantCall) -> Any:
    page = call.parse(Page)
    await known_segment(call, page.filter.segment_id)
    tz = await organisations.time_zone(call.conn, call.org_id)
    scoped = page.filter.for_provider(call.provider_id)
    rows, more = await orders.list_page(call.conn, call.org_id, scoped, tz, page.first, page.after)
    related: dict[str, list[dict[str, Any]]] = {}
    for relation in dict.fromkeys(page.expand):
        if call.provider_id is not None and relation not in _PROVIDER_RELATIONS:
            raise Forbidden(f"provider users cannot expand {relation.value}", "expand")
        ids = list({row[f"{relation.value}_id"] for row in rows})
        related[relation.value] = await _RELATED[relation](call.conn, call.org_id, ids) if ids else []
    return {"rows": rows, "has_next_page": more, "related": related}


@tenant_endpoint(providers=True)
async def orders_batch(call: TenantCall) -> Any:
    return await orders.by_ids(call.conn, call.org_id, call.parse(Ids).ids, call.provider_id)


@tenant_endpoint(providers=True)
async def summary(call: TenantCall) -> Any:
    q = call.parse(SummaryQuery)
    await known_segment(call, q.filter.segment_id)
    tz = await organisations.time_zone(call.conn, call.org_id)
    return await orders.summary(call.conn, call.org_id, q.filter.for_provider(call.provider_id), tz)


@tenant_endpoint(providers=True)
async def manual_commission(call: TenantCall) -> Any:
    """A provider user confirms (or corrects the amount of) a commission of their provider's order.

    The seed gives manual updates to the service provider: partner admins and members read them.
    """
    if call.provider_id is None:
        raise Forbidden("commission is updated by the order's provider (its users, webhooks or the operator)")
    body = call.parse(ManualCommission)
    order, changed = await commission.set_by_hand(
        call.conn,
        call.org_id,
        call.path_uuid("order_id"),
        body.comm_status,
        body.amount,
        call.actor,
        provider_id=call.provider_id,
    )
    if changed:
        await record(
            call, AuditAction.COMMISSION_SET_BY_HAND, order["id"], body.model_dump(exclude_unset=True, by_alias=True)
        )
    return {"order": order, "changed": changed}


@tenant_endpoint(providers=True)
async def order_ledger(call: TenantCall) -> Any:
    return await orders.ledger(call.conn, call.org_id, call.path_uuid("order_id"), call.provider_id)


@tenant_endpoint(admin=True)
async def order_deliveries(call: TenantCall) -> Any:
    """Every provider delivery about an order, with its outcome (refused and stale ones included)."""
    return await deliveries.for_order(call.conn, call.org_id, call.path_uuid("order_id"))


class DeliveryPage(PageInput):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    provider_id: UUID = Field(alias="providerId")
    outcomes: list[Literal["APPLIED", "UNCHANGED", "STALE", "UNKNOWN_ORDER", "REFUSED"]] = Field(
        default_factory=list, max_length=5
    )


@tenant_endpoint(admin=True)
async def provider_deliveries(call: TenantCall) -> Any:
    """A provider's delivery log, newest first, optionally only some outcomes."""
    q = call.parse(DeliveryPage)
    rows, more = await deliveries.page(call.conn, call.org_id, q.provider_id, list(q.outcomes), q.first, q.after)
    return {"rows": rows, "has_next_page": more}


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    filter: dict[str, Any] = Field(default_factory=dict)
    # The zone the link was requested in (from `resolve_export`): the days it covers stay the instants they
    # were then, even if the organisation changes its time zone before the download.
    time_zone: TimeZone | None = Field(default=None, alias="timeZone")


class ResolveExport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["orders", "customers", "audit"]
    filter: dict[str, Any] = Field(default_factory=dict)


_FILTERS: dict[str, type[OrderFilter | CustomerFilter | AuditFilter]] = {
    "orders": OrderFilter,
    "customers": CustomerFilter,
    "audit": AuditFilter,
}


def _require_admin_for(kind: str, call: OrgCall) -> None:
    """The audit log is for admins, in exports as in `auditLog`."""
    if kind == "audit" and call.identity.role != "admin":
        raise Forbidden("the audit log is for admins")


@tenant_endpoint()
async def resolve_export(call: TenantCall) -> Any:
    """Validates an export's filter and fixes what is relative in it now: a preset becomes its dates, and the
    organisation's time zone travels with them, so an export link exports what it was requested for."""
    q = call.parse(ResolveExport)
    _require_admin_for(q.kind, call)
    parsed = call.parse(_FILTERS[q.kind], q.filter, "filter.")
    if not isinstance(parsed, AuditFilter):
        await known_segment(call, parsed.segment_id)
    tz = await organisations.time_zone(call.conn, call.org_id)
    resolved = dict(q.filter)
    if not isinstance(parsed, AuditFilter) and parsed.range is not None:
        first, last = parsed.range.days(tz)
        resolved["range"] = {k: v.isoformat() for k, v in (("from", first), ("to", last)) if v is not None}
    return {"filter": resolved, "timeZone": tz}


@org_endpoint()
async def export(call: OrgCall) -> Any:
    """Streams the rows of a list as CSV or XLSX, reading in short batch transactions on the export pool
    (one organisation's exports capped at EXPORT_ORG_CONCURRENCY: shared/service/exports.py)."""
    kind, fmt = call.request.path_params["kind"], call.request.path_params["fmt"]
    if kind not in _FILTERS or fmt not in MEDIA:
        raise DomainError(ErrorCode.UNKNOWN_EXPORT, "exports are orders, customers or audit, as csv or xlsx", "kind")
    _require_admin_for(kind, call)
    body = call.parse(ExportRequest)
    parsed = call.parse(_FILTERS[kind], body.filter, "filter.")

    async def open_stream(pool: asyncpg.Pool) -> AsyncGenerator[bytes, None]:
        tz = body.time_zone
        if tz is None:
            async with tenant_tx(pool, call.org_id) as conn:
                tz = await organisations.time_zone(conn, call.org_id)
        if isinstance(parsed, OrderFilter):
            query = export_queries.orders_query(call.org_id, parsed, tz)
        elif isinstance(parsed, CustomerFilter):
            query = export_queries.customers_query(call.org_id, parsed, tz)
        else:
            query = export_queries.audit_query(call.org_id, parsed)
        settings = call.service.settings
        if fmt == "csv":
            return exports.stream_csv(pool, call.org_id, query, settings.export_csv_batch_rows)
        return exports.stream_xlsx(pool, call.org_id, query, kind, settings.export_batch_rows)

    return await streamed_export(call, kind, fmt, open_stream)


routes = [
    Route("/internal/orders/list", list_orders, methods=["POST"]),
    Route("/internal/orders/batch", orders_batch, methods=["POST"]),
    Route("/internal/orders/summary", summary, methods=["POST"]),
    Route("/internal/orders/{order_id}/commission", manual_commission, methods=["POST"]),
    Route("/internal/orders/{order_id}/ledger", order_ledger, methods=["GET"]),
    Route("/internal/orders/{order_id}/deliveries", order_deliveries, methods=["GET"]),
    Route("/internal/deliveries/list", provider_deliveries, methods=["POST"]),
    Route("/internal/exports/resolve", resolve_export, methods=["POST"]),
    Route("/internal/exports/{kind}.{fmt}", export, methods=["POST"]),
]
