"""Exports: a short-lived signed download link for orders or customers, as CSV or XLSX.

The file is produced while it downloads (streamed from the orders service in constant
memory), so "ready" is immediate whatever the row count.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry
from strawberry.types import Info

from services.gateway import export_links
from services.gateway.clients import ServiceError
from services.gateway.graphql.context import Context
from services.gateway.graphql.customers import CustomerFilterInput
from services.gateway.graphql.errors import UserError, user_errors
from services.gateway.graphql.orders import OrderFilterInput
from services.gateway.graphql.organisation import require_admin
from shared.errors import ErrorCode


@strawberry.enum(description="What to export: the orders or customers list, or (admins) the audit log.")
class ExportKind(Enum):
    ORDERS = "orders"
    CUSTOMERS = "customers"
    AUDIT_LOG = "audit"


@strawberry.enum
class ExportFormat(Enum):
    CSV = "csv"
    XLSX = "xlsx"


@strawberry.type
class ExportPayload:
    url: str | None
    expires_at: dt.datetime | None
    errors: list[UserError]


@strawberry.type
class ExportsMutation:
    @strawberry.mutation(description="A download link for the rows of the list with this filter.")
    async def request_export(
        self,
        info: Info[Context, None],
        kind: ExportKind,
        format: ExportFormat,
        order_filter: OrderFilterInput | None = None,
        customer_filter: CustomerFilterInput | None = None,
    ) -> ExportPayload:
        ctx = info.context
        if kind is ExportKind.AUDIT_LOG:
            require_admin(info)
        wrong = "customerFilter" if kind is not ExportKind.CUSTOMERS and customer_filter is not None else None
        wrong = wrong or ("orderFilter" if kind is not ExportKind.ORDERS and order_filter is not None else None)
        if wrong is not None:
            # A filter of another kind would otherwise be ignored and export every row: refuse it.
            right = {ExportKind.ORDERS: "orderFilter", ExportKind.CUSTOMERS: "customerFilter"}.get(kind)
            message = f"an export of {kind.name} takes no {wrong}" + (f"; use {right}" if right else "")
            return ExportPayload(
                url=None,
                expires_at=None,
                errors=[UserError(field=wrong, code=ErrorCode.INVALID_INPUT, message=message)],
            )
        if kind is ExportKind.ORDERS:
            filter_json = order_filter.to_json() if order_filter else {}
        elif kind is ExportKind.CUSTOMERS:
            filter_json = customer_filter.to_json() if customer_filter else {}
        else:
            filter_json = {}
        try:
            # Validated now, not when the download starts; a preset becomes its dates and the organisation's
            # time zone travels in the link, so the link exports the instants it was requested for.
            resolved = await ctx.call(
                "orders", "POST", "/internal/exports/resolve", json={"kind": kind.value, "filter": filter_json}
            )
        except ServiceError as exc:
            errors = user_errors(exc)
            for e in errors:
                if e.field and e.field.startswith("filter."):
                    e.field = ("orderFilter." if kind is ExportKind.ORDERS else "customerFilter.") + e.field[7:]
            return ExportPayload(url=None, expires_at=None, errors=errors)
        token, expires = export_links.issue(
            ctx.settings.export_token_secret,
            viewer=ctx.viewer,
            kind=kind.value,
            fmt=format.value,
            filter=resolved["filter"],
            time_zone=resolved["timeZone"],
        )
        return ExportPayload(url=f"{ctx.settings.gateway_public_url}/exports/{token}", expires_at=expires, errors=[])
