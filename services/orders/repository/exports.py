"""The SQL of exports: the list's own WHERE clause, the export columns, and keyset batches.

An export holds exactly the rows the list pages through and the summary counts, because it
is built from the same `where_clause`. Text that came from outside is neutralised against
spreadsheet formulas (CSV injection) in the query itself.

Exports are read in batches in the list's own order, `(ts DESC, id DESC)`: each batch is the next
`size` rows after the last key of the one before, read in its own short transaction, so no
transaction stays open while a file is formatted or a client reads slowly. Like the list's pages,
a long export reads the rows as they are when each batch is read (a customer seen again meanwhile
moves up past the batches already read); together the batches hold each row once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.filters import AuditFilter, CustomerFilter, OrderFilter
from services.orders.repository import customers as customers_repo
from services.orders.repository import orders as orders_repo
from shared.service.pagination import Params

Key = tuple[datetime, UUID]
"""Where a batch ends: the (timestamp, id) of its last row in the export's order."""


@dataclass(frozen=True)
class ExportQuery:
    """The export of one list: its columns over `source`, the list's WHERE, ordered by (`ts`, `id`) descending.

    `keys` is the list's own table alone: the rows of `source` are exactly its rows (every join is
    on a NOT NULL foreign key of the same organisation), so batch boundaries are found on it
    without the joins.
    """

    columns: str
    source: str
    keys: str
    where: str
    args: list[Any]
    header: list[str]
    ts: str
    id: str

    @property
    def sql(self) -> str:
        """The whole export as one statement (the benchmark's floor; exports themselves read batches)."""
        return f"SELECT {self.columns} FROM {self.source} WHERE {self.where} ORDER BY {self.ts} DESC, {self.id} DESC"

    def _batch_where(self, after: Key | None, until: Key | None) -> tuple[str, list[Any]]:
        """The WHERE of the rows after `after` (exclusive) down to `until` (inclusive), with its arguments."""
        p = Params(list(self.args))
        where = self.where
        if after is not None:
            where += f" AND ({self.ts}, {self.id}) < ({p(after[0])}, {p(after[1])})"
        if until is not None:
            where += f" AND ({self.ts}, {self.id}) >= ({p(until[0])}, {p(until[1])})"
        return where, p.values


def _safe(expr: str) -> str:
    """Neutralise spreadsheet formulas in text that came from outside (CSV injection)."""
    return f"CASE WHEN {expr} ~ '^[=+@\\t\\r-]' THEN '''' || {expr} ELSE {expr} END"


@dataclass(frozen=True)
class Column:
    """One export column. Every `text` column (anything a person or an integration typed) is neutralised
    against spreadsheet formulas by `_select`, the one place the export's SELECT list is made, so that no
    column can be forgotten; identifiers, numbers, times and our own enum values are not text."""

    name: str
    expr: str
    text: bool = False


def _select(columns: list[Column]) -> str:
    return ", ".join(f"{_safe(c.expr) if c.text else c.expr} AS {c.name}" for c in columns)


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
    select = _select(ORDER_COLUMNS)
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
    select = _select(CUSTOMER_COLUMNS)
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
        columns=_select(AUDIT_COLUMNS),
        source="audit_log a",
        keys="audit_log a",
        where=where,
        args=p.values,
        header=[c.name for c in AUDIT_COLUMNS],
        ts="a.at",
        id="a.id",
    )


async def batch_end(conn: asyncpg.Connection, query: ExportQuery, after: Key | None, size: int) -> Key | None:
    """The key of the `size`-th row after `after`, or None when fewer rows are left (the last batch)."""
    where, args = query._batch_where(after, None)
    row = await conn.fetchrow(
        f"SELECT {query.ts}, {query.id} FROM {query.keys} WHERE {where}"
        f" ORDER BY {query.ts} DESC, {query.id} DESC OFFSET {int(size) - 1} LIMIT 1",
        *args,
    )
    return (row[0], row[1]) if row is not None else None


async def copy_csv_batch(
    conn: asyncpg.Connection,
    query: ExportQuery,
    after: Key | None,
    until: Key | None,
    output: Callable[[bytes], Awaitable[None]],
    *,
    header: bool,
) -> None:
    """COPY the rows after `after` down to `until` (every row left if None) as CSV, PostgreSQL formatting.

    Run it in the snapshot `until` was read in (`tenant_tx(..., snapshot=True)`): the range then holds
    exactly the rows `batch_end` counted, whatever is written meanwhile.
    """
    where, args = query._batch_where(after, until)
    sql = f"SELECT {query.columns} FROM {query.source} WHERE {where} ORDER BY {query.ts} DESC, {query.id} DESC"
    await conn.copy_from_query(sql, *args, output=output, format="csv", header=header)


async def rows_batch(
    conn: asyncpg.Connection, query: ExportQuery, after: Key | None, size: int
) -> tuple[list[asyncpg.Record], Key | None]:
    """The next `size` rows after `after` (each holding the export's columns, then its key), and the
    key to read on from (None after the last batch)."""
    where, args = query._batch_where(after, None)
    rows = await conn.fetch(
        f"SELECT {query.columns}, {query.ts}, {query.id} FROM {query.source} WHERE {where}"
        f" ORDER BY {query.ts} DESC, {query.id} DESC LIMIT {int(size)}",
        *args,
    )
    if len(rows) < size:
        return rows, None
    last = rows[-1]
    return rows, (last[-2], last[-1])
