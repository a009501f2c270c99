"""The reports catalogue through the gateway: `reports`, `reportPreview`, saved configurations and REPORT exports
(CSV and XLSX through the export links), bad input naming its field, and another organisation seeing nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from tests.factories import gql
from tests.services.reports.report_data import feed, last_days, store_rates


@pytest.fixture
async def rgw(gateway: httpx.AsyncClient) -> httpx.AsyncClient:
    """The session's gateway (pointed at the served reports API too)."""
    return gateway


PREVIEW = """query($input: ReportInput!) { reportPreview(input: $input) {
  preview { columns { key label type } rows totalRows baseCurrency }
  errors { field code message } } }"""
EXPORT = """mutation($format: ExportFormat!, $input: ReportInput) {
  requestExport(kind: REPORT, format: $format, reportInput: $input) { url errors { field code message } } }"""
SAVE = """mutation($name: String!, $input: ReportInput!, $id: ID) {
  saveReport(name: $name, input: $input, id: $id) { savedReport { id name report input } errors { field code } } }"""


def _path(url: str) -> str:
    return "/exports/" + url.rsplit("/exports/", 1)[1]


async def test_catalogue_preview_and_exports_agree(
    rgw: Any, gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any, other_tenant: Any
) -> None:
    await store_rates(reports_pool)
    mine = await feed(gateway, pool, insights_pool, reports_pool, tenant)
    await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    token = tenant.admin_token

    listed = await gql(rgw, "{ reports { key area kind columns { key groupable aggregates } } }", token=token)
    reports = listed["data"]["reports"]
    assert len(reports) == 22 and {r["area"] for r in reports} >= {"Contacts", "Financials", "Leads", "Inventory"}

    for key in ("event_log", "orders_with_commission", "revenue_per_period"):
        report = next(r for r in reports if r["key"] == key)
        config = {"report": key, "filters": {"range": last_days()}, "columns": [c["key"] for c in report["columns"]]}
        answer = (await gql(rgw, PREVIEW, {"input": config}, token=token))["data"]["reportPreview"]
        assert answer["errors"] == [], answer
        preview = answer["preview"]
        files = {}
        for fmt in ("CSV", "XLSX"):
            link = (await gql(rgw, EXPORT, {"format": fmt, "input": config}, token=token))["data"]["requestExport"]
            assert link["errors"] == [] and link["url"], link
            r = await rgw.get(_path(link["url"]))
            assert r.status_code == 200, r.text
            files[fmt] = r.content
        csv_rows = list(csv.reader(io.StringIO(files["CSV"].decode())))
        book = load_workbook(io.BytesIO(files["XLSX"]), read_only=True)
        width = len(preview["columns"])
        xlsx_rows = [
            ["" if v is None else str(v) for v in (*row, *[None] * (width - len(row)))]
            for row in book.active.iter_rows(values_only=True)
        ]
        assert csv_rows[0] == [c["label"] for c in preview["columns"]] == xlsx_rows[0]
        assert len(csv_rows) - 1 == preview["totalRows"] == len(xlsx_rows) - 1, key
        # The preview is the start of the file; CSV and XLSX hold the same rows (cell by cell as text, where
        # XLSX types numbers and times: compare the columns both write as text).
        text_cols = [i for i, c in enumerate(preview["columns"]) if c["type"] in ("text", "id")]
        for i, row in enumerate(preview["rows"]):
            assert [row[j] or "" for j in text_cols] == [csv_rows[i + 1][j] for j in text_cols]
        assert [[r[j] for j in text_cols] for r in csv_rows[1:]] == [[r[j] for j in text_cols] for r in xlsx_rows[1:]]
        # Another organisation's run of the same configuration holds none of this one's rows.
        theirs = (await gql(rgw, PREVIEW, {"input": config}, token=other_tenant.admin_token))["data"]["reportPreview"]
        assert not any(mine.tag in (cell or "") for row in theirs["preview"]["rows"] for cell in row)
        link = (await gql(rgw, EXPORT, {"format": "CSV", "input": config}, token=other_tenant.admin_token))["data"]
        r = await rgw.get(_path(link["requestExport"]["url"]))
        assert mine.tag not in r.text and str(tenant.integration_id) not in r.text

    # Grouped: the exported file has the row kinds, subtotals after their rows.
    grouped = {
        "report": "event_log",
        "filters": {"range": last_days()},
        "columns": ["type", "entity_id", "amount", "currency"],
        "grouping": ["type"],
    }
    link = (await gql(rgw, EXPORT, {"format": "CSV", "input": grouped}, token=token))["data"]["requestExport"]
    rows = list(csv.reader(io.StringIO((await rgw.get(_path(link["url"]))).text)))
    assert rows[0][-1] == "Row" and rows[-1][-1] == "total" and {r[-1] for r in rows[1:]} == {"row", "total"}


