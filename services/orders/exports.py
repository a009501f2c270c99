"""Streaming exports of orders and customers, CSV and XLSX, in constant memory (queries: repository/exports.py).

CSV is PostgreSQL's own COPY output streamed straight through (the database formats,
Python only forwards bytes). XLSX is openpyxl's write-only workbook fed from a
server-side cursor in batches, written in a worker thread so the event loop stays free,
then streamed from a temporary file. Both use the list's own WHERE clause, so an export
holds exactly the rows the list and the summary count.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.repository.exports import ExportQuery, batches, copy_csv
from shared.db import tenant_tx

XLSX_BATCH = 5000
_QUEUE_DEPTH = 32


async def stream_csv(pool: asyncpg.Pool, org_id: UUID, query: ExportQuery) -> AsyncIterator[bytes]:
    """COPY (query) TO STDOUT as CSV, forwarded chunk by chunk with back-pressure."""
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=_QUEUE_DEPTH)

    async def produce() -> None:
        try:
            async with tenant_tx(pool, org_id) as conn:
                await copy_csv(conn, query, lambda chunk: queue.put(bytes(chunk)))
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
            with contextlib.suppress(asyncio.CancelledError, Exception):  # the client went away: nothing to report
                await task


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


async def stream_xlsx(pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, sheet: str) -> AsyncIterator[bytes]:
    from openpyxl import Workbook

    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet)
        ws.append(query.header)

        def write(rows: list[asyncpg.Record]) -> None:
            append = ws.append
            for row in rows:
                append([_xlsx_value(v) for v in row])

        async with tenant_tx(pool, org_id) as conn:
            async for rows in batches(conn, query, XLSX_BATCH):
                await asyncio.to_thread(write, rows)
        await asyncio.to_thread(wb.save, path)
        fh = await asyncio.to_thread(open, path, "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, 1 << 20):
                yield chunk
        finally:
            fh.close()
    finally:
        os.unlink(path)
