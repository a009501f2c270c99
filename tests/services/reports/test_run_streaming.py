"""Runs read the report's one statement once, in one snapshot (service/runs.py `run_snapshot` / `write_rows`): the
CSV by COPY, the XLSX through a server-side cursor. For every catalogue report, ungrouped and grouped, the run's CSV
holds the rows the export links' Python writer writes (the same cells, times and booleans included), the XLSX the
same rows, and the count is the preview's; runs' statements get the export timeout, not the API's; another
organisation's data never reaches a run."""

from __future__ import annotations

import csv
import dataclasses
import io
import tempfile
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook

from services.reports.domain import catalogue
from services.reports.repository import reports as store
from services.reports.service import reports as workflow
from services.reports.service import runs
from shared.db import create_pool, tenant_tx
from shared.health import DependencyUnavailable
from tests.services.reports.report_data import feed, last_days, store_rates


def _inputs(report: catalogue.Report) -> list[dict[str, Any]]:
    """Every column; and grouped by the first groupable column where there is one."""
    every: dict[str, Any] = {
        "report": report.key,
        "filters": {"range": last_days()},
        "columns": [c.key for c in report.columns],
    }
    groupable = [c.key for c in report.columns if c.groupable]
    return [every, {**every, "grouping": groupable[:1]}] if groupable else [every]


async def _run(reports_pool: Any, settings: Any, org_id: Any, raw: dict[str, Any], fmt: str) -> tuple[bytes, int]:
    async with tenant_tx(reports_pool, org_id) as conn:
        q = await workflow.parse(conn, org_id, raw)
        base, _ = await workflow.settings_of(conn, org_id)
    st = store.statement(q, org_id, base)
    with tempfile.TemporaryFile() as out:
        async with runs.run_snapshot(reports_pool, org_id, settings) as conn:
            n = await runs.write_rows(conn, q, st, fmt, out, settings)
        out.seek(0)
        return out.read(), n


async def _link_csv(reports_pool: Any, settings: Any, org_id: Any, raw: dict[str, Any]) -> bytes:
    """The export link's CSV of the same input (keyset batches, the Python writer)."""
    async with tenant_tx(reports_pool, org_id) as conn:
        q = await workflow.parse(conn, org_id, raw)
    small = dataclasses.replace(settings, export_csv_batch_rows=3)
    return b"".join([c async for c in await workflow.open_export(reports_pool, org_id, q, "csv", small)])


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


async def test_every_reports_run_holds_the_export_links_rows_in_csv_and_xlsx_and_counts_the_preview(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, settings: Any, tenant: Any
) -> None:
    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    kinds: set[str] = set()
    for report in catalogue.REPORTS:
        for raw in _inputs(report):
            async with tenant_tx(reports_pool, tenant.org_id) as conn:
                preview = await workflow.preview(conn, tenant.org_id, raw)
            data, n = await _run(reports_pool, settings, tenant.org_id, raw, "csv")
            rows = _rows(data)
            assert rows == _rows(await _link_csv(reports_pool, settings, tenant.org_id, raw)), raw
            assert n == preview["totalRows"] == len(rows) - 1, raw
            assert rows[0] == [c["label"] for c in preview["columns"]]
            kinds |= {c["type"] for c in preview["columns"] if any(r[preview["columns"].index(c)] for r in rows[1:])}
            book, m = await _run(reports_pool, settings, tenant.org_id, raw, "xlsx")
            sheet = list(load_workbook(io.BytesIO(book), read_only=True).active.iter_rows(values_only=True))
            assert m == n and len(sheet) == len(rows), raw
            ids = [i for i, c in enumerate(preview["columns"]) if c["type"] in ("text", "id")]
            for i in ids:
                assert [r[i] for r in rows[1:]] == [("" if i >= len(s) else s[i] or "") for s in sheet[1:]], raw
    # The cells COPY writes in SQL (times, dates, booleans) were there to compare.
    assert {"datetime", "date", "boolean", "money", "number", "text", "id"} <= kinds, kinds


async def test_a_runs_statements_get_the_export_timeout_not_the_apis(settings: Any, tenant: Any) -> None:
    short = await create_pool(settings.service_database_url("reports"), max_size=1, statement_timeout_ms=300)
    try:
        with pytest.raises(DependencyUnavailable, match="statement timeout"):  # tenant_tx's name for it
            async with tenant_tx(short, tenant.org_id) as conn:
                await conn.execute("SELECT pg_sleep(0.6)")
        long = dataclasses.replace(settings, export_statement_timeout_ms=120_000)
        async with runs.run_snapshot(short, tenant.org_id, long) as conn:
            assert await conn.fetchval("SELECT current_setting('statement_timeout')") == "2min"
            assert await conn.fetchval("SELECT current_setting('transaction_isolation')") == "repeatable read"
            await conn.execute("SELECT pg_sleep(0.6)", timeout=5)
    finally:
        await short.close()


async def test_another_organisations_data_never_reaches_a_run(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, settings: Any, tenant: Any, other_tenant: Any
) -> None:
    """A's runs are byte for byte the same before and after B's data of every area arrives; B's hold none of
    A's tagged cells."""
    await store_rates(reports_pool)
    mine = await feed(gateway, pool, insights_pool, reports_pool, tenant)
    inputs = [raw for report in catalogue.REPORTS for raw in _inputs(report)]
    before = [(await _run(reports_pool, settings, tenant.org_id, raw, "csv"))[0] for raw in inputs]
    assert any(mine.tag in b.decode() for b in before)
    await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    for raw, was in zip(inputs, before, strict=True):
        assert (await _run(reports_pool, settings, tenant.org_id, raw, "csv"))[0] == was, raw
        theirs, _ = await _run(reports_pool, settings, other_tenant.org_id, raw, "csv")
        assert mine.tag not in theirs.decode(), raw
        assert str(tenant.integration_id) not in theirs.decode(), raw


async def test_copy_writes_times_dates_and_booleans_as_the_python_writer_whatever_the_session_zone(
    reports_pool: Any,
) -> None:
    """The SQL of `_csv_text` against Python's isoformat, on whole seconds, microseconds and DST instants."""
    instants = [
        datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, 0, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, 5, 120000, tzinfo=UTC),
    ]
    async with reports_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL timezone = 'Europe/London'")
        for at in instants:
            sql = f"SELECT {store._csv_text('s.x', 'timestamptz')} FROM (SELECT $1::timestamptz AS x) s"
            assert await conn.fetchval(sql, at) == workflow._csv_cell(at), at
            naive = at.replace(tzinfo=None)
            sql = f"SELECT {store._csv_text('s.x', 'timestamp')} FROM (SELECT $1::timestamp AS x) s"
            assert await conn.fetchval(sql, naive) == workflow._csv_cell(naive), naive
        sql = f"SELECT {store._csv_text('s.x', 'date')} FROM (SELECT $1::date AS x) s"
        assert await conn.fetchval(sql, date(2026, 1, 2)) == "2026-01-02"
        for flag in (True, False, None):
            sql = f"SELECT {store._csv_text('s.x', 'bool')} FROM (SELECT $1::bool AS x) s"
            assert await conn.fetchval(sql, flag) == (None if flag is None else workflow._csv_cell(flag))
    assert store._csv_text("s.x", "jsonb") is None and store._csv_text("s.x", "float8") is None  # Python writes those