async def test_bad_input_names_its_field_and_makes_no_link(rgw: Any, pool: Any, reports_pool: Any, tenant: Any) -> None:
    from tests.services.reports.feed import apply_orders, outbox_events

    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))  # the organisation's settings
    bad = {"report": "revenue_per_period", "columns": ["period", "custom.tier"]}
    answer = (await gql(rgw, PREVIEW, {"input": bad}, token=tenant.admin_token))["data"]["reportPreview"]
    assert answer["preview"] is None and answer["errors"][0]["field"] == "input.columns[1]"
    link = (await gql(rgw, EXPORT, {"format": "CSV", "input": bad}, token=tenant.admin_token))["data"]
    assert link["requestExport"]["url"] is None
    assert link["requestExport"]["errors"][0]["field"] == "reportInput.columns[1]"
    unknown = (await gql(rgw, PREVIEW, {"input": {"report": "nope"}}, token=tenant.admin_token))["data"]
    assert unknown["reportPreview"]["errors"][0]["field"] == "input.report"
    group = {"report": "event_log", "grouping": ["occurred_at"]}
    answer = (await gql(rgw, PREVIEW, {"input": group}, token=tenant.admin_token))["data"]["reportPreview"]
    assert answer["errors"][0]["field"] == "input.grouping[0]"


async def test_saved_reports_belong_to_the_organisation(
    rgw: Any, gateway: Any, pool: Any, reports_pool: Any, tenant: Any, other_tenant: Any
) -> None:
    from tests.services.reports.feed import apply_orders, outbox_events

    for t in (tenant, other_tenant):  # the organisations' settings reach the reports service
        await apply_orders(reports_pool, await outbox_events(pool, t.org_id))
    config = {"report": "leads", "columns": ["entity_id", "source"], "sort": [{"column": "source"}]}
    saved = (await gql(rgw, SAVE, {"name": "My leads", "input": config}, token=tenant.member_token))["data"]
    made = saved["saveReport"]["savedReport"]
    assert saved["saveReport"]["errors"] == [] and made["report"] == "leads"
    assert made["input"]["columns"] == ["entity_id", "source"]
    dup = (await gql(rgw, SAVE, {"name": "My leads", "input": config}, token=tenant.admin_token))["data"]
    assert dup["saveReport"]["errors"][0]["field"] == "name"
    bad = await gql(
        rgw, SAVE, {"name": "Bad", "input": {"report": "leads", "columns": ["x"]}}, token=tenant.admin_token
    )
    assert bad["data"]["saveReport"]["errors"][0]["field"] == "input.columns[0]"
    listed = await gql(rgw, "{ savedReports { id name } }", token=tenant.admin_token)
    assert [s["name"] for s in listed["data"]["savedReports"]] == ["My leads"]

    # Another organisation: sees nothing, reads null, changes and deletes nothing.
    other = other_tenant.admin_token
    assert (await gql(rgw, "{ savedReports { id } }", token=other))["data"]["savedReports"] == []
    one = await gql(rgw, "query($id: ID!) { savedReport(id: $id) { id } }", {"id": made["id"]}, token=other)
    assert one["data"]["savedReport"] is None
    change = await gql(rgw, SAVE, {"name": "Mine now", "input": config, "id": made["id"]}, token=other)
    assert change["data"]["saveReport"]["errors"][0]["code"] == "NOT_FOUND"
    delete = "mutation($id: ID!) { deleteSavedReport(id: $id) { deleted errors { code } } }"
    gone = await gql(rgw, delete, {"id": made["id"]}, token=other)
    assert gone["data"]["deleteSavedReport"]["deleted"] is False
    again = await gql(
        rgw, "query($id: ID!) { savedReport(id: $id) { name } }", {"id": made["id"]}, token=tenant.admin_token
    )
    assert again["data"]["savedReport"]["name"] == "My leads"

    renamed = await gql(rgw, SAVE, {"name": "Leads", "input": config, "id": made["id"]}, token=tenant.admin_token)
    assert renamed["data"]["saveReport"]["savedReport"]["name"] == "Leads"
    gone = await gql(rgw, delete, {"id": made["id"]}, token=tenant.admin_token)
    assert gone["data"]["deleteSavedReport"]["deleted"] is True
    assert (await gql(rgw, "{ savedReports { id } }", token=tenant.admin_token))["data"]["savedReports"] == []


async def test_a_report_downloads_as_pdf_within_its_row_cap_and_only_reports_do(
    rgw: Any, gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any, monkeypatch: Any
) -> None:
    from pypdf import PdfReader

    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    config = {"report": "event_log", "filters": {"range": last_days()}}
    token = tenant.admin_token
    link = (await gql(rgw, EXPORT, {"format": "PDF", "input": config}, token=token))["data"]["requestExport"]
    assert link["errors"] == [] and link["url"], link
    r = await rgw.get(_path(link["url"]))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    assert "Event log" in text

    monkeypatch.setenv("REPORT_PDF_MAX_ROWS", "1")  # the reports API reads the cap when asked
    capped = (await gql(rgw, EXPORT, {"format": "PDF", "input": config}, token=token))["data"]["requestExport"]
    assert capped["url"] is None and [e["field"] for e in capped["errors"]] == ["format"], capped
    orders = await gql(
        rgw, "mutation { requestExport(kind: ORDERS, format: PDF) { url errors { field code } } }", token=token
    )
    assert orders["data"]["requestExport"]["errors"] == [{"field": "format", "code": "INVALID_INPUT"}]
