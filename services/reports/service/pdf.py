"""Reports as PDF: A4 landscape, the organisation's name and colour, the report's title, filters and run time, then
the table, its header row repeated on every page, grouped subtotal rows shaded, and "page X of Y" on each page.

Drawn on a reportlab canvas row by row rather than as platypus flowables: platypus lays a table out whole, in
memory, before drawing a page of it; the canvas takes the keyset batches as they come (never more than one batch
of rows in memory) and each finished page is compressed into the document at once. What reportlab still keeps
until the file is saved is those compressed pages (a few kilobytes each), which is why PDF has a row cap
(`REPORT_PDF_MAX_ROWS`, default 100,000: about 3,000 pages) and CSV or XLSX have none. The total page count is a
form drawn once at the end, so no second pass is needed for "of Y".

Rows have one line each: a cell too wide for its column is cut with an ellipsis (CSV and XLSX carry every
character); columns share the width by their kind, text wider than numbers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any, cast
from uuid import UUID

import asyncpg
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from services.reports.domain.query import ReportQuery
from services.reports.repository import reports as store
from shared import exports
from shared.config import Settings
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.export_queries import ExportQuery, Key

DEFAULT_MAX_ROWS = 100_000
# The reports service's copy of organisation settings holds no brand colour (only name, time zone, currency):
# the orders service's default primary colour until that copy carries it.
DEFAULT_COLOUR = "#1E5EFF"
PAGE = landscape(A4)
MARGIN = 12 * mm
FONT, BOLD = "Helvetica", "Helvetica-Bold"
SIZE = 7.5
ROW_HEIGHT = 11.0
CHUNK = 64 * 1024
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


def _fit(text: str, width: float, font: str) -> str:
    """`text` cut to `width` points with an ellipsis."""
    if stringWidth(text, font, SIZE) <= width:
        return text
    while text and stringWidth(text + "…", font, SIZE) > width:
        text = text[: max(0, len(text) - max(1, len(text) // 8))]
    return text + "…"


class PdfTable:
    """The canvas, the column layout and where the next row goes."""

    def __init__(self, out: IO[bytes], heading: Heading, columns: list[dict[str, Any]]) -> None:
        self.canvas = Canvas(out, pagesize=PAGE, pageCompression=1)
        self.canvas.setTitle(heading.title)
        self.canvas.setAuthor(heading.organisation)
        self.heading = heading
        self.colour = colors.HexColor(heading.colour)
        self.columns = [c for c in columns if c["key"] != store.ROW_KIND]
        self.kind_at = next((i for i, c in enumerate(columns) if c["key"] == store.ROW_KIND), None)
        usable = PAGE[0] - 2 * MARGIN
        weights = [_WEIGHT.get(c["type"], 1.5) for c in self.columns]
        self.widths = [usable * w / sum(weights) for w in weights]
        self.numeric = [c["type"] in ("number", "money") for c in self.columns]
        self.page = 0
        self.y = 0.0
        self.rows = 0
        self._new_page()

    def _new_page(self) -> None:
        if self.page:
            self._footer()
            self.canvas.showPage()
        self.page += 1
        top = PAGE[1] - MARGIN
        c = self.canvas
        if self.page == 1:
            c.setFillColor(self.colour)
            c.rect(MARGIN, top - 4, PAGE[0] - 2 * MARGIN, 4, stroke=0, fill=1)
            c.setFillColor(colors.black)
            c.setFont(BOLD, 10)
            c.drawString(MARGIN, top - 18, self.heading.organisation)
            c.setFont(BOLD, 16)
            c.setFillColor(self.colour)
            c.drawString(MARGIN, top - 38, self.heading.title)
            c.setFillColor(colors.black)
            c.setFont(FONT, 8.5)
            y = top - 52
            for line in [*self.heading.filters, f"Run at: {self.heading.run_at.strftime('%Y-%m-%d %H:%M:%S UTC')}"]:
                c.drawString(MARGIN, y, _fit(line, PAGE[0] - 2 * MARGIN, FONT))
                y -= 11
            top = y - 6
        else:
            c.setFont(FONT, 7.5)
            c.setFillColor(colors.grey)
            c.drawString(MARGIN, top - 8, f"{self.heading.organisation} · {self.heading.title}")
            c.setFillColor(colors.black)
            top -= 16
        self.y = top
        self._header_row()

    def _header_row(self) -> None:
        c = self.canvas
        c.setFillColor(self.colour)
        c.rect(MARGIN, self.y - ROW_HEIGHT, sum(self.widths), ROW_HEIGHT, stroke=0, fill=1)
        c.setFillColor(colors.white)
        self._cells([col["label"] for col in self.columns], BOLD)
        c.setFillColor(colors.black)

    def _cells(self, texts: list[str], font: str) -> None:
        c = self.canvas
        c.setFont(font, SIZE)
        x, base = MARGIN, self.y - ROW_HEIGHT + 3
        for text, width, numeric in zip(texts, self.widths, self.numeric, strict=True):
            fitted = _fit(text, width - 4, font)
            if numeric:
                c.drawRightString(x + width - 2, base, fitted)
            else:
                c.drawString(x + 2, base, fitted)
            x += width
        self.y -= ROW_HEIGHT

    def add(self, record: Any) -> None:
        """One row of the answer (`record[i]` by position, the row kind last when grouped)."""
        if self.y - ROW_HEIGHT < MARGIN + 14:
            self._new_page()
        kind = record[self.kind_at] if self.kind_at is not None else "row"
        texts = [_text(record[i]) for i in range(len(self.columns))]
        c = self.canvas
        if kind != "row":  # subtotals and the total: shaded in the brand colour, bold
            c.setFillColor(self.colour, alpha=0.18 if kind == "subtotal" else 0.32)
            c.rect(MARGIN, self.y - ROW_HEIGHT, sum(self.widths), ROW_HEIGHT, stroke=0, fill=1)
            c.setFillColor(colors.black)
            texts[0] = texts[0] or ("Total" if kind == "total" else "Subtotal")
        elif self.rows % 2:
            c.setFillColor(colors.HexColor("#F3F5F8"))
            c.rect(MARGIN, self.y - ROW_HEIGHT, sum(self.widths), ROW_HEIGHT, stroke=0, fill=1)
            c.setFillColor(colors.black)
        self._cells(texts, FONT if kind == "row" else BOLD)
        self.rows += 1

    def _footer(self) -> None:
        c = self.canvas
        c.setFont(FONT, 7.5)
        c.setFillColor(colors.grey)
        label = f"Page {self.page} of "
        right = PAGE[0] - MARGIN - 18
        c.drawRightString(right, MARGIN - 4, label)
        c.doForm("page_count")  # drawn once, at the end, when the count is known
        c.setFillColor(colors.black)

    def finish(self) -> None:
        if self.rows == 0:
            self.canvas.setFont(FONT, 9)
            self.canvas.drawString(MARGIN, self.y - 14, "No rows for this configuration.")
        self._footer()
        self.canvas.showPage()
        c = self.canvas
        c.beginForm("page_count")
        c.setFont(FONT, 7.5)
        c.setFillColor(colors.grey)
        c.drawString(PAGE[0] - MARGIN - 18, MARGIN - 4, str(self.page))
        c.endForm()
        c.save()


async def write(
    pool: asyncpg.Pool, org_id: UUID, q: ReportQuery, settings: Settings, heading: Heading, out: IO[bytes]
) -> int:
    """Writes the whole run as a PDF to `out` (keyset batches of the preview's statement, each in its own short
    tenant transaction); returns the number of table rows."""
    from services.reports.service import reports as workflow  # the statement and columns the other formats use

    async with tenant_tx(pool, org_id) as conn:
        base, _ = await workflow.settings_of(conn, org_id)
    st = store.statement(q, org_id, base)
    table = PdfTable(out, heading, workflow._columns(q))

    async def read(
        conn: asyncpg.Connection, _: ExportQuery, after: Key | None, size: int
    ) -> tuple[list[asyncpg.Record], Key | None]:
        rows, last = await store.rows_batch(conn, st, cast(tuple[Any, ...] | None, after), size)
        return rows, cast(Key | None, last)

    shell = ExportQuery(columns="", source="", keys="", where="", args=[], header=[], ts="", id="")
    async for rows in exports.row_batches(pool, org_id, shell, settings.export_batch_rows, read):
        for r in rows:
            table.add(r)
    table.finish()
    return table.rows


async def count_rows(pool: asyncpg.Pool, org_id: UUID, q: ReportQuery) -> int:
    """The exact row count of the run (the preview's count)."""
    from services.reports.service import reports as workflow

    async with tenant_tx(pool, org_id) as conn:
        base, _ = await workflow.settings_of(conn, org_id)
        _, total = await store.preview(conn, store.statement(q, org_id, base))
    return total


async def organisation_name(pool: asyncpg.Pool, org_id: UUID) -> str:
    async with tenant_tx(pool, org_id) as conn:
        name = await conn.fetchval("SELECT name FROM organisation_settings WHERE org_id = $1", org_id)
    return str(name or "")


async def open_pdf(
    pool: asyncpg.Pool, org_id: UUID, q: ReportQuery, fmt: str, settings: Settings
) -> AsyncGenerator[bytes, None]:
    """The export links' opener (`WRITERS["pdf"]`): refused above the cap before any row is read, then built into
    a temporary file and streamed from it."""
    check_rows(await count_rows(pool, org_id, q))
    heading = Heading(
        organisation=await organisation_name(pool, org_id),
        title=q.report.name,
        filters=describe_filters(q),
        run_at=datetime.now(UTC),
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
