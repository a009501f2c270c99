"""Streaming exports of orders and customers, CSV and XLSX, in constant memory (queries: repository/exports.py).

Exports stay off the interactive path:

- they read through the service's export pool (EXPORT_DB_POOL_MAX connections, `ServiceState.export_pool`),
  never the pool the lists and summaries use;
- they read in keyset batches (EXPORT_BATCH_ROWS rows), each in its own short transaction that ends
  before the batch is formatted or sent, so a slow client or a slow XLSX writer holds no connection,
  no snapshot and no transaction (the pool's `idle_in_transaction_session_timeout` ends any that
  would linger);
- an organisation runs at most EXPORT_ORG_CONCURRENCY of them at once in this process; more are
  refused at once with 429 and Retry-After (`ExportSlots`).

CSV is PostgreSQL's own COPY output, one COPY per batch (the database formats, Python only forwards
bytes). XLSX is openpyxl's write-only workbook, written by the process's one writer thread (`_WRITER`:
however many workbooks are being written, the event loop keeps the interpreter often enough to serve
interactive requests), then streamed from a temporary file. The next batch is read while the one before is sent or
written, so batching costs little throughput. Both use the list's own WHERE clause and order, so an
export holds exactly the rows the list and the summary count.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.orders.repository import exports as export_queries
from services.orders.repository.exports import ExportQuery, Key
from shared.db import tenant_tx

T = TypeVar("T")

# Batches read ahead of the one being sent or written: memory stays at a few batches whatever the size.
READ_AHEAD = 1
# CSV is sent in pieces of about this size (fewer, larger writes through the gateway than COPY's own).
PIECE_BYTES = 256 * 1024
# What a refused export is told: exports take seconds to minutes, so an earlier retry would be refused too.
RETRY_AFTER_SECONDS = 15
# Workbooks are written by one thread per process, batch by batch in turn. Python runs one thread at a
# time (the GIL), so more writer threads would add no throughput; they would only take the interpreter
# from the event loop serving interactive requests more often (ten of them made a small query 50x slower).
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx-writer")
# While that thread writes, the event loop waits for the interpreter at most this long each time it needs
# it (Python's default, 5 ms, adds up over the dozen hand-overs of one request).
WRITER_SWITCH_INTERVAL = 0.001


async def _in_writer(fn: Callable[..., T], *args: Any) -> T:
    if sys.getswitchinterval() > WRITER_SWITCH_INTERVAL:
        sys.setswitchinterval(WRITER_SWITCH_INTERVAL)
    return await asyncio.get_running_loop().run_in_executor(_WRITER, fn, *args)


class ExportSlots:
    """Exports running per organisation in this process, at most `per_org` each.

    In memory, per process: the cap protects this process's export pool and CPU; with several
    replicas an organisation can run `per_org` exports on each.
    """

    def __init__(self, per_org: int) -> None:
        self.per_org = per_org
        self.running: dict[UUID, int] = {}

    def take(self, org_id: UUID) -> Callable[[], None] | None:
        """A slot for `org_id` and the function that gives it back (once, however often called), or None."""
        held = self.running.get(org_id, 0)
        if self.per_org > 0 and held >= self.per_org:
            return None
        self.running[org_id] = held + 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if given_back:
                return
            given_back = True
            left = self.running[org_id] - 1
            if left:
                self.running[org_id] = left
            else:
                del self.running[org_id]

        return give_back


class ExportResponse(StreamingResponse):
    """A streamed export that gives its organisation's slot back and stops reading when it ends, however
    it ends: sent in full, failed, or cut short by a client that went away (then the body is closed at
    once, not when the garbage collector gets to it)."""

    def __init__(self, content: AsyncGenerator[bytes, None], release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._content, self._release = content, release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                await self._content.aclose()
            finally:
                self._release()

    def __del__(self) -> None:
        # Never sent at all (the request failed between the endpoint and the response): still give it back.
        self._release()


async def _read_ahead(source: AsyncGenerator[T, None], depth: int = READ_AHEAD) -> AsyncGenerator[T, None]:
    """`source`'s items, produced in a task up to `depth` items ahead of the consumer.

    The producer only ever waits for the consumer between batches, outside any transaction.
    Stopping early (the client went away) cancels the producer and closes `source`.
    """
    done = object()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=depth)

    async def produce() -> None:
        try:
            async for item in source:
                await queue.put(item)
        except Exception as exc:  # handed to the consumer, which raises it
            await queue.put(exc)
            return
        finally:
            await source.aclose()
        await queue.put(done)

    task = asyncio.create_task(produce())
    try:
        while True:
            item = await queue.get()
            if item is done:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # its failure was raised above, or nobody waits
            await task


async def _csv_batches(
    pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, size: int
) -> AsyncGenerator[list[bytes], None]:
    """Each batch's CSV, as pieces of about PIECE_BYTES (COPY hands over a few KB at a time)."""
    after: Key | None = None
    header = True
    pieces: list[bytes] = []
    pending = bytearray()

    async def collect(chunk: bytes) -> None:
        pending.extend(chunk)
        if len(pending) >= PIECE_BYTES:
            pieces.append(bytes(pending))
            pending.clear()

    while True:
        # One snapshot for the batch's end and its rows, so the two agree whatever is written meanwhile.
        async with tenant_tx(pool, org_id, snapshot=True) as conn:
            until = await export_queries.batch_end(conn, query, after, size)
            await export_queries.copy_csv_batch(conn, query, after, until, collect, header=header)
        # The transaction has ended: from here on the batch waits for the client holding nothing.
        if pending:
            pieces.append(bytes(pending))
            pending.clear()
        if pieces:
            batch = pieces[:]
            pieces.clear()
            yield batch
        if until is None:
            return
        after, header = until, False


