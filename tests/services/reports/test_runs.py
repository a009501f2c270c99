"""Report runs end to end: `runReport` through the gateway, the reports worker (a real Dramatiq worker on the real
broker) and the real local SMTP server (infra/mailbox.py); the messages and attachments are parsed and checked
against the preview. Also: the link for a large file, the PDF cap, an SMTP outage, redelivery, tenant isolation."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from infra.embedded import free_port
from infra.mailbox import Mailbox, StoredMessage
from services.reports.service import reports as workflow
from services.reports.service import runs
from shared.config import get_settings
from shared.db import tenant_tx
from tests.factories import gql
from tests.services.reports.report_data import feed, last_days, store_rates
from tests.workers import running_worker

RUN = """mutation($input: ReportInput!, $format: ReportRunFormat!) {
  runReport(input: $input, format: $format) { run { id status format } errors { field code message } } }"""
RUN_Q = """query($id: ID!) { reportRun(id: $id) { id status rowCount fileSize checksum queryHash watermark error
  attempts notifiedAt } }"""
RUNS_Q = "{ reportRuns(first: 50) { edges { node { id } } } }"
INPUT: dict[str, Any] = {"report": "orders_with_commission", "filters": {"range": last_days()}}


async def until(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate() if asyncio.iscoroutinefunction(predicate) else not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.fixture
def smtp_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    def point(url: str) -> None:
        monkeypatch.setenv("SMTP_URL", url)
        get_settings.cache_clear()

    yield point
    monkeypatch.delenv("SMTP_URL", raising=False)
    get_settings.cache_clear()


@pytest.fixture
def worker(servers: None) -> Iterator[None]:
    from shared.service.worker import setup_worker

    setup_worker("reports", configure_logging=False)
    from services.reports import actors  # noqa: F401  (the run actor declares on the broker)

    with running_worker({runs.RUNS_QUEUE}, threads=2):
        yield


def _of(box: Mailbox, run_id: str) -> list[StoredMessage]:
    return [m for m in box.messages() if run_id in m.text()]


def _attachment(m: StoredMessage) -> bytes:
    [part] = list(m.read().iter_attachments())
    return bytes(part.get_payload(decode=True))


async def _preview(reports_pool: Any, tenant: Any) -> dict[str, Any]:
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        return await workflow.preview(conn, tenant.org_id, INPUT)


async def _start(gateway: Any, tenant: Any, fmt: str, *, admin: bool = True) -> str:
    token = tenant.admin_token if admin else tenant.member_token
    r = await gql(gateway, RUN, {"input": INPUT, "format": fmt.upper()}, token=token)
    assert r.get("errors") is None and r["data"]["runReport"]["errors"] == [], r
    return str(r["data"]["runReport"]["run"]["id"])


async def test_each_format_is_mailed_to_the_requester_with_the_preview_rows(
    gateway, pool, insights_pool, reports_pool, tenant, tmp_path: Path, smtp_url, worker
) -> None:
    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    preview = await _preview(reports_pool, tenant)
    labels = [c["label"] for c in preview["columns"]]
    assert preview["totalRows"] >= 3
    with Mailbox(tmp_path / "mail", free_port()) as box:
        smtp_url(box.url)
        ids = {fmt: await _start(gateway, tenant, fmt) for fmt in ("csv", "xlsx", "pdf")}
        await until(lambda: all(len(_of(box, i)) == 1 for i in ids.values()), what="three messages")
        files = {fmt: _attachment(_of(box, i)[0]) for fmt, i in ids.items()}
        for i in ids.values():
            assert _of(box, i)[0].to.endswith("@example.com") and "admin-" in _of(box, i)[0].to
    rows = list(csv.reader(io.StringIO(files["csv"].decode())))
    assert rows[0] == labels and len(rows) == preview["totalRows"] + 1
    assert [r[0] for r in rows[1:11]] == [v[0] or "" for v in preview["rows"]]
    sheet = list(load_workbook(io.BytesIO(files["xlsx"]), read_only=True).active.iter_rows(values_only=True))
    assert [str(c) for c in sheet[0]] == labels and len(sheet) == len(rows)
    assert [str(r[0]) for r in sheet[1:11]] == [v[0] for v in preview["rows"]]
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(files["pdf"])).pages]
    assert "Test Partner" in pages[0] and str(INPUT["filters"]["range"]["from"]) in pages[0]
    assert all(labels[0] in p and f"Page {n} of" in p for n, p in enumerate(pages, 1))
    short = [v for row in preview["rows"][:3] for v in row if v and len(v) <= 12]  # long ids are cut with "…"
    assert short and all(v in pages[0] for v in short), short
    for fmt, i in ids.items():
        r = (await gql(gateway, RUN_Q, {"id": i}, token=tenant.admin_token))["data"]["reportRun"]
        assert r["status"] == "SUCCEEDED" and r["rowCount"] == preview["totalRows"], r
        assert r["checksum"] == hashlib.sha256(files[fmt]).hexdigest() and r["fileSize"] == len(files[fmt])
        assert len(r["queryHash"]) == 64 and r["watermark"]["orders"] is not None and r["notifiedAt"]


async def test_a_large_file_goes_as_a_link_that_downloads_the_same_bytes_and_runs_stay_in_their_organisation(
    gateway, pool, insights_pool, reports_pool, tenant, other_tenant, tmp_path, smtp_url, worker, monkeypatch
) -> None:
    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    monkeypatch.setenv("REPORT_ATTACHMENT_MAX_BYTES", "10")
    with Mailbox(tmp_path / "mail", free_port()) as box:
        smtp_url(box.url)
        run_id = await _start(gateway, tenant, "csv")
        await until(lambda: len(_of(box, run_id)) == 1, what="the message")
        [m] = _of(box, run_id)
    assert not list(m.read().iter_attachments())
    url = re.search(r"http://gateway\.test(/exports/\S+)", m.text())
    assert url is not None, m.text()
    r = (await gql(gateway, RUN_Q, {"id": run_id}, token=tenant.admin_token))["data"]["reportRun"]
    got = await gateway.get(url.group(1))
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == r["checksum"]
    # Another organisation sees neither the run nor its file.
    assert (await gql(gateway, RUN_Q, {"id": run_id}, token=other_tenant.admin_token))["data"]["reportRun"] is None
    listed = (await gql(gateway, RUNS_Q, token=other_tenant.admin_token))["data"]["reportRuns"]["edges"]
    assert run_id not in [e["node"]["id"] for e in listed]
    assert await runs.stream_file(reports_pool, other_tenant.org_id, UUID(run_id)) is None
    # A member sees their own runs only; the admin's run is not theirs.
    assert (await gql(gateway, RUN_Q, {"id": run_id}, token=tenant.member_token))["data"]["reportRun"] is None


async def test_pdf_above_the_cap_is_refused_naming_format(
    gateway, pool, insights_pool, reports_pool, tenant, monkeypatch
) -> None:
    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    monkeypatch.setenv("REPORT_PDF_MAX_ROWS", "1")
    r = await gql(gateway, RUN, {"input": INPUT, "format": "PDF"}, token=tenant.admin_token)
    [err] = r["data"]["runReport"]["errors"]
    assert err["field"] == "format" and "CSV or XLSX" in err["message"]
    assert (await gql(gateway, RUNS_Q, token=tenant.admin_token))["data"]["reportRuns"]["edges"] == []


async def test_smtp_down_the_run_retries_and_mails_once_and_a_redelivery_sends_nothing(
    gateway, pool, insights_pool, reports_pool, tenant, tmp_path, smtp_url, worker
) -> None:
    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    port = free_port()
    smtp_url(f"smtp://127.0.0.1:{port}")  # nothing listens yet
    run_id = await _start(gateway, tenant, "csv")

    async def built() -> bool:
        r = (await gql(gateway, RUN_Q, {"id": run_id}, token=tenant.admin_token))["data"]["reportRun"]
        return bool(r["status"] == "SUCCEEDED" and r["notifiedAt"] is None)

    await until(built, what="the run built, its mail pending")
    with Mailbox(tmp_path / "mail", port) as box:
        await until(lambda: len(_of(box, run_id)) == 1, timeout=40, what="the retried mail")
        await runs.enqueue(tenant.org_id, UUID(run_id))  # a redelivered job
        await asyncio.sleep(3)
        assert len(_of(box, run_id)) == 1
    r = (await gql(gateway, RUN_Q, {"id": run_id}, token=tenant.admin_token))["data"]["reportRun"]
    assert r["attempts"] == 1 and r["notifiedAt"]
