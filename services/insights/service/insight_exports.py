"""The insights builder's exports (seed 002): UGD, the events behind an insight, and Insight Results, the table
its chart shows. Both stream in constant memory through the kit's writers (shared/exports.py), each batch in
its own short tenant transaction on the export pool.

- UGD (`insight_events`): `repository.exports.insight_events_query`, the answer's own FROM and WHERE, read
  in keyset batches. Rows grouped as the insight groups them give the answer's numbers (a line-item
  breakdown: one row per event and product). Amounts are the events' own, in their currency, whatever the
  insight's `currency`: the results export carries the converted values.
- Insight Results (`insight_results`): one row per bucket x series (breakdown values and currency), for every
  series, in rank order, bucket by bucket. Each batch is an answer to the insight for the next page of series
  (`top`, `breakdownOffset`), made by the same calls as the on-screen answer (`service.insight`), so its
  values are the answer's, zeros included. A page holds at most `RESULT_SERIES` series, fewer when the
  insight has many buckets (at most about `RESULT_CELLS` cells a batch). Each batch aggregates the range
  anew in its own transaction: series past the first page are ranked as the data are when that page is read,
  as a list's pages are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from services.insights.domain.insight import MAX_TOP, Insight
from services.insights.repository import exports as export_queries
from services.insights.repository import insight as repo
from services.insights.service import fx_rates
from services.insights.service import insight as answers
from shared import exports
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.export_queries import ExportQuery, Key
from shared.money import minor_units

RESULT_SERIES = MAX_TOP  # 500: the answer's largest page
RESULT_CELLS = 100_000


def results_header(q: Insight) -> list[str]:
    return ["bucket_start", "bucket_label", *(f"breakdown.{b.name}" for b in q.breakdowns), "currency", "value"]


def series_per_batch(q: Insight) -> int:
    return max(1, min(RESULT_SERIES, RESULT_CELLS // len(q.buckets)))


async def answer_page(
    conn: asyncpg.Connection, org_id: UUID, q: Insight, base: str | None, offset: int, top: int
) -> dict[str, Any]:
    """The answer to `q` (already parsed, in the link's time zone) for series offset..offset+top: the steps of
    `service.insight.answer`, with the base currency read once when the download started."""
    q = replace(q, offset=offset, top=top)
    how = repo.plan(q)
    await repo.fill_cells(conn, org_id, q, how)
    rates: list[fx_rates.Rate] = []
    if q.base_currency:
        assert base is not None
        found = await fx_rates.rates_to(conn, base, await repo.needs(conn))
        rates = sorted(found.values(), key=lambda r: (r.currency, r.day))
    ranked = await repo.ranked(
        conn,
        q,
        how,
        [(r.currency, r.day, r.rate) for r in rates] if q.base_currency else None,
        digits=minor_units(base) if base else 2,
    )
    if ranked.unrated:
        raise DomainError(ErrorCode.INVALID_INPUT, "an amount without a rate", "input.currency")
    return answers._shape(q, how, ranked, rates, base, None, None)


def result_rows(q: Insight, answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The answer's series as rows: bucket start (local, ISO 8601 with offset), label, values, currency, value."""
    zone = ZoneInfo(q.time_zone)
    starts = [datetime.fromisoformat(b["start"]).astimezone(zone).isoformat() for b in answer["buckets"]]
    labels = [b["label"] for b in answer["buckets"]]
    money = q.measure.money
    rows: list[tuple[Any, ...]] = []
    for s in answer["series"]:
        for start, label, point in zip(starts, labels, s["points"], strict=True):
            value = Decimal(point) if money and point is not None else point
            rows.append((start, label, *s["values"], s["currency"], value))
    return rows


def _results_reader(org_id: UUID, q: Insight, base: str | None) -> exports.RowsBatch:
    """The kit's batch reader for results: `after` is (next series offset, None)."""

    async def read(
        conn: asyncpg.Connection, _query: ExportQuery, after: Key | None, size: int
    ) -> tuple[list[Any], Key | None]:
        offset = int(after[0]) if after else 0
        answer = await answer_page(conn, org_id, q, base, offset, size)
        more = offset + size < int(answer["totalSeries"])
        return result_rows(q, answer), ((offset + size, None) if more else None)

    return read


def _csv_cell(value: Any) -> Any:
    """A CSV cell: text that would start a formula is prefixed, as the SQL exports' text columns are."""
    if isinstance(value, str) and value[:1] in exports.FORMULA_STARTS:
        return "'" + value
    return value


async def _csv(batches: AsyncGenerator[list[Any], None], header: list[str]) -> AsyncGenerator[bytes, None]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    yield out.getvalue().encode()
    async for rows in batches:
        out.seek(0)
        out.truncate()
        writer.writerows([_csv_cell(v) for v in row] for row in rows)
        yield out.getvalue().encode()


async def open_results(
    pool: asyncpg.Pool, org_id: UUID, q: Insight, fmt: str, settings: Any
) -> AsyncGenerator[bytes, None]:
    """The Insight Results file's stream (the base currency read now, so a missing one fails before any byte)."""
    base = None
    if q.base_currency:
        async with tenant_tx(pool, org_id) as conn:
            base = await answers.base_currency(conn, org_id)
    header = results_header(q)
    # The kit's writers take a query for its header; results are read by `read`, never by SQL of the query's.
    query = ExportQuery(columns="", source="", keys="", where="", args=[], header=header, ts="", id="")
    read = _results_reader(org_id, q, base)
    size = series_per_batch(q)
    if fmt == "csv":
        return _csv(exports.row_batches(pool, org_id, query, size, read), header)
    return exports.stream_xlsx(pool, org_id, query, "insight_results", size, read)


async def open_events(
    pool: asyncpg.Pool, org_id: UUID, q: Insight, fmt: str, settings: Any
) -> AsyncGenerator[bytes, None]:
    """The UGD file's stream: the kit's COPY (CSV) or workbook writer over `insight_events_query`."""
    query = export_queries.insight_events_query(org_id, q)
    if fmt == "csv":
        return exports.stream_csv(pool, org_id, query, settings.export_csv_batch_rows)
    return exports.stream_xlsx(pool, org_id, query, "insight_events", settings.export_batch_rows)
