"""Streaming exports, CSV and XLSX, in constant memory: the one implementation every service's exports use
(the orders service's orders, customers and audit log; the insights service's analytics). Queries:
`shared.export_queries` (the SELECT list, where every text column is neutralised, and the keyset batches).

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
bytes). XLSX is a minimal SpreadsheetML package written row by row by the process's one writer thread
(`_WRITER`: however many workbooks are being written, the event loop keeps the interpreter often enough to
serve interactive requests) and streamed as a ZIP while it is written (stream-zip): the download starts
before the first batch is read, and each batch's compressed rows leave once written. The next batch is
read while the one before is sent or written, so batching costs little throughput. Both use the list's own
WHERE clause and order, so an export holds exactly the rows the list and the summary count.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import zlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import stream_zip
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from shared import export_queries
from shared.db import tenant_tx
from shared.export_queries import ExportQuery, Key

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


CopyBatch = Callable[..., Awaitable[None]]
"""`export_queries.copy_csv_batch`'s signature: (conn, query, after, until, output, *, header)."""


async def _csv_batches(
    pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, size: int, copy: CopyBatch | None = None
) -> AsyncGenerator[list[bytes], None]:
    """Each batch's CSV, as pieces of about PIECE_BYTES (COPY hands over a few KB at a time)."""
    copy = copy or export_queries.copy_csv_batch
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
            await copy(conn, query, after, until, collect, header=header)
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
    pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, batch_rows: int, copy: CopyBatch | None = None
) -> AsyncGenerator[bytes, None]:
    """The export as CSV with a header, one COPY per batch of `batch_rows` rows (`copy`: the kit's
    `copy_csv_batch` unless a service reads its batches its own way)."""
    async with contextlib.aclosing(_read_ahead(_csv_batches(pool, org_id, query, batch_rows, copy))) as batches:
        async for batch in batches:
            for piece in batch:
                yield piece


RowsBatch = Callable[
    [asyncpg.Connection, ExportQuery, Key | None, int], Awaitable[tuple[list[asyncpg.Record], Key | None]]
]


async def row_batches(
    pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, size: int, read: RowsBatch | None = None
) -> AsyncGenerator[list[asyncpg.Record], None]:
    """The export's rows, `size` at a time, each batch read in its own short tenant transaction (`read`:
    `export_queries.rows_batch` unless a service reads its batches its own way)."""
    read = read or export_queries.rows_batch
    after: Key | None = None
    while True:
        async with tenant_tx(pool, org_id) as conn:
            rows, next_key = await read(conn, query, after, size)
        if rows:
            yield rows
        if next_key is None:
            return
        after = next_key


def xlsx_value(value: Any) -> Any:
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


# Rows of the sheet's XML built at a time (about 1 MB of text), however large the batch.
XLSX_PIECE_ROWS = 1000
# zlib's default level, as openpyxl's workbooks had; 9 (stream-zip's default) costs the writer twice the time.
XLSX_DEFLATE_LEVEL = 6
# stream-zip's command "hand over what you have": it ends each part's local header, so those go out at once.
# Its compressor returns it at the end of each batch, so a batch's compressed bytes leave when the batch is
# written (test_xlsx_streaming.py fails if an upgrade removes it).
_HAND_OVER: bytes = stream_zip._flush

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES = (
    _XML_DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
).encode()
_ROOT_RELS = (
    _XML_DECL + f'<Relationships xmlns="{_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_DOC_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
).encode()
_WORKBOOK_RELS = (
    _XML_DECL + f'<Relationships xmlns="{_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_DOC_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_DOC_REL}/styles" Target="styles.xml"/></Relationships>'
).encode()
# Style 1 is the one of dates and times (cells `s="1"`), as openpyxl wrote them.
_STYLES = (
    _XML_DECL + f'<styleSheet xmlns="{_MAIN_NS}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
).encode()
_SHEET_HEAD = (_XML_DECL + f'<worksheet xmlns="{_MAIN_NS}"><sheetData>').encode()
_SHEET_TAIL = b"</sheetData></worksheet>"
_EXCEL_EPOCH = datetime(1899, 12, 30)


def _workbook_xml(sheet: str) -> bytes:
    name = _xml_text(sheet).replace('"', "&quot;")
    return (
        _XML_DECL + f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_DOC_REL}">'
        f'<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ).encode()


