"""The SQL of exports: the list's own WHERE clause, the export columns, COPY and batched cursors.

An export holds exactly the rows the list pages through and the summary counts, because it
is built from the same `where_clause`. Text that came from outside is neutralised against
spreadsheet formulas (CSV injection) in the query itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.filters import CustomerFilter, OrderFilter
from services.orders.repository import customers as customers_repo
from services.orders.repository import orders as orders_repo


@dataclass(frozen=True)
class ExportQuery:
    sql: str
    args: list[Any]
    header: list[str]


def _safe(expr: str) -> str:
    """Neutralise spreadsheet formulas in text that came from outside (CSV injection)."""
    return f"CASE WHEN {expr} ~ '^[=+@\\t\\r-]' THEN '''' || {expr} ELSE {expr} END"


ORDER_COLUMNS = [
    ("order_id", "o.id"),
    ("external_ref", _safe("o.external_ref")),
    ("created_at", "to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    ("status", "o.status"),
    ("comm_status", "o.comm_status"),
    ("commission_amount", "o.commission_amount"),
    ("currency", "o.currency"),
    ("integration", _safe("i.name")),
    ("category", _safe("c.name")),
    ("product", _safe("p.name")),
    ("provider", _safe("pr.name")),
    ("customer_id", "cu.id"),
    ("customer_type", "cu.kind"),
    ("customer", _safe("cu.display_name")),
    ("customer_email", _safe("coalesce(cu.email, '')")),
]
CUSTOMER_COLUMNS = [
    ("customer_id", "c.id"),
    ("customer_type", "c.kind"),
    ("customer", _safe("c.display_name")),
    ("email", _safe("coalesce(c.email, '')")),
    ("channel", "coalesce(c.channel, '')"),
    ("first_seen", "to_char(c.first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    ("last_seen", "to_char(c.last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    ("integrations_visited", "(SELECT count(*) FROM customer_visits v WHERE v.customer_id = c.id)"),
    ("orders", "(SELECT count(*) FROM orders x WHERE x.customer_id = c.id)"),
]


def orders_query(org_id: UUID, f: OrderFilter, tz: str) -> ExportQuery:
    args: list[Any] = []
    where = orders_repo.where_clause(org_id, f, tz, args)
    select = ", ".join(f"{expr} AS {name}" for name, expr in ORDER_COLUMNS)
    sql = (
        f"SELECT {select} FROM orders o JOIN integrations i ON i.id = o.integration_id"
        f" JOIN categories c ON c.id = o.category_id JOIN products p ON p.id = o.product_id"
        f" JOIN providers pr ON pr.id = o.provider_id JOIN customers cu ON cu.id = o.customer_id"
        f" WHERE {where} ORDER BY o.created_at DESC, o.id DESC"
    )
    return ExportQuery(sql, args, [n for n, _ in ORDER_COLUMNS])


def customers_query(org_id: UUID, f: CustomerFilter, tz: str) -> ExportQuery:
    args: list[Any] = []
    where = customers_repo.where_clause(org_id, f, tz, args)
    select = ", ".join(f"{expr} AS {name}" for name, expr in CUSTOMER_COLUMNS)
    sql = f"SELECT {select} FROM customers c WHERE {where} ORDER BY c.last_seen DESC, c.id DESC"
    return ExportQuery(sql, args, [n for n, _ in CUSTOMER_COLUMNS])


async def copy_csv(conn: asyncpg.Connection, query: ExportQuery, output: Callable[[bytes], Awaitable[None]]) -> None:
    """COPY (query) TO STDOUT as CSV with a header, handing each chunk to `output` as it comes."""
    await conn.copy_from_query(query.sql, *query.args, output=output, format="csv", header=True)


async def batches(conn: asyncpg.Connection, query: ExportQuery, size: int) -> AsyncIterator[list[asyncpg.Record]]:
    """The query's rows in batches of `size`, through a server-side cursor (constant memory)."""
    cursor = await conn.cursor(query.sql, *query.args)
    while rows := await cursor.fetch(size):
        yield rows
