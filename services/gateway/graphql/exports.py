"""Exports: a short-lived signed download link for orders, customers, the Analytics tab's data or an insight
(its events, UGD, or its chart's table), as CSV or XLSX.

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
from services.gateway.graphql.analytics import AnalyticsFilterInput
from services.gateway.graphql.collections import CollectionInput
from services.gateway.graphql.context import Context
from services.gateway.graphql.customers import CustomerFilterInput
from services.gateway.graphql.errors import UserError, user_errors
from services.gateway.graphql.insights import InsightInput
from services.gateway.graphql.orders import OrderFilterInput
from services.gateway.graphql.organisation import require_admin
from services.gateway.graphql.reports import ReportInput
from shared.errors import ErrorCode


@strawberry.enum(
    description="What to export: the orders or customers list, (admins) the audit log, or the Analytics tab's "
    "data for its filter: the customers active in the range (first/last active day, active days, visits, "
    "furthest funnel step, orders) or the range's orders with their customer's activity; or an insight "
    "(insightInput): INSIGHT_EVENTS (UGD) its counted events, one row per event (per line-item product with an "
    "item.productId breakdown) with its breakdown values; INSIGHT_RESULTS its chart as a table, every series; "
    "REPORT a report configuration (reportInput), every row of it; "
    "COLLECTION a documented collection for a date range (collectionInput), as NDJSON or CSV."
)
class ExportKind(Enum):
    ORDERS = "orders"
    CUSTOMERS = "customers"
    AUDIT_LOG = "audit"
    ANALYTICS_CUSTOMERS = "analytics_customers"
    ANALYTICS_ORDERS = "analytics_orders"
    INSIGHT_EVENTS = "insight_events"
    INSIGHT_RESULTS = "insight_results"
    REPORT = "report"
    COLLECTION = "collection"


ANALYTICS_KINDS = frozenset({ExportKind.ANALYTICS_CUSTOMERS, ExportKind.ANALYTICS_ORDERS})
INSIGHT_KINDS = frozenset({ExportKind.INSIGHT_EVENTS, ExportKind.INSIGHT_RESULTS})
_FILTER_OF = {
    ExportKind.ORDERS: "orderFilter",
    ExportKind.CUSTOMERS: "customerFilter",
    ExportKind.ANALYTICS_CUSTOMERS: "analyticsFilter",
    ExportKind.ANALYTICS_ORDERS: "analyticsFilter",
    ExportKind.INSIGHT_EVENTS: "insightInput",
    ExportKind.INSIGHT_RESULTS: "insightInput",
    ExportKind.REPORT: "reportInput",
    ExportKind.COLLECTION: "collectionInput",
}


@strawberry.enum
class ExportFormat(Enum):
    CSV = "csv"
    XLSX = "xlsx"
    PDF = "pdf"  # reports only (REPORT): A4 landscape, at most REPORT_PDF_MAX_ROWS rows
    NDJSON = "ndjson"  # collections only (COLLECTION): one JSON document a line


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
        analytics_filter: AnalyticsFilterInput | None = None,
        insight_input: InsightInput | None = None,
        report_input: ReportInput | None = None,
        collection_input: CollectionInput | None = None,
    ) -> ExportPayload:
        ctx = info.context
        if kind is ExportKind.AUDIT_LOG:
            require_admin(info)
        given = {
            "orderFilter": order_filter,
            "customerFilter": customer_filter,
            "analyticsFilter": analytics_filter,
            "insightInput": insight_input,
            "reportInput": report_input,
            "collectionInput": collection_input,
        }
        right = _FILTER_OF.get(kind)
        wrong = next((name for name, value in given.items() if value is not None and name != right), None)
        if wrong is not None:
            # A filter of another kind would otherwise be ignored and export every row: refuse it.
            message = f"an export of {kind.name} takes no {wrong}" + (f"; use {right}" if right else "")
            return ExportPayload(
                url=None,
                expires_at=None,
                errors=[UserError(field=wrong, code=ErrorCode.INVALID_INPUT, message=message)],
            )
        if format is ExportFormat.PDF and kind is not ExportKind.REPORT:
            return ExportPayload(
                url=None,
                expires_at=None,
                errors=[UserError(field="format", code=ErrorCode.INVALID_INPUT, message="only reports export as PDF")],
            )
        wrong_format = (
            "collections export as NDJSON or CSV"
            if kind is ExportKind.COLLECTION and format not in (ExportFormat.NDJSON, ExportFormat.CSV)
            else "only collections export as NDJSON"
            if format is ExportFormat.NDJSON and kind is not ExportKind.COLLECTION
            else None
        )
        if wrong_format:
            message = wrong_format
            return ExportPayload(
                url=None,
                expires_at=None,
                errors=[UserError(field="format", code=ErrorCode.INVALID_INPUT, message=message)],
            )
        if kind is ExportKind.COLLECTION:
            if collection_input is None:
                message = "an export of COLLECTION needs collectionInput (the collection and its range)"
                return ExportPayload(
                    url=None,
                    expires_at=None,
                    errors=[UserError(field="collectionInput", code=ErrorCode.INVALID_INPUT, message=message)],
                )
            filter_json = collection_input.to_json()
        elif kind in ANALYTICS_KINDS:
            if analytics_filter is None:
                message = f"an export of {kind.name} needs analyticsFilter (its range at least)"
                return ExportPayload(
                    url=None,
                    expires_at=None,
                    errors=[UserError(field="analyticsFilter", code=ErrorCode.INVALID_INPUT, message=message)],
                )
            filter_json = await analytics_filter.to_json(info)
        elif kind in INSIGHT_KINDS:
            if insight_input is None:
                message = f"an export of {kind.name} needs insightInput (the insight as the builder takes it)"
                return ExportPayload(
                    url=None,
                    expires_at=None,
                    errors=[UserError(field="insightInput", code=ErrorCode.INVALID_INPUT, message=message)],
                )
            filter_json = insight_input.to_json()
        elif kind is ExportKind.REPORT:
            if report_input is None:
                message = "an export of REPORT needs reportInput (the configuration reportPreview takes)"
                return ExportPayload(
                    url=None,
                    expires_at=None,
                    errors=[UserError(field="reportInput", code=ErrorCode.INVALID_INPUT, message=message)],
                )
            filter_json = report_input.to_json()
        elif kind is ExportKind.ORDERS:
            filter_json = order_filter.to_json() if order_filter else {}
        elif kind is ExportKind.CUSTOMERS:
            filter_json = customer_filter.to_json() if customer_filter else {}
        else:
            filter_json = {}
        try:
            # Validated now, not when the download starts; a preset becomes its dates and the organisation's
            # time zone travels in the link, so the link exports the instants it was requested for.
            resolved = await ctx.call(
                "reports"
                if kind in (ExportKind.REPORT, ExportKind.COLLECTION)
                else "insights"
                if kind in ANALYTICS_KINDS | INSIGHT_KINDS
                else "orders",
                "POST",
                "/internal/collections/resolve" if kind is ExportKind.COLLECTION else "/internal/exports/resolve",
                json={"kind": kind.value, "filter": filter_json}
                | ({"format": format.value} if kind is ExportKind.REPORT else {}),
            )
        except ServiceError as exc:
            errors = user_errors(exc)
            for e in errors:
                if kind is ExportKind.COLLECTION and e.field:
                    e.field = f"collectionInput.{e.field}"
                elif e.field and e.field.startswith("filter.") and right:
                    e.field = f"{right}.{e.field[7:]}"
                elif e.field and e.field.startswith("input.") and kind in INSIGHT_KINDS:
                    e.field = f"insightInput.{e.field[6:]}"
                elif e.field and e.field.startswith("input.") and kind is ExportKind.REPORT:
                    e.field = f"reportInput.{e.field[6:]}"
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
