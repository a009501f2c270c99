"""The PDF writer (service/pdf.py) on its own: what each page prints, that the file is a valid PDF read back by
pypdf, and that memory does not grow with the page count (the file is written page by page). The run through the
worker and the mail is test_runs.py's."""

from __future__ import annotations

import io
import tempfile
import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pypdf import PdfReader

from services.reports.repository.reports import ROW_KIND
from services.reports.service import pdf

COLUMNS = [
    {"key": "c0", "label": "Status", "type": "text"},
    {"key": "c1", "label": "Order id", "type": "id"},
    {"key": "c2", "label": "Placed", "type": "datetime"},
    {"key": "c3", "label": "Amount", "type": "money"},
    {"key": "c4", "label": "Day", "type": "date"},
    {"key": ROW_KIND, "label": "Row", "type": "text"},
]
HEADING = pdf.Heading(
    organisation="Acme (UK) Ltd",
    title="Orders with commission",
    filters=["Dates: 2026-11-01 to 2026-11-07 (Europe/London)", "Statuses: FAILED"],
    run_at=datetime(2026, 11, 30, 22, 0, tzinfo=UTC),
    colour="#AA3300",
)


def _row(i: int, kind: str = "row") -> tuple[Any, ...]:
    return (
        f"S{i % 3} (a\\b)",
        UUID(int=i),
        datetime(2026, 11, 1, 12, tzinfo=UTC),
        Decimal(i) / 100,
        date(2026, 11, 1),
        kind,
    )


def _write(out: Any, n: int) -> pdf.PdfTable:
    table = pdf.PdfTable(out, HEADING, COLUMNS)
    for i in range(n):
        table.add(_row(i))
        if i % 100 == 99:
            table.add(("", None, None, Decimal(100), None, "subtotal"))
    table.add(("", None, None, Decimal(1), None, "total"))
    table.finish()
    return table


def test_every_page_prints_the_header_row_and_page_n_of_m_and_the_first_the_heading() -> None:
    out = io.BytesIO()
    table = _write(out, 300)
    reader = PdfReader(io.BytesIO(out.getvalue()), strict=True)
    pages = [p.extract_text() for p in reader.pages]
    assert len(pages) == table.page > 5
    first = pages[0]
    for text in ("Acme (UK) Ltd", "Orders with commission", "Statuses: FAILED", "Run at: 2026-11-30 22:00:00 UTC"):
        assert text in first, text
    for n, text in enumerate(pages, 1):
        assert "Status" in text and "Amount" in text and "Placed" in text, n  # the header row, every page
        assert f"Page {n} of" in text and text.rstrip().endswith(str(len(pages))), text[-40:]
    everything = "\n".join(pages)
    assert "S1 (a\\b)" in everything  # parentheses and backslashes escaped, read back as written
    assert everything.count("Subtotal") == 3 and "Total" in pages[-1]
    assert "2.99" in everything and "2026-11-01 12:00:00 UTC" in everything
    assert reader.metadata is not None and reader.metadata.title == "Orders with commission"
    assert reader.pages[0].mediabox.width > reader.pages[0].mediabox.height  # landscape


def test_a_cell_too_wide_is_cut_and_a_character_outside_the_font_prints_as_a_question_mark() -> None:
    out = io.BytesIO()
    table = pdf.PdfTable(out, HEADING, COLUMNS[:1])
    table.add(("x" * 2000,))
    table.add(("Zürich 東京",))
    table.finish()
    text = PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text()
    assert "x" * 100 + "…" in text and "x" * 2000 not in text
    assert "Zürich ??" in text


def test_no_rows_says_so() -> None:
    out = io.BytesIO()
    pdf.PdfTable(out, HEADING, COLUMNS).finish()
    text = PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text()
    assert "No rows for this configuration." in text and "Page 1 of" in text


def _peak(rows: int) -> tuple[int, int]:
    """Peak bytes Python allocated while writing `rows` rows to a file, and the pages written."""
    with tempfile.TemporaryFile() as out:
        tracemalloc.start()
        try:
            table = _write(out, rows)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak, table.page


def test_memory_does_not_grow_with_the_page_count() -> None:
    _peak(500)  # warm: the width tables and the cut-cell cache
    small, small_pages = _peak(2_000)
    large, large_pages = _peak(20_000)
    assert large_pages >= 9 * small_pages
    # Each page costs its object number and offset (well under 100 bytes) once written, beside the bounded cache
    # of cut cells (about 1 MB at most); a writer keeping its pages (reportlab's canvas keeps each page's
    # uncompressed stream, ~20 KB here, until it saves) would add 8 MB.
    assert large - small < 1536 * 1024, (small, large, small_pages, large_pages)


def _fill(colour: str) -> bytes:
    """The fill operator a PDF page draws `colour` (#RRGGBB) with."""
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return f"{r:.3f} {g:.3f} {b:.3f} rg".encode()


async def _pdf_of(reports_pool: Any, org_id: UUID, settings: Any) -> bytes:
    from services.reports.service import reports as workflow
    from shared.db import tenant_tx

    async with tenant_tx(reports_pool, org_id) as conn:
        q = await workflow.parse(conn, org_id, {"report": "orders_with_commission"})
    stream = await pdf.open_pdf(reports_pool, org_id, q, "pdf", settings)
    return b"".join([chunk async for chunk in stream])


async def test_the_pdf_prints_the_organisations_own_colour_from_its_settings_events(
    pool: Any, reports_pool: Any, settings: Any, tenant: Any, other_tenant: Any
) -> None:
    from services.orders.domain.settings import SettingsUpdate
    from services.orders.service import organisation
    from shared.db import tenant_tx
    from tests.services.reports.feed import apply_orders, outbox_events

    async with tenant_tx(pool, tenant.org_id) as conn:
        await organisation.update_settings(
            conn, tenant.org_id, SettingsUpdate.model_validate({"primaryColour": "#AA3300"})
        )
    for t in (tenant, other_tenant):
        await apply_orders(reports_pool, await outbox_events(pool, t.org_id))

    mine = PdfReader(io.BytesIO(await _pdf_of(reports_pool, tenant.org_id, settings))).pages[0].get_contents()
    theirs = PdfReader(io.BytesIO(await _pdf_of(reports_pool, other_tenant.org_id, settings))).pages[0].get_contents()
    assert mine is not None and theirs is not None
    assert _fill("#AA3300") in mine.get_data() and _fill(pdf.DEFAULT_COLOUR) not in mine.get_data()
    # Another organisation without a colour of its own: the default, never this one's.
    assert _fill(pdf.DEFAULT_COLOUR) in theirs.get_data() and _fill("#AA3300") not in theirs.get_data()
