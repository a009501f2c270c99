"""Report exports, service side: for every catalogue report, the CSV and the XLSX of the same run hold the same
rows as the run read whole, however small the batches (keyset batches lose and repeat nothing)."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

from openpyxl import load_workbook

from services.reports.domain import catalogue
from services.reports.service import reports as workflow
from shared.db import tenant_tx
from tests.services.reports.report_data import feed, last_days, store_rates


async def _file(reports_pool: Any, settings: Any, tenant: Any, raw: dict[str, Any], fmt: str) -> bytes:
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        q = await workflow.parse(conn, tenant.org_id, raw)
    small = dataclasses.replace(settings, export_batch_rows=2, export_csv_batch_rows=3)
    stream = await workflow.open_export(reports_pool, tenant.org_id, q, fmt, small)
    return b"".join([chunk async for chunk in stream])


async def test_csv_and_xlsx_of_every_report_hold_the_same_rows(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, settings: Any, tenant: Any
) -> None:
    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    for report in catalogue.REPORTS:
        raw = {"report": report.key, "filters": {"range": last_days()}, "columns": [c.key for c in report.columns]}
        async with tenant_tx(reports_pool, tenant.org_id) as conn:
            preview = await workflow.preview(conn, tenant.org_id, raw)
        rows = list(csv.reader(io.StringIO((await _file(reports_pool, settings, tenant, raw, "csv")).decode())))
        book = load_workbook(io.BytesIO(await _file(reports_pool, settings, tenant, raw, "xlsx")), read_only=True)
        width = len(preview["columns"])
        sheet = [
            [None if v is None else v for v in (*r, *[None] * (width - len(r)))]
            for r in book.active.iter_rows(values_only=True)
        ]
        assert len(rows) == len(sheet) == preview["totalRows"] + 1, report.key
        assert rows[0] == [c["label"] for c in preview["columns"]]
        for i, c in enumerate(preview["columns"]):
            if c["type"] in ("text", "id"):
                assert [r[i] for r in rows[1:]] == [r[i] or "" for r in sheet[1:]], (report.key, c["key"])
            if c["type"] in ("number", "money"):
                assert [r[i] for r in rows[1:11]] == [v[i] or "" for v in preview["rows"]], (report.key, c["key"])