def _xml_text(text: str) -> str:
    """`text` as XML character data; a carriage return as a reference, which parsers keep (openpyxl's way)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _column_letters(n: int) -> str:
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _rows_xml(rows: list[Any], first: int, width: int, columns: list[str]) -> bytes:
    """Rows `first`, `first + 1`, ... of the sheet as SpreadsheetML, every value made by `xlsx_value`.

    Cells as openpyxl's write-only workbooks wrote them: text inline (`t="inlineStr"`; an empty text an empty
    cell, None no cell), numbers as they are, dates and times as Excel serial numbers in the date style."""
    out: list[str] = []
    append = out.append
    for n, row in enumerate(rows, first):
        r = str(n)
        append(f'<row r="{r}">')
        for i in range(width):
            v = xlsx_value(row[i])
            if v is None:
                continue
            ref = columns[i] + r
            if isinstance(v, str):
                if not v:
                    append(f'<c r="{ref}" t="inlineStr"></c>')
                    continue
                space = ' xml:space="preserve"' if v[0].isspace() or v[-1].isspace() else ""
                append(f'<c r="{ref}" t="inlineStr"><is><t{space}>{_xml_text(v)}</t></is></c>')
            elif isinstance(v, bool):
                append(f'<c r="{ref}" t="b"><v>{int(v)}</v></c>')
            elif isinstance(v, int | float | Decimal):
                append(f'<c r="{ref}" t="n"><v>{v}</v></c>')
            elif isinstance(v, datetime | date):
                at = v if isinstance(v, datetime) else datetime(v.year, v.month, v.day)
                serial = (at.replace(tzinfo=None) - _EXCEL_EPOCH) / timedelta(days=1)
                append(f'<c r="{ref}" t="n" s="1"><v>{serial!r}</v></c>')
            else:
                append(f'<c r="{ref}" t="inlineStr"><is><t>{_xml_text(str(v))}</t></is></c>')
        append("</row>")
    return "".join(out).encode()


class _BatchDeflate:
    """Deflate that hands over each batch: the sheet marks a batch's end with two empty chunks; the first
    flushes what deflate holds (Z_SYNC_FLUSH, always a few bytes, so what stream-zip hands over is never
    empty, which would end its stream), the second tells stream-zip to hand it all over."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(level=XLSX_DEFLATE_LEVEL, wbits=-zlib.MAX_WBITS)
        self._synced = False

    def compress(self, data: bytes) -> bytes:
        if data:
            self._synced = False
            return self._deflate.compress(data)
        if not self._synced:
            self._synced = True
            return self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return _HAND_OVER

    def flush(self, mode: int = zlib.Z_FINISH) -> bytes:
        return self._deflate.flush(mode)


class _XlsxWriter:
    """One streamed workbook: the package's parts as a ZIP (stream-zip: data descriptors, no seeking), the
    sheet written batch by batch. Used only in the writer thread; `advance` returns the ZIP's bytes up to
    the end of what it was given, then waits for the next batch without holding any of the sheet."""

    def __init__(self, sheet: str, header: list[str]) -> None:
        self.width = len(header)  # each row ends with its key, which is not exported
        self.columns = [_column_letters(i + 1) for i in range(self.width)]
        self.header = header
        self.batches: deque[list[Any]] = deque()
        self.done = False
        self.waiting = False
        at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        mode = 0o100644
        small = stream_zip.ZIP_32
        parts: list[tuple[str, bytes]] = [
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _ROOT_RELS),
            ("xl/workbook.xml", _workbook_xml(sheet)),
            ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            ("xl/styles.xml", _STYLES),
        ]
        members: list[stream_zip.MemberFile] = [(name, at, mode, small, (data,)) for name, data in parts]
        members.append(("xl/worksheets/sheet1.xml", at, mode, stream_zip.ZIP_64, self._sheet()))
        # Chunks of any size: stream-zip hands over only at its commands (each part's header, each batch's end).
        self.zip = iter(stream_zip.stream_zip(members, chunk_size=1 << 62, get_compressobj=_BatchDeflate))  # type: ignore[arg-type]

    def _sheet(self) -> Iterator[bytes]:
        yield _SHEET_HEAD
        yield _rows_xml([self.header], 1, self.width, self.columns)
        n = 2
        while True:
            while self.batches:
                rows = self.batches.popleft()
                for start in range(0, len(rows), XLSX_PIECE_ROWS):
                    piece = rows[start : start + XLSX_PIECE_ROWS]
                    yield _rows_xml(piece, n, self.width, self.columns)
                    n += len(piece)
                del rows
            if self.done:
                break
            yield b""  # flush deflate
            self.waiting = True
            yield b""  # hand over: `advance` returns
        yield _SHEET_TAIL

    def advance(self, rows: list[Any] | None = None, last: bool = False) -> list[bytes]:
        """The ZIP's next bytes: up to the end of `rows` (and of the whole file when `last`)."""
        if rows:
            self.batches.append(rows)
        self.done = last
        self.waiting = False
        out: list[bytes] = []
        for chunk in self.zip:
            if chunk:
                out.append(chunk)
            if self.waiting:
                break
        return out


async def xlsx_of_batches(
    batches: AsyncIterator[list[Any]], sheet: str, header: list[str]
) -> AsyncGenerator[bytes, None]:
    """A workbook of `batches`' rows, written by the writer thread as they come (a caller reading its rows its
    own way: the reports service's runs read one server-side cursor)."""
    book = _XlsxWriter(sheet, header)
    for chunk in await _in_writer(book.advance):
        yield chunk
    async for rows in batches:
        for chunk in await _in_writer(book.advance, rows):
            yield chunk
    for chunk in await _in_writer(book.advance, None, True):
        yield chunk


async def stream_xlsx(
    pool: asyncpg.Pool,
    org_id: UUID,
    query: ExportQuery,
    sheet: str,
    batch_rows: int,
    read: RowsBatch | None = None,
) -> AsyncGenerator[bytes, None]:
    """The export as an XLSX workbook, streamed as it is written: the ZIP's first parts leave before the
    first batch is read, then each batch's compressed rows as soon as the writer thread has written them."""
    book = _XlsxWriter(sheet, query.header)
    for chunk in await _in_writer(book.advance):
        yield chunk
    async with contextlib.aclosing(_read_ahead(row_batches(pool, org_id, query, batch_rows, read))) as batches:
        async for rows in batches:
            for chunk in await _in_writer(book.advance, rows):
                yield chunk
    for chunk in await _in_writer(book.advance, None, True):
        yield chunk
