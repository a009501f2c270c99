"""Reports as PDF: A4 landscape, the organisation's name and colour, the report's title, filters and run time, then
the table, its header row repeated on every page, grouped subtotal rows shaded, and "Page N of M" on each page.

Written page by page, in constant memory. reportlab's canvas (and platypus above it) keeps every page's content
stream, uncompressed, until `save()`, then assembles the whole file in memory once more: 50,000 rows (1,392
pages) peaked at 212 MB. Here each page's content stream is built from its rows, compressed and written to the
output at once, followed by its page dictionary; only the pages' object numbers and file offsets stay in memory
(a few bytes per page). The document's fixed objects (catalogue, page tree, fonts, shared resources, the page-count
form) have numbers reserved up front and are written at the end, with the cross-reference table. "of M" is
one form XObject every page draws and that is written last, when M is known: no second pass.

reportlab still supplies what a PDF library is for: the standard fonts' metrics (their width tables, for cutting and
right-aligning cells), the page size and the colour parsing. The file uses the PDF standard fonts Helvetica and
Helvetica-Bold in WinAnsiEncoding (no embedding, as reportlab does for them); a character outside that encoding
prints as "?" (CSV and XLSX carry it).

Rows have one line each: a cell too wide for its column is cut with an ellipsis (CSV and XLSX carry every
character); columns share the width by their kind, text wider than numbers. The rows come through one server-side
cursor, ROWS_PER_FETCH at a time (`write`), so at most one fetch is held; PDF keeps its row cap
(`REPORT_PDF_MAX_ROWS`, default 100,000: about 2,300 pages) because nobody reads more in a PDF, not for memory.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from bisect import bisect_right
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import accumulate
from typing import IO, Any
from uuid import UUID

import asyncpg
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import getFont

from services.reports.domain.query import ReportQuery
from services.reports.repository import organisation as organisation_store
from services.reports.repository import reports as store
from shared.config import Settings
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode

DEFAULT_MAX_ROWS = 100_000
# An organisation without a primary colour (or whose settings event predates it, migration 013): the orders
# service's default primary colour.
DEFAULT_COLOUR = "#1E5EFF"
PAGE = landscape(A4)
MARGIN = 12 * mm
FONT, BOLD = "Helvetica", "Helvetica-Bold"
SIZE = 7.5
ROW_HEIGHT = 11.0
CHUNK = 64 * 1024
ROWS_PER_FETCH = 2000  # rows read from the cursor at a time (about 45 pages)
_WEIGHT = {"text": 2.2, "id": 2.6, "datetime": 1.6, "date": 1.1, "money": 1.2, "number": 1.0, "boolean": 0.8}


def max_rows() -> int:
    """REPORT_PDF_MAX_ROWS, read when asked (a setting of the reports service alone)."""
    return int(os.environ.get("REPORT_PDF_MAX_ROWS", DEFAULT_MAX_ROWS))


def check_rows(total: int) -> None:
    """Refuses a PDF of more rows than the cap, before any work, naming `format` and what to use instead."""
    cap = max_rows()
    if total > cap:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"a PDF holds at most {cap:,} rows and this report has {total:,}; choose CSV or XLSX for it",
            "format",
        )


@dataclass(frozen=True)
class Heading:
    """What the first page prints above the table."""

    organisation: str
    title: str
    filters: list[str]
    run_at: datetime
    colour: str = DEFAULT_COLOUR


def describe_filters(q: ReportQuery) -> list[str]:
    """The configuration in words, as the PDF prints it."""
    lines = [f"Dates: {q.first_day.isoformat()} to {q.last_day.isoformat()} ({q.time_zone})"]
    for label, values in (
        ("Categories", q.category_ids),
        ("Integrations", q.integration_ids),
        ("Statuses", q.statuses),
        ("Types", q.types),
    ):
        if values:
            lines.append(f"{label}: {', '.join(str(v) for v in values)}")
    if q.grouped:
        lines.append(f"Grouped by: {', '.join(s.column.label for s in q.grouping)} (interval {q.interval.value})")
    return lines


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value.tzinfo else value.isoformat()
    if isinstance(value, date | Decimal | int | float | UUID):
        return str(value)
    return str(value)


def _widths(font: str) -> list[float]:
    """The font's advance widths per WinAnsi byte, in points at SIZE (reportlab's metrics of the standard font)."""
    face = getFont(font)
    return [w * SIZE / 1000 for w in face.widths]


_WIDTHS = {FONT: _widths(FONT), BOLD: _widths(BOLD)}
_FITTED: dict[tuple[str, str, float], tuple[str, float]] = {}
_FITTED_MAX = 4_096  # short cells repeat (statuses, currencies, days): remembered, within bounds (about 1 MB)
_FITTED_LEN = 32


def _fit(text: str, width: float, font: str) -> tuple[str, float]:
    """`text` cut to `width` points with an ellipsis, and its width. The text is measured as it will print (its
    WinAnsi bytes, "?" for a character outside them), one table look-up per character."""
    key = (text, font, width)
    found = _FITTED.get(key)
    if found is not None:
        return found
    table = _WIDTHS[font]
    advances = list(map(table.__getitem__, text.encode("cp1252", errors="replace")))
    total = sum(advances)
    if total <= width:
        fitted = (text, total)
    else:
        room = width - table[0x85]  # the ellipsis
        ends = list(accumulate(advances))
        keep = bisect_right(ends, room)
        fitted = (text[:keep] + "…", (ends[keep - 1] if keep else 0.0) + table[0x85])
    if len(text) <= _FITTED_LEN:
        if len(_FITTED) >= _FITTED_MAX:
            _FITTED.clear()
        _FITTED[key] = fitted
    return fitted


# PDF literal strings: backslash and parentheses escaped, line breaks and tabs as spaces.
_ESCAPE = str.maketrans({"\\": "\\\\", "(": "\\(", ")": "\\)", "\r": " ", "\n": " ", "\t": " "})
_F = {FONT: "/F1", BOLD: "/F2"}


def _n(x: float) -> str:
    return f"{x:.2f}"


def _rgb(colour: colors.Color, fill: bool = True) -> str:
    return f"{colour.red:.3f} {colour.green:.3f} {colour.blue:.3f} {'rg' if fill else 'RG'}"


def _tint(colour: colors.Color, alpha: float) -> colors.Color:
    """`colour` laid over white at `alpha` (an opaque colour: no transparency group needed)."""
    return colors.Color(*(1 - alpha + alpha * c for c in (colour.red, colour.green, colour.blue)))


def _info_text(s: str) -> str:
    """A PDF text string for the document information (UTF-16BE with its byte order mark)."""
    return "<" + ("\ufeff" + s).encode("utf-16-be").hex().upper() + ">"


class PdfFile:
    """A PDF written object by object as pages arrive: page content streams and page dictionaries go out at once,
    the fixed objects (reserved numbers 1-7) and the cross-reference table at `close`."""

    CATALOG, PAGES, F1, F2, RESOURCES, PAGE_COUNT, INFO = range(1, 8)

    def __init__(self, out: IO[bytes], size: tuple[float, float]) -> None:
        self.out = out
        self.size = size
        self.at = 0  # bytes written: the offsets of the cross-reference table
        self.offsets: dict[int, int] = {}
        self.kids: list[int] = []
        self.next = 8
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        for num, base in ((self.F1, "Helvetica"), (self.F2, "Helvetica-Bold")):
            self._object(num, f"<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>")
        self._object(
            self.RESOURCES,
            f"<< /ProcSet [/PDF /Text] /Font << /F1 {self.F1} 0 R /F2 {self.F2} 0 R >> "
            f"/XObject << /PC {self.PAGE_COUNT} 0 R >> >>",
        )

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.at += len(data)

    def _object(self, num: int, body: str) -> None:
        self.offsets[num] = self.at
        self._write(f"{num} 0 obj\n{body}\nendobj\n".encode("latin-1"))

    def _stream(self, num: int, head: str, content: bytes) -> None:
        data = zlib.compress(content, 6)
        self.offsets[num] = self.at
        self._write(f"{num} 0 obj\n<< {head}/Length {len(data)} /Filter /FlateDecode >>\nstream\n".encode())
        self._write(data)
        self._write(b"\nendstream\nendobj\n")

    def page(self, content: bytes) -> None:
        """One page: its content stream (drawn with /F1, /F2 and the form /PC), then its dictionary."""
        stream, page = self.next, self.next + 1
        self.next += 2
        self._stream(stream, "", content)
        self._object(
            page,
            f"<< /Type /Page /Parent {self.PAGES} 0 R /MediaBox [0 0 {_n(self.size[0])} {_n(self.size[1])}] "
            f"/Resources {self.RESOURCES} 0 R /Contents {stream} 0 R >>",
        )
        self.kids.append(page)

    def close(self, page_count_form: bytes, title: str, author: str) -> None:
        """The page-count form (its content now known), the page tree, catalogue and information, the
        cross-reference table and trailer."""
        self._stream(
            self.PAGE_COUNT,
            f"/Type /XObject /Subtype /Form /BBox [0 0 {_n(self.size[0])} {_n(self.size[1])}] "
            f"/Resources << /Font << /F1 {self.F1} 0 R >> >> ",
            page_count_form,
        )
        kids = " ".join(f"{k} 0 R" for k in self.kids)
        self._object(self.PAGES, f"<< /Type /Pages /Kids [{kids}] /Count {len(self.kids)} >>")
        self._object(self.CATALOG, f"<< /Type /Catalog /Pages {self.PAGES} 0 R >>")
        created = datetime.now(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
        self._object(
            self.INFO,
            f"<< /Title {_info_text(title)} /Author {_info_text(author)} /Producer (partner platform reports) "
            f"/CreationDate ({created}) >>",
        )
        xref = self.at
        count = self.next
        lines = [f"xref\n0 {count}\n", "0000000000 65535 f \n"]
        lines += [f"{self.offsets[n]:010d} 00000 n \n" for n in range(1, count)]
        lines.append(
            f"trailer\n<< /Size {count} /Root {self.CATALOG} 0 R /Info {self.INFO} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        )
        self._write("".join(lines).encode("latin-1"))


class PdfTable:
    """The table's layout, the page being drawn (its content operators) and where the next row goes."""

    def __init__(self, out: IO[bytes], heading: Heading, columns: list[dict[str, Any]]) -> None:
        self.file = PdfFile(out, PAGE)
        self.heading = heading
        self.colour = colors.HexColor(heading.colour)
        self.fill = _rgb(self.colour)
        self.shades = {
            "subtotal": _rgb(_tint(self.colour, 0.18)),
            "total": _rgb(_tint(self.colour, 0.32)),
            "odd": _rgb(colors.HexColor("#F3F5F8")),
        }
        self.columns = [c for c in columns if c["key"] != store.ROW_KIND]
        self.kind_at = next((i for i, c in enumerate(columns) if c["key"] == store.ROW_KIND), None)
        usable = PAGE[0] - 2 * MARGIN
        weights = [_WEIGHT.get(c["type"], 1.5) for c in self.columns]
        self.widths = [usable * w / sum(weights) for w in weights]
        self.table_width = sum(self.widths)
        self.lefts = [MARGIN + sum(self.widths[:i]) for i in range(len(self.widths))]
        self.numeric = [c["type"] in ("number", "money") for c in self.columns]
        self.ops: list[str] = []
        self.page = 0
        self.y = 0.0
        self.rows = 0
        self._new_page()

    def _string(self, font: str, size: float, x: float, y: float, text: str) -> None:
        self.ops.append(f"BT {_F[font]} {size} Tf {_n(x)} {_n(y)} Td ({text.translate(_ESCAPE)}) Tj ET")

    def _rect(self, fill: str, y: float) -> None:
        self.ops.append(f"{fill} {_n(MARGIN)} {_n(y)} {_n(self.table_width)} {_n(ROW_HEIGHT)} re f")

    def _new_page(self) -> None:
        if self.page:
            self._end_page()
        self.page += 1
        top = PAGE[1] - MARGIN
        width = PAGE[0] - 2 * MARGIN
        if self.page == 1:
            h = self.heading
            self.ops.append(f"{self.fill} {_n(MARGIN)} {_n(top - 4)} {_n(width)} 4 re f 0 g")
            self._string(BOLD, 10, MARGIN, top - 18, h.organisation)
            self.ops.append(self.fill)
            self._string(BOLD, 16, MARGIN, top - 38, h.title)
            self.ops.append("0 g")
            y = top - 52
            for line in [*h.filters, f"Run at: {h.run_at.strftime('%Y-%m-%d %H:%M:%S UTC')}"]:
                self._string(FONT, 8.5, MARGIN, y, _fit(line, width, FONT)[0])
                y -= 11
            top = y - 6
        else:
            self.ops.append("0.5 g")
            self._string(FONT, 7.5, MARGIN, top - 8, f"{self.heading.organisation} · {self.heading.title}")
            self.ops.append("0 g")
            top -= 16
        self.y = top
        self._rect(self.fill, self.y - ROW_HEIGHT)
        self.ops.append("1 g")
        self._cells([col["label"] for col in self.columns], BOLD)
        self.ops.append("0 g")

    def _cells(self, texts: list[str], font: str) -> None:
        """One row of cells in one text object: cut to their columns, numbers right-aligned."""
        base = self.y - ROW_HEIGHT + 3
        ops = [f"BT {_F[font]} {SIZE} Tf"]
        for text, left, width, numeric in zip(texts, self.lefts, self.widths, self.numeric, strict=True):
            if not text:
                continue
            fitted, w = _fit(text, width - 4, font)
            x = left + width - 2 - w if numeric else left + 2
            ops.append(f"1 0 0 1 {_n(x)} {_n(base)} Tm ({fitted.translate(_ESCAPE)}) Tj")
        ops.append("ET")
        self.ops.append(" ".join(ops))
        self.y -= ROW_HEIGHT

    def add(self, record: Any) -> None:
        """One row of the answer (`record[i]` by position, the row kind last when grouped)."""
        if self.y - ROW_HEIGHT < MARGIN + 14:
            self._new_page()
        kind = record[self.kind_at] if self.kind_at is not None else "row"
        texts = [_text(record[i]) for i in range(len(self.columns))]
        if kind != "row":  # subtotals and the total: shaded in the brand colour, bold
            self._rect(self.shades["total" if kind == "total" else "subtotal"], self.y - ROW_HEIGHT)
            self.ops.append("0 g")
            texts[0] = texts[0] or ("Total" if kind == "total" else "Subtotal")
        elif self.rows % 2:
            self._rect(self.shades["odd"], self.y - ROW_HEIGHT)
            self.ops.append("0 g")
        self._cells(texts, FONT if kind == "row" else BOLD)
        self.rows += 1

    def _end_page(self) -> None:
        """The footer ("Page N of " and the page-count form), then the page goes to the file."""
        right = PAGE[0] - MARGIN - 18
        label = f"Page {self.page} of "
        self.ops.append("0.5 g")
        self._string(FONT, 7.5, right - _fit(label, PAGE[0], FONT)[1], MARGIN - 4, label)
        self.ops.append(f"q 1 0 0 1 {_n(right)} {_n(MARGIN - 4)} cm /PC Do Q")
        self.file.page("\n".join(self.ops).encode("cp1252", errors="replace"))
        self.ops = []

    def finish(self) -> None:
        if self.rows == 0:
            self._string(FONT, 9, MARGIN, self.y - 14, "No rows for this configuration.")
        self._end_page()
        count = f"0.5 g BT /F1 7.5 Tf 0 0 Td ({self.page}) Tj ET"
        self.file.close(count.encode("latin-1"), self.heading.title, self.heading.organisation)


