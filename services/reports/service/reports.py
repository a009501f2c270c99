"""The reports catalogue's workflows: the catalogue as the API lists it, a report's preview, its streamed export
(CSV, XLSX; PDF plugs in at `WRITERS`), and saved configurations.

A run reads the organisation's time zone and base currency from the copy of its settings (fed by the orders
service's events), validates the input there (domain/query.py: every refusal names its field) and runs the one
statement the repository makes of it, so the preview, its count and the export always agree. A missing FX rate
(the database's RFX01) becomes an error naming the currency and the date, never a silent skip.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

import asyncpg

from services.reports.domain import catalogue
from services.reports.domain import query as query_domain
from services.reports.domain.query import ReportQuery
from services.reports.repository import reports as store
from services.reports.repository import saved_reports as saved
from services.reports.service import pdf
from shared import exports
from shared.config import Settings
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.export_queries import ExportQuery, Key
from shared.service import segment_copies

ROW_KIND_LABEL = "Row"


def catalogue_json() -> list[dict[str, Any]]:
    """Every report with its columns, defaults and filters, as `reports` lists them."""
    return [
        {
            "key": r.key,
            "area": r.area,
            "name": r.name,
            "description": r.description,
            "kind": r.kind.value,
            "columns": [
                {
                    "key": c.key,
                    "label": c.label,
                    "type": c.type.value,
                    "groupable": c.groupable,
                    "aggregates": [a.value for a in c.aggregates],
                }
                for c in r.columns
            ],
            "defaultColumns": list(r.default_columns),
            "defaultSort": [{"column": k, "descending": d} for k, d in r.default_sort],
            "filters": [f.value for f in r.filters],
            "statuses": list(r.statuses),
            "types": list(r.types),
            "customFields": r.itemised and r.custom,
            "contactCustomFields": r.itemised and r.contact_custom,
        }
        for r in catalogue.REPORTS
    ]


async def settings_of(conn: asyncpg.Connection, org_id: UUID) -> tuple[str, str]:
    """The organisation's (base currency, time zone), from the copy of its settings."""
    found = await store.base_currency_and_zone(conn, org_id)
    if found is None:
        raise DomainError(
            ErrorCode.NOT_FOUND,
            "this organisation's settings have not reached the reports service yet; try again shortly",
            status=503,
        )
    return found


async def parse(conn: asyncpg.Connection, org_id: UUID, raw: Any, time_zone: str | None = None) -> ReportQuery:
    """The input validated in the organisation's time zone (or `time_zone`, an export link's)."""
    _, tz = await settings_of(conn, org_id)
    q = query_domain.parse(raw, time_zone or tz)
    if q.segment_id is not None:  # another organisation's segment is unknown here (row-level security)
        await segment_copies.require_known(conn, org_id, q.segment_id, "input.filters.segmentId")
    return q


def _fx_error(exc: asyncpg.PostgresError) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, str(getattr(exc, "message", exc)), "currency")


def _columns(q: ReportQuery) -> list[dict[str, Any]]:
    cols = [{"key": o.key, "label": o.label, "type": o.type.value} for o in q.outputs]
    if q.grouped:
        cols.append({"key": store.ROW_KIND, "label": ROW_KIND_LABEL, "type": "text"})
    return cols