async def stream_csv(
    pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, batch_rows: int
) -> AsyncGenerator[bytes, None]:
    """The export as CSV with a header, one COPY per batch of `batch_rows` rows."""
    async with contextlib.aclosing(_read_ahead(_csv_batches(pool, org_id, query, batch_rows))) as batches:
        async for batch in batches:
            for piece in batch:
                yield piece


async def _row_batches(
    pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, size: int
) -> AsyncGenerator[list[asyncpg.Record], None]:
    after: Key | None = None
    while True:
        async with tenant_tx(pool, org_id) as conn:
            rows, next_key = await export_queries.rows_batch(conn, query, after, size)
        if rows:
            yield rows
        if next_key is None:
            return
        after = next_key


def _xlsx_value(value: Any) -> Any:
    """A cell value openpyxl writes as data, never as a formula, and that XML can hold.

    The one place XLSX cells are made: characters XML 1.0 cannot hold (control characters stored before
    input refused them) become U+FFFD instead of breaking the workbook, and a text starting like a formula
    is prefixed with an apostrophe (the query already does so for every text column; this is the same
    rule at the writer, so a column added without it still cannot become a formula)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if value[:1] in FORMULA_STARTS:
            value = "'" + value
    return value


FORMULA_STARTS = frozenset("=+-@\t\r")


async def stream_xlsx(
    pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, sheet: str, batch_rows: int
) -> AsyncGenerator[bytes, None]:
    """The export as an XLSX workbook: written batch by batch in a thread, then streamed from a temporary file."""
    from openpyxl import Workbook

    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet)
        ws.append(query.header)
        width = len(query.header)  # each row ends with its key, which is not exported

        def write(rows: list[asyncpg.Record]) -> None:
            append = ws.append
            for row in rows:
                append([_xlsx_value(row[i]) for i in range(width)])

        async with contextlib.aclosing(_read_ahead(_row_batches(pool, org_id, query, batch_rows))) as batches:
            async for rows in batches:
                await _in_writer(write, rows)
        await _in_writer(wb.save, path)
        fh = await asyncio.to_thread(open, path, "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, 1 << 20):
                yield chunk
        finally:
            fh.close()
    finally:
        os.unlink(path)
