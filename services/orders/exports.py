"""Streaming exports of orders, customers and the audit log, CSV and XLSX, in constant memory.

The streaming, the format writers (CSV through PostgreSQL's COPY of a SELECT list whose text columns are
neutralised, XLSX written row by row with every cell made by `xlsx_value`), the per-organisation slots and
the response that gives its slot back are the kit's (shared/exports.py), one implementation for every
service's exports; the queries are this service's (repository/exports.py). Both use the list's own WHERE
clause and order, so an export holds exactly the rows the list and the summary count.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from uuid import UUID

import asyncpg

from services.orders.repository import exports as export_queries
from services.orders.repository.exports import ExportQuery
from shared import exports as kit
from shared.exports import (
    FORMULA_STARTS,
    RETRY_AFTER_SECONDS,
    ExportResponse,
    ExportSlots,
    xlsx_value,
)

__all__ = [
    "FORMULA_STARTS",
    "RETRY_AFTER_SECONDS",
    "ExportResponse",
    "ExportSlots",
    "stream_csv",
    "stream_xlsx",
    "xlsx_value",
]

# The kit's cell conversion under the name the benchmark and older tests use.
_xlsx_value = xlsx_value


def _row_batches(
    pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, size: int
) -> AsyncGenerator[list[asyncpg.Record], None]:
    # The batch reader is looked up at each call (tests count the batches read by replacing it).
    return kit.row_batches(pool, org_id, query, size, export_queries.rows_batch)


def stream_csv(pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, batch_rows: int) -> AsyncGenerator[bytes, None]:
    """The export as CSV, one COPY per batch (the kit's stream; the batch reader looked up at each call)."""
    return kit.stream_csv(pool, org_id, query, batch_rows, export_queries.copy_csv_batch)


def stream_xlsx(
    pool: asyncpg.Pool, org_id: UUID, query: ExportQuery, sheet: str, batch_rows: int
) -> AsyncGenerator[bytes, None]:
    """The export as an XLSX workbook streamed as it is written (the kit's writer)."""
    return kit.stream_xlsx(pool, org_id, query, sheet, batch_rows, export_queries.rows_batch)