async def write(
    pool: asyncpg.Pool, org_id: UUID, q: ReportQuery, settings: Settings, heading: Heading, out: IO[bytes]
) -> int:
    """Writes the whole run as a PDF to `out`; returns the number of table rows. The rows come as a run reads them
    (service/runs.py `run_snapshot`: one REPEATABLE READ tenant transaction under the export statement timeout, the
    statement planned and sorted once, read through one server-side cursor ROWS_PER_FETCH at a time), not in keyset
    batches, each of which re-sorted the remainder. The snapshot lasts while the file is written, never while a
    client downloads it (`open_pdf` streams it from a temporary file)."""
    from services.reports.service import reports as workflow  # the statement and columns the other formats use
    from services.reports.service import runs  # the runs' snapshot (runs imports this module)

    async with tenant_tx(pool, org_id) as conn:
        base, _ = await workflow.settings_of(conn, org_id)
    st = store.statement(q, org_id, base)
    table = PdfTable(out, heading, workflow._columns(q))
    timeout = settings.export_statement_timeout_ms / 1000 + 5
    async with runs.run_snapshot(pool, org_id, settings) as conn:
        try:
            async for rows in store.run_rows(conn, st, workflow._width(q), ROWS_PER_FETCH, timeout):
                for r in rows:
                    table.add(r)
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == store.FX_MISSING:
                raise workflow._fx_error(exc) from None
            raise
    table.finish()
    return table.rows


