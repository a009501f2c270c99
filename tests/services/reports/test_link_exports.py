"""An export link's CSV and XLSX (kind REPORT) from one server-side cursor in one bounded snapshot
(service/runs.py `open_link`): byte for byte the keyset batches' CSV (`open_export`, the former path) for
itemised, grouped and analytical reports, and the same XLSX cells; a client that stops reading past
EXPORT_IDLE_IN_TRANSACTION_MS loses the snapshot; another organisation's rows never show."""

from __future__ import annotations

from typing import Any

import pytest

from services.reports.service import reports as workflow
from shared.config import Settings
from shared.db import tenant_tx
from tests.services.reports.report_data import feed, last_days, store_rates

CASES: list[dict[str, Any]] = [
    {"report": "event_log", "filters": {"range": last_days()}},
    {"report": "orders_with_commission", "filters": {"range": last_days()}},
    {"report": "financial_transactions", "filters": {"range": last_days()}, "grouping": ["type", "state"]},
    {"report": "events_per_type", "filters": {"range": last_days(), "interval": "DAY"}},
]


async def _csv(
    opener: Any, reports_pool: Any, org_id: Any, raw: dict[str, Any], settings: Settings, fmt: str = "csv"
) -> bytes:
    async with tenant_tx(reports_pool, org_id) as conn:
        q = await workflow.parse(conn, org_id, raw)
    stream = await opener(reports_pool, org_id, q, fmt, settings)
    return b"".join([chunk async for chunk in stream])


def _cells(xlsx: bytes) -> list[tuple[Any, ...]]:
    import io

    from openpyxl import load_workbook

    return list(load_workbook(io.BytesIO(xlsx), read_only=True).active.iter_rows(values_only=True))


@pytest.mark.parametrize("batch", [1, 5000])
async def test_the_links_csv_is_the_keyset_csv(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any, other_tenant: Any, batch: int
) -> None:
    await store_rates(reports_pool)
    mine = await feed(gateway, pool, insights_pool, reports_pool, tenant)
    await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    settings = Settings()
    object.__setattr__(settings, "export_batch_rows", batch)  # one row per fetch: many fetches of one cursor
    for raw in CASES:
        linear = await _csv(workflow.WRITERS["csv"], reports_pool, tenant.org_id, raw, settings)
        keyset = await _csv(workflow.open_export, reports_pool, tenant.org_id, raw, settings)
        assert linear == keyset, raw["report"]
        assert linear.count(b"\n") > 1, raw["report"]
        linear = await _csv(workflow.WRITERS["xlsx"], reports_pool, tenant.org_id, raw, settings, "xlsx")
        keyset = await _csv(workflow.open_export, reports_pool, tenant.org_id, raw, settings, "xlsx")
        assert _cells(linear) == _cells(keyset) and len(_cells(linear)) > 1, raw["report"]
    theirs = await _csv(workflow.WRITERS["csv"], reports_pool, other_tenant.org_id, CASES[0], settings)
    assert mine.tag.encode() not in theirs and str(tenant.org_id).encode() not in theirs


async def test_a_client_that_stops_reading_loses_its_snapshot(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any
) -> None:
    import asyncio

    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    settings = Settings()
    object.__setattr__(settings, "export_batch_rows", 1)
    object.__setattr__(settings, "export_idle_in_transaction_ms", 300)
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        q = await workflow.parse(conn, tenant.org_id, CASES[0])
    stream = await workflow.WRITERS["csv"](reports_pool, tenant.org_id, q, "csv", settings)
    await stream.__anext__()  # the header
    await stream.__anext__()  # the first row
    await asyncio.sleep(1.5)  # idle in the transaction past its bound: the server ends the session
    with pytest.raises(Exception):  # noqa: B017 - asyncpg's or the pool's error, whichever reports it
        async for _ in stream:
            pass
    async with tenant_tx(reports_pool, tenant.org_id) as conn:  # the pool still serves
        assert await conn.fetchval("SELECT 1") == 1