def json_value(value: Any) -> Any:
    """A cell as the API answers it: numbers and amounts as exact decimal text, times in ISO 8601 (UTC)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Decimal | int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _width(q: ReportQuery) -> int:
    return len(q.outputs) + (1 if q.grouped else 0)


async def preview(conn: asyncpg.Connection, org_id: UUID, raw: Any) -> dict[str, Any]:
    """The first 10 rows of the report for this input, the exact count of its rows, and its columns."""
    q = await parse(conn, org_id, raw)
    base, _ = await settings_of(conn, org_id)
    st = store.statement(q, org_id, base)
    try:
        async with conn.transaction():  # a savepoint: a refused conversion leaves the request's transaction usable
            rows, total = await store.preview(conn, st)
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == store.FX_MISSING:
            raise _fx_error(exc) from None
        raise
    width = _width(q)
    return {
        "report": q.report.key,
        "kind": q.report.kind.value,
        "columns": _columns(q),
        "rows": [[json_value(r[i]) for i in range(width)] for r in rows],
        "totalRows": total,
        "firstDay": q.first_day.isoformat(),
        "lastDay": q.last_day.isoformat(),
        "timeZone": q.time_zone,
        "baseCurrency": base,
    }


async def check_runs(conn: asyncpg.Connection, org_id: UUID, q: ReportQuery, fmt: str | None = None) -> None:
    """Runs the preview once so a link is never issued for a run that would fail (a missing FX rate, or a PDF
    of more rows than its cap)."""
    base, _ = await settings_of(conn, org_id)
    try:
        async with conn.transaction():
            _, total = await store.preview(conn, store.statement(q, org_id, base))
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == store.FX_MISSING:
            raise _fx_error(exc) from None
        raise
    if fmt == "pdf":
        pdf.check_rows(total)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


async def _csv(
    batches: AsyncGenerator[list[asyncpg.Record], None], header: list[str], width: int
) -> AsyncGenerator[bytes, None]:
    """The rows as CSV (text columns were neutralised against formulas in the statement)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    yield buf.getvalue().encode()
    async for rows in batches:
        buf.seek(0)
        buf.truncate()
        writer.writerows([_csv_cell(r[i]) for i in range(width)] for r in rows)
        yield buf.getvalue().encode()


Opener = Callable[[asyncpg.Pool, UUID, ReportQuery, str, Settings], Awaitable[AsyncGenerator[bytes, None]]]


async def open_export(
    pool: asyncpg.Pool, org_id: UUID, q: ReportQuery, fmt: str, settings: Settings
) -> AsyncGenerator[bytes, None]:
    """The whole run as `fmt`, streamed: keyset batches of the preview's statement, each in its own short tenant
    transaction on `pool`, in constant memory and without a row cap."""
    async with tenant_tx(pool, org_id) as conn:
        base, _ = await settings_of(conn, org_id)
    st = store.statement(q, org_id, base)
    header = [c["label"] for c in _columns(q)]
    width = _width(q)

    async def read(
        conn: asyncpg.Connection, _: ExportQuery, after: Key | None, size: int
    ) -> tuple[list[asyncpg.Record], Key | None]:
        rows, last = await store.rows_batch(conn, st, cast(tuple[Any, ...] | None, after), size)
        return rows, cast(Key | None, last)

    # The kit's writers take an ExportQuery for its header; the batches come from `read`, not from its SQL.
    shell = ExportQuery(columns="", source="", keys="", where="", args=[], header=header, ts="", id="")
    if fmt == "xlsx":
        return exports.stream_xlsx(pool, org_id, shell, q.report.name[:31], settings.export_batch_rows, read)
    batches = exports.row_batches(pool, org_id, shell, settings.export_csv_batch_rows, read)
    return _csv(batches, header, width)


async def _open_link(
    pool: asyncpg.Pool, org_id: UUID, q: ReportQuery, fmt: str, settings: Settings
) -> AsyncGenerator[bytes, None]:
    """Links read one cursor in one bounded snapshot (service/runs.py `open_link` says why)."""
    from services.reports.service import runs  # runs imports this module

    return await runs.open_link(pool, org_id, q, fmt, settings)


# The formats a report downloads as; PDF (service/pdf.py) has a row cap, checked before any work.
WRITERS: dict[str, Opener] = {"csv": _open_link, "xlsx": _open_link, "pdf": pdf.open_pdf}
FORMATS = tuple(WRITERS)


# Saved configurations.


def saved_json(s: saved.SavedReport) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "name": s.name,
        "description": s.description,
        "report": s.report,
        "input": s.input,
        "createdBy": s.created_by,
        "createdAt": s.created_at.isoformat(),
        "updatedAt": s.updated_at.isoformat(),
    }


async def save(
    conn: asyncpg.Connection,
    org_id: UUID,
    id: UUID | None,
    name: str,
    description: str,
    raw: dict[str, Any],
    actor: str,
) -> saved.SavedReport:
    """Creates (or, with `id`, replaces) a saved configuration; the input is validated as a run would be."""
    q = await parse(conn, org_id, raw)
    if await saved.name_taken(conn, org_id, name, id):
        raise DomainError(ErrorCode.DUPLICATE_NAME, "a saved report of this organisation has this name", "name")
    if id is None:
        return await saved.create(conn, org_id, name, description, q.report.key, raw, actor)
    found = await saved.update(conn, org_id, id, name, description, q.report.key, raw)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no saved report has this id", "id", status=404)
    return found
