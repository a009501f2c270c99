"""Streaming exports of orders and customers, CSV and XLSX, in constant memory.

CSV is PostgreSQL's own COPY output streamed straight through (the database formats,
Python only forwards bytes). XLSX is openpyxl's write-only workbook fed from a
server-side cursor in batches, written in a worker thread so the event loop stays free,
then streamed from a temporary file. Both use the list's own WHERE clause, so an export
holds exactly the rows the list and the summary count.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.filters import CustomerFilter, OrderFilter
from services.orders.repository import customers as customers_repo
from services.orders.repository import orders as orders_repo
from shared.db import tenant_tx

XLSX_BATCH = 5000
_QUEUE_DEPTH = 32


def _safe(expr: str) -> str:
    """Neutralise spreadsheet formulas in text that came from outside (CSV injection)."""
    return f"CASE WHEN {expr} ~ '^[=+@\\t\\r-]' THEN '''' || {expr} ELSE {expr} END"


ORDER_COLUMNS = [
    ("order_id", "o.id"), ("external_ref", _safe("o.external_ref")),
    ("created_at", "to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    ("status", "o.status"), ("comm_status", "o.comm_status"), ("commission_amount", "o.commission_amount"),
    ("currency", "o.currency"), ("integration", _safe("i.name")), ("category", _safe("c.name")),
    ("product", _safe("p.name")), ("provider", _safe("pr.name")), ("customer_id", "cu.id"),
    ("customer_type", "cu.kind"), ("customer", _safe("cu.display_name")), ("customer_email", _safe("coalesce(cu.email, '')")),
]
CUSTOMER_COLUMNS = [
    ("customer_id", "c.id"), ("customer_type", "c.kind"), ("customer", _safe("c.display_name")),
    ("email", _safe("coalesce(c.email, '')")), ("channel", "coalesce(c.channel, '')"),
    ("first_seen", "to_char(c.first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    ("last_seen", "to_char(c.last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    ("integrations_visited", "(SELECT count(*) FROM customer_visits v WHERE v.customer_id = c.id)"),
    ("orders", "(SELECT count(*) FROM orders x WHERE x.customer_id = c.id)"),
]


def orders_query(org_id: UUID, f: OrderFilter, tz: str) -> tuple[str, list[Any], list[str]]:
    args: list[Any] = []
    where = orders_repo.where_clause(org_id, f, tz, args)
    select = ", ".join(f"{expr} AS {name}" for name, expr in ORDER_COLUMNS)
    sql = (f"SELECT {select} FROM orders o JOIN integrations i ON i.id = o.integration_id"
           f" JOIN categories c ON c.id = o.category_id JOIN products p ON p.id = o.product_id"
           f" JOIN providers pr ON pr.id = o.provider_id JOIN customers cu ON cu.id = o.customer_id"
           f" WHERE {where} ORDER BY o.created_at DESC, o.id DESC")
    return sql, args, [n for n, _ in ORDER_COLUMNS]


def customers_query(org_id: UUID, f: CustomerFilter, tz: str) -> tuple[str, list[Any], list[str]]:
    args: list[Any] = []
    where = customers_repo.where_clause(org_id, f, tz, args)
    select = ", ".join(f"{expr} AS {name}" for name, expr in CUSTOMER_COLUMNS)
    sql = f"SELECT {select} FROM customers c WHERE {where} ORDER BY c.last_seen DESC, c.id DESC"
    return sql, args, [n for n, _ in CUSTOMER_COLUMNS]



async def stream_csv(pool: asyncpg.Pool, org_id: UUID, sql: str, args: list[Any]) -> AsyncIterator[bytes]:
    """COPY (query) TO STDOUT as CSV, forwarded chunk by chunk with back-pressure."""
    queue: asyncio.Queue[bytes | None | BaseException] = asyncio.Queue(maxsize=_QUEUE_DEPTH)

    async def produce() -> None:
        try:
            async with tenant_tx(pool, org_id) as conn:
                await conn.copy_from_query(sql, *args, output=lambda chunk: queue.put(bytes(chunk)), format="csv",
                                           header=True)
            await queue.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises
            await queue.put(exc)

    task = asyncio.create_task(produce())
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


async def stream_xlsx(pool: asyncpg.Pool, org_id: UUID, sql: str, args: list[Any], header: list[str],
                      sheet: str) -> AsyncIterator[bytes]:
    from openpyxl import Workbook

    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet)
        ws.append(header)

        def write(rows: list[asyncpg.Record]) -> None:
            append = ws.append
            for row in rows:
                append([_xlsx_value(v) for v in row])

        async with tenant_tx(pool, org_id) as conn:
            cursor = await conn.cursor(sql, *args)
            while True:
                rows = await cursor.fetch(XLSX_BATCH)
                if not rows:
                    break
                await asyncio.to_thread(write, rows)
        await asyncio.to_thread(wb.save, path)
        with open(path, "rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, 1 << 20):
                yield chunk
    finally:
        os.unlink(path)