async def count_rows(pool: asyncpg.Pool, org_id: UUID, q: ReportQuery) -> int:
    """The exact row count of the run (the preview's count)."""
    from services.reports.service import reports as workflow

    async with tenant_tx(pool, org_id) as conn:
        base, _ = await workflow.settings_of(conn, org_id)
        _, total = await store.preview(conn, store.statement(q, org_id, base))
    return total


async def organisation_heading(pool: asyncpg.Pool, org_id: UUID) -> tuple[str, str]:
    """The organisation's name and the colour its PDFs print (its primary colour, else DEFAULT_COLOUR)."""
    async with tenant_tx(pool, org_id) as conn:
        name, colour = await organisation_store.heading(conn, org_id)
    return name, colour or DEFAULT_COLOUR


async def open_pdf(
    pool: asyncpg.Pool, org_id: UUID, q: ReportQuery, fmt: str, settings: Settings
) -> AsyncGenerator[bytes, None]:
    """The export links' opener (`WRITERS["pdf"]`): refused above the cap before any row is read, then built into
    a temporary file and streamed from it."""
    check_rows(await count_rows(pool, org_id, q))
    name, colour = await organisation_heading(pool, org_id)
    heading = Heading(
        organisation=name, title=q.report.name, filters=describe_filters(q), run_at=datetime.now(UTC), colour=colour
    )
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (closed by the stream, or below on failure)
    try:
        await write(pool, org_id, q, settings, heading, spool)
    except BaseException:
        spool.close()
        raise

    async def stream() -> AsyncGenerator[bytes, None]:
        try:
            spool.seek(0)
            while chunk := spool.read(CHUNK):
                yield chunk
        finally:
            spool.close()

    return stream()
