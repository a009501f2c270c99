"""`create_run`'s request-time check is cheap: a PDF of an itemised report is refused above its cap by a count
that stops at cap + 1 (exactly at the cap it is accepted); nothing else runs the statement at request time, so
a run whose statement would fail or take long is queued and left to the worker, which enforces the cap of an
aggregated PDF and refuses a missing FX rate, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from services.reports.repository import reports as store
from services.reports.service import reports as workflow
from services.reports.service import runs
from shared.db import connection, tenant_tx
from shared.errors import DomainError
from tests.services.reports.report_data import feed, last_days, store_rates

REQUESTER = {"subject": "auth0|someone", "email": "someone@example.com", "role": "admin"}


@pytest.fixture
async def fed(gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any) -> Any:
    await store_rates(reports_pool)
    return await feed(gateway, pool, insights_pool, reports_pool, tenant)


async def _create(reports_pool: Any, tenant: Any, raw: dict[str, Any], fmt: str) -> dict[str, Any]:
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        return await runs.create_run(conn, tenant.org_id, REQUESTER, raw, fmt, send=False)


async def _rows(reports_pool: Any, tenant: Any, raw: dict[str, Any]) -> int:
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        return int((await workflow.preview(conn, tenant.org_id, raw))["totalRows"])


async def test_an_itemised_pdf_is_refused_above_its_cap_and_accepted_at_it(
    fed: Any, reports_pool: Any, tenant: Any, monkeypatch: Any
) -> None:
    raw = {"report": "event_log", "filters": {"range": last_days()}}
    total = await _rows(reports_pool, tenant, raw)
    assert total > 2
    monkeypatch.setenv("REPORT_PDF_MAX_ROWS", str(total))
    run = await _create(reports_pool, tenant, raw, "pdf")
    assert run["format"] == "pdf"
    monkeypatch.setenv("REPORT_PDF_MAX_ROWS", str(total - 1))
    with pytest.raises(DomainError) as refused:
        await _create(reports_pool, tenant, raw, "pdf")
    assert refused.value.field == "format" and "CSV or XLSX" in refused.value.message
    async with tenant_tx(reports_pool, tenant.org_id) as conn:  # the refused one left nothing
        n = await conn.fetchval("SELECT count(*) FROM report_runs WHERE org_id = $1", tenant.org_id)
    assert n == 1


async def test_the_count_stops_at_its_limit(fed: Any, reports_pool: Any, tenant: Any) -> None:
    raw = {"report": "event_log", "filters": {"range": last_days()}}
    total = await _rows(reports_pool, tenant, raw)
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        q = await workflow.parse(conn, tenant.org_id, raw)
        base, _ = await workflow.settings_of(conn, tenant.org_id)
        st = store.statement(q, tenant.org_id, base)
        assert await store.count_at_most(conn, st, 2) == 2
        assert await store.count_at_most(conn, st, total + 5) == total


async def test_a_run_is_queued_without_running_its_statement_and_the_worker_refuses(
    fed: Any, reports_pool: Any, settings: Any, tenant: Any, monkeypatch: Any
) -> None:
    # A missing rate: the request queues the run (the statement is not run at request time)...
    async with connection(reports_pool) as conn:
        await conn.execute("DELETE FROM fx_rates WHERE currency = 'USD'")
    raw = {"report": "financial_transactions", "filters": {"range": last_days()}}
    try:
        run = await _create(reports_pool, tenant, raw, "csv")
        # ...and the build refuses it, naming the currency (the worker fails it at once and mails why).
        with pytest.raises(DomainError) as refused:
            await runs._build(reports_pool, tenant.org_id, run, settings)
        assert refused.value.field == "currency" and "USD" in refused.value.message
    finally:
        await store_rates(reports_pool)

    # An aggregated PDF above the cap: queued at request time, refused by the build naming `format`.
    monkeypatch.setenv("REPORT_PDF_MAX_ROWS", "1")
    raw = {"report": "events_per_type", "filters": {"range": last_days()}}
    assert await _rows(reports_pool, tenant, raw) > 1
    run = await _create(reports_pool, tenant, raw, "pdf")
    with pytest.raises(DomainError) as refused:
        await runs._build(reports_pool, tenant.org_id, run, settings)
    assert refused.value.field == "format"
