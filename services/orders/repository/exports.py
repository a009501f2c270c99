"""The SQL of the orders service's exports: the list's own WHERE clause and the export columns.

An export holds exactly the rows the list pages through and the summary counts, because it
is built from the same `where_clause`. Text that came from outside is neutralised against
spreadsheet formulas (CSV injection) by the kit's `select_list` (shared/export_queries.py, which also reads
the keyset batches: the list's own order, each batch in its own short transaction; a customer seen
again meanwhile moves up past the batches already read, and together the batches hold each row once).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.orders.domain.filters import AuditFilter, CustomerFilter, OrderFilter
from services.orders.repository import customers as customers_repo
from services.orders.repository import orders as orders_repo
from shared.export_queries import Column, ExportQuery, Key, batch_end, copy_csv_batch, rows_batch, select_list
from shared.service.pagination import Params

__all__ = [
    "AUDIT_COLUMNS",
    "CUSTOMER_COLUMNS",
    "ORDER_COLUMNS",
    "ExportQuery",
    "Key",
    "audit_query",
    "batch_end",
    "copy_csv_batch",
    "customers_query",
    "orders_query",
    "rows_batch",
]


ORDER_COLUMNS = [
    Column("order_id", "o.id"),
    Column("external_ref", "o.external_ref", text=True),
    Column("created_at", "to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    Column("status", "o.status"),
    Column("comm_status", "o.comm_status"),
    Column("commission_amount", "o.commission_amount"),
    Column("currency", "o.currency"),
    Column("integration", "i.name", text=True),
    Column("category", "c.name", text=True),
    Column("product", "p.name", text=True),
    Column("provider", "pr.name", text=True),
    Column("customer_id", "cu.id"),
    Column("customer_type", "cu.kind"),
    Column("customer", "cu.display_name", text=True),
    Column("customer_email", "coalesce(cu.email, '')", text=True),
    Column("kind", "o.kind"),
    Column("journey_type", "p.journey_type"),
    Column("failure_reason", "coalesce(o.failure_reason, '')", text=True),
]
CUSTOMER_COLUMNS = [
    Column("customer_id", "c.id"),
    Column("customer_type", "c.kind"),
    Column("customer", "c.display_name", text=True),
    Column("email", "coalesce(c.email, '')", text=True),
    Column("channel", "coalesce(c.channel, '')", text=True),
    Column("first_seen", "to_char(c.first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    Column("last_seen", "to_char(c.last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    Column("integrations_visited", "(SELECT count(*) FROM customer_visits v WHERE v.customer_id = c.id)"),
    Column("orders", "(SELECT count(*) FROM orders x WHERE x.customer_id = c.id)"),
]


def orders_query(org_id: UUID, f: OrderFilter, tz: str) -> ExportQuery:
    args: list[Any] = []
    where = orders_repo.where_clause(org_id, f, tz, args)
    select = select_list(ORDER_COLUMNS)
    source = (
        "orders o JOIN integrations i ON i.id = o.integration_id"
        " JOIN categories c ON c.id = o.category_id JOIN products p ON p.id = o.product_id"
        " JOIN providers pr ON pr.id = o.provider_id JOIN customers cu ON cu.id = o.customer_id"
    )
    return ExportQuery(
        columns=select,
        source=source,
        keys="orders o",
        where=where,
        args=args,
        header=[c.name for c in ORDER_COLUMNS],
        ts="o.created_at",
        id="o.id",
    )


def customers_query(org_id: UUID, f: CustomerFilter, tz: str) -> ExportQuery:
    args: list[Any] = []
    where = customers_repo.where_clause(org_id, f, tz, args)
    select = select_list(CUSTOMER_COLUMNS)
    return ExportQuery(
        columns=select,
        source="customers c",
        keys="customers c",
        where=where,
        args=args,
        header=[c.name for c in CUSTOMER_COLUMNS],
        ts="c.last_seen",
        id="c.id",
    )


AUDIT_COLUMNS = [
    Column("entry_id", "a.id"),
    Column("at", "to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    Column("actor", "a.actor", text=True),
    Column("request_id", "coalesce(a.request_id, '')", text=True),
    Column("action", "a.action"),
    Column("target", "coalesce(a.target, '')", text=True),
    Column("change", "a.change::text", text=True),
]


def audit_query(org_id: UUID, f: AuditFilter) -> ExportQuery:
    """The audit log, newest first, optionally only some actions (what `auditLog` pages through)."""
    p = Params()
    where = f"a.org_id = {p(org_id)}"
    if f.actions:
        where += f" AND a.action = ANY({p(list(f.actions))}::text[])"
    return ExportQuery(
        columns=select_list(AUDIT_COLUMNS),
        source="audit_log a",
        keys="audit_log a",
        where=where,
        args=p.values,
        header=[c.name for c in AUDIT_COLUMNS],
        ts="a.at",
        id="a.id",
    )
