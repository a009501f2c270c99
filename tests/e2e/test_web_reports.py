"""End to end, the Reports area in a real browser (the session's platform and Chromium, tests/e2e/conftest.py):
a report grouped by status previews the API's grouped row count with its total row; a column dragged onto another
(HTML5 drag and drop) reorders the URL and the table; a custom field defined on the Custom fields page is offered
as a column and shows in the preview; the report as previewed is run by email (Email XLSX, Email PDF) and both
messages are read from the session's SMTP server (to the signed-in user; the XLSX has the preview's header and row
count, the PDF is a PDF of them, each run's row count the preview's); a schedule made from the report page with a
member and a team as recipients, then paused (the API's state checked each time); a run made with runReport is
listed in the run history and its download is the run's file, with the preview's rows. axe and screenshots of
every page (tests/e2e/artifacts/web/reports-*), and the new pages at 390 px without sideways scrolling."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import openpyxl
import pytest
from pypdf import PdfReader

from infra.dev_issuer import DevIssuer
from infra.mailbox import Mailbox, StoredMessage
from tests.e2e.test_platform import Platform, _until
from tests.e2e.web_browser import admin_email, api, signed_in

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
expect.set_options(timeout=15_000)

REPORT = "orders_with_commission"
RANGE = {"preset": "LAST_7_DAYS"}
PREVIEW = """query($input: ReportInput!) { reportPreview(input: $input) {
  preview { columns { key label } rows totalRows } errors { field message } } }"""
RUN = """mutation($input: ReportInput!) { runReport(input: $input, format: CSV) {
  run { id } errors { field message } } }"""
TEAM = "mutation($n: String!) { createTeam(name: $n) { team { id } errors { message } } }"
RUN_Q = "query($id: ID!) { reportRun(id: $id) { status rowCount error } }"
SCHEDULES = "{ reportSchedules { id name status memberIds teamIds cadence timeZone weekday time report } }"
FIELDS = '{ customFields(entity: "order") { id key name type } }'


async def _preview(client: httpx.AsyncClient, tenant: Any, config: dict[str, Any]) -> Any:
    r = await client.post(
        "/graphql",
        json={"query": PREVIEW, "variables": {"input": config}},
        headers={"authorization": f"Bearer {tenant.admin_token}"},
    )
    body = r.json()
    # Until the organisation's settings reach the reports service, a preview answers "try again".
    return None if body.get("errors") or body["data"]["reportPreview"]["errors"] else body["data"]["reportPreview"]


def _attachment(m: StoredMessage) -> tuple[str, bytes]:
    [part] = list(m.read().iter_attachments())
    return str(part.get_filename()), bytes(part.get_payload(decode=True))


def _columns(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query)["columns"][0].split(",")


async def test_reports_grouping_columns_custom_fields_schedules_and_runs(
    web_platform: Platform, web_mailbox: Mailbox, browser: Any, tenant: Any, issuer: DevIssuer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    async with httpx.AsyncClient(base_url=web_platform.url, timeout=20) as client:
        # Three orders as an integration sends them; waited for in the reports service.
        for n in range(3):
            r = await client.post(
                "/v1/orders",
                headers={"authorization": f"Bearer {tenant.api_key}"},
                json={
                    "externalRef": f"rep-{tag}-{n}",
                    "productId": str(tenant.products["Broadband"]),
                    "customer": {"email": f"rep-{tag}-{n}@example.com"},
                },
            )
            assert r.status_code == 201, r.text
        plain = {"report": REPORT, "filters": {"range": RANGE}}

        async def fed() -> Any:
            p = await _preview(client, tenant, plain)
            return p if p and p["preview"]["totalRows"] >= 3 else None

        assert await _until(fed, 60), "the orders did not reach the reports service in 60 s"
        people = await api(client, tenant.admin_token, "{ members { id email role } }")
        member = next(m for m in people["members"] if m["role"] == "MEMBER")
        team = await api(client, tenant.admin_token, TEAM, {"n": f"Finance {tag}"})
        team_id = team["createTeam"]["team"]["id"]
        added = await api(
            client,
            tenant.admin_token,
            "mutation($t: ID!, $m: ID!) { addTeamMember(teamId: $t, memberId: $m) { errors { message } } }",
            {"t": team_id, "m": member["id"]},
        )
        assert added["addTeamMember"]["errors"] == []

        async with signed_in(browser, web_platform, issuer, tenant, landing="/reports", shot="reports-last") as b:
            page = b.page
            page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
            await expect(page.get_by_role("navigation", name="Reports area")).to_be_visible()
            await page.get_by_role("heading", name="Orders", exact=True).wait_for()

            # --- a custom field defined (admins), then offered as a column of the orders report
            await page.get_by_role("navigation", name="Reports area").get_by_role("link", name="Custom fields").click()
            await page.wait_for_url(re.compile(r"/reports/custom-fields$"))
            form = page.get_by_role("form", name="Define a custom field")
            await form.get_by_label("Entity").select_option("order")
            await form.get_by_label("Name").fill("")
            await form.get_by_role("button", name="Define field").click()
            await expect(form.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
            name = f"Sales channel {tag}"
            await form.get_by_label("Name").fill(name)
            await form.get_by_role("button", name="Define field").click()
            await expect(page.get_by_role("status").filter(has_text=f"Defined {name}")).to_be_visible()
            fields = (await api(client, tenant.admin_token, FIELDS))["customFields"]
            [field] = [f for f in fields if f["name"] == name]
            await expect(page.locator("table").get_by_text(f"custom.{field['key']}")).to_be_visible()
            # renamed: its key (the report column) stays
            await page.get_by_role("button", name=f"Edit {name}").click()
            edit = page.get_by_role("form", name=f"Edit {name}")
            await expect(edit.get_by_label("Type (fixed once defined)")).to_be_disabled()
            name = f"{name} (web)"
            await edit.get_by_label("Name").fill(name)
            await edit.get_by_role("button", name="Save field").click()
            await expect(page.get_by_role("status").filter(has_text=f"Saved {name}")).to_be_visible()
            [renamed] = [
                f for f in (await api(client, tenant.admin_token, FIELDS))["customFields"] if f["id"] == field["id"]
            ]
            assert (renamed["name"], renamed["key"]) == (name, field["key"])
            # the same name again: the API's refusal on the Name field
            await form.get_by_label("Name").fill(name)
            await form.get_by_role("button", name="Define field").click()
            await expect(form.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
            assert len((await api(client, tenant.admin_token, FIELDS))["customFields"]) == len(fields)
            await b.shot("reports-01-custom-fields")
            await b.axe("reports-custom-fields")

            # --- the report: grouped by status, the count is the API's, with subtotal/total rows
            await page.goto(f"{web_platform.url}/reports/{REPORT}?preset=LAST_7_DAYS")
            count = page.locator("p.count[data-total]")
            await count.wait_for()
            await page.get_by_label("Group by").select_option("status")
            await page.wait_for_url(re.compile(r"group=status"))
            columns_now = (await _preview(client, tenant, plain))["preview"]["columns"]
            grouped_input = {**plain, "columns": [c["key"] for c in columns_now], "grouping": ["status"]}
            grouped = await _preview(client, tenant, grouped_input)
            assert grouped and grouped["preview"]["totalRows"] >= 2
            await expect(count).to_have_attribute("data-total", str(grouped["preview"]["totalRows"]))
            shown = min(10, len(grouped["preview"]["rows"]))
            await expect(page.locator("table.report-preview tbody tr")).to_have_count(shown)
            await expect(page.locator("table.report-preview tr.row-total")).to_have_count(1)
            await expect(page.locator("table.report-preview tr.row-total td").last).to_have_text("Total")
            # a summary other than the default: the average amount per group, as the API answers it
            await page.get_by_label("Summary of Amount").select_option("AVERAGE")
            await page.wait_for_url(re.compile(r"agg=amount%3AAVERAGE|agg=amount:AVERAGE"))
            averaged = await _preview(
                client, tenant, {**grouped_input, "aggregates": [{"column": "amount", "function": "AVERAGE"}]}
            )
            assert averaged
            labels = [c["label"] for c in averaged["preview"]["columns"] if c["key"] != "_row"]
            assert "Average of Amount" in labels
            await expect(page.locator("table.report-preview thead th")).to_contain_text([*labels, "Row"])
            await expect(count).to_have_attribute("data-total", str(averaged["preview"]["totalRows"]))
            await b.shot("reports-02-grouped")
            await b.axe("reports-grouped")
            await page.get_by_label("Group by").select_option("")
            await expect(page.locator("table.report-preview tr.row-total")).to_have_count(0)

            # --- a column dragged onto the first place: the URL and the table follow
            await page.locator("details.column-details summary").click()
            items = page.locator(".column-list li")
            third = await items.nth(2).get_attribute("data-column")
            headers = page.locator("table.report-preview thead th")
            third_label = await headers.nth(2).inner_text()
            await items.nth(2).drag_to(items.nth(0))
            await page.wait_for_url(re.compile(r"columns="))
            assert _columns(page.url)[0] == third
            await expect(headers.first).to_have_text(third_label)
            await expect(page.get_by_test_id("column-announcement")).to_have_text(re.compile("moved to position 1 of"))

            # --- the custom field offered as a column, added, shown in the preview
            add = page.get_by_label("Add a column")
            await expect(add.locator("option", has_text=f"Custom: {name}")).to_have_count(1)
            await add.select_option(label=f"Custom: {name}")
            await page.wait_for_url(re.compile(rf"custom\.{field['key']}"))
            await expect(headers.last).to_have_text(f"Custom: {name}")
            configured = _columns(page.url)
            await b.shot("reports-03-report")
            await b.axe("reports-report")

            # --- the report as configured, run and emailed (XLSX, then PDF): queued; the mail is read further on
            previewed = int(await count.get_attribute("data-total") or "-1")
            labels_shown = await headers.all_inner_texts()
            for fmt in ("XLSX", "PDF"):
                await page.get_by_role("button", name=f"Email {fmt}", exact=True).click()
                queued = page.get_by_role("status").filter(has_text=f"The {fmt} run is queued")
                await expect(queued).to_contain_text("it will be emailed to you")

            # --- Schedule: the report's configuration carried to the form; a member and a team as recipients
            await page.get_by_role("link", name="Schedule", exact=True).click()
            await page.wait_for_url(re.compile(r"/reports/schedules\?new=1"))
            form = page.get_by_role("form", name="New schedule")
            await form.get_by_label("Name").fill(f"Weekly orders {tag}")
            await form.get_by_label("Frequency").select_option("WEEKLY")
            await form.get_by_label("Day", exact=True).select_option("3")
            await form.get_by_label("Time (HH:MM)").fill("07:30")
            await form.get_by_label("Time zone").select_option("Europe/Paris")
            await form.get_by_label(member["email"]).check()
            await form.get_by_label(re.compile(f"^Finance {tag}")).check()
            await b.axe("reports-schedule-form")
            await form.get_by_role("button", name="Create schedule").click()
            await expect(page.get_by_role("status").filter(has_text=f"Scheduled Weekly orders {tag}")).to_be_visible()
            [schedule] = (await api(client, tenant.admin_token, SCHEDULES))["reportSchedules"]
            assert schedule["memberIds"] == [member["id"]] and schedule["teamIds"] == [team_id]
            assert (schedule["cadence"], schedule["weekday"], schedule["time"], schedule["timeZone"]) == (
                "WEEKLY",
                3,
                "07:30",
                "Europe/Paris",
            )
            assert schedule["report"]["columns"] == configured and schedule["report"]["report"] == REPORT
            row = page.locator(f'tr[data-schedule="{schedule["id"]}"]')
            await expect(row).to_contain_text("Every Wednesday at 07:30 (Europe/Paris)")
            await expect(row).to_contain_text(member["email"])
            await expect(row).to_contain_text(f"team Finance {tag}")
            await row.get_by_role("button", name=re.compile("^Pause")).click()
            await expect(row.get_by_role("button", name=re.compile("^Resume"))).to_be_visible()
            [paused] = (await api(client, tenant.admin_token, SCHEDULES))["reportSchedules"]
            assert paused["status"] == "PAUSED"
            # edited: another time, the recipients kept
            await row.get_by_role("link", name=re.compile("^Edit")).click()
            edit = page.get_by_role("form", name=f"Edit Weekly orders {tag}")
            await expect(edit.get_by_label(member["email"])).to_be_checked()
            await edit.get_by_label("Time (HH:MM)").fill("09:15")
            await edit.get_by_role("button", name="Save schedule").click()
            await expect(row).to_contain_text("Every Wednesday at 09:15 (Europe/Paris)")
            [edited] = (await api(client, tenant.admin_token, SCHEDULES))["reportSchedules"]
            assert (edited["time"], edited["memberIds"], edited["teamIds"]) == ("09:15", [member["id"]], [team_id])
            await b.shot("reports-04-schedules")
            await b.axe("reports-schedules")

            # --- the emails of the runs asked for on the report page, as the SMTP server received them: to the
            # signed-in user, the XLSX with the preview's columns and as many rows as its total, the PDF a PDF of them
            me = admin_email(tenant)

            async def mailed() -> dict[str, StoredMessage] | None:
                mine = {m.subject.rsplit("(", 1)[-1].rstrip(")"): m for m in web_mailbox.messages() if m.to == me}
                return mine if {"XLSX", "PDF"} <= mine.keys() else None

            mails = await _until(mailed, 90)
            assert mails, f"the XLSX and PDF runs were not mailed to {me} within 90 s: {web_mailbox.messages()}"
            name_x, xlsx = _attachment(mails["XLSX"])
            assert name_x.endswith(".xlsx"), name_x
            book = await asyncio.to_thread(openpyxl.load_workbook, io.BytesIO(xlsx), read_only=True)
            sheet = [r for r in book.active.iter_rows(values_only=True) if any(v is not None for v in r)]
            # the file's header is the API's labels (a custom field's column by its key, where the page shows its name)
            as_run = await _preview(client, tenant, {**plain, "columns": configured})
            assert as_run and len(as_run["preview"]["columns"]) == len(labels_shown)
            assert [str(c) for c in sheet[0]] == [c["label"] for c in as_run["preview"]["columns"]]
            assert len(sheet) - 1 == previewed, (len(sheet) - 1, previewed)
            name_p, pdf = _attachment(mails["PDF"])
            assert name_p.endswith(".pdf") and pdf.startswith(b"%PDF"), (name_p, pdf[:8])
            first_page = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
            assert labels_shown[0] in first_page and "Page 1 of" in first_page, first_page[:300]
            for fmt, message in mails.items():
                run_id = re.search(r"Run id: ([0-9a-f-]{36})", message.text())
                assert run_id, message.text()
                emailed = (await api(client, tenant.admin_token, RUN_Q, {"id": run_id[1]}))["reportRun"]
                assert (emailed["status"], emailed["rowCount"]) == ("SUCCEEDED", previewed), (fmt, emailed)

            # --- a run made with runReport: listed, finished, its download has the preview's rows
            run_input = {"report": REPORT, "filters": {"range": RANGE}, "columns": configured}
            expected = await _preview(client, tenant, run_input)
            made = await api(client, tenant.admin_token, RUN, {"input": run_input})
            assert made["runReport"]["errors"] == []
            run_id = made["runReport"]["run"]["id"]

            async def done() -> Any:
                r = (await api(client, tenant.admin_token, RUN_Q, {"id": run_id}))["reportRun"]
                return r if r["status"] in ("SUCCEEDED", "FAILED") else None

            finished = await _until(done, 60)
            assert finished and finished["status"] == "SUCCEEDED", finished
            await page.get_by_role("navigation", name="Reports area").get_by_role("link", name="Run history").click()
            run_row = page.locator(f'tr[data-run="{run_id}"]')
            await expect(run_row).to_have_attribute("data-status", "SUCCEEDED")
            await expect(run_row).to_contain_text("Finished")
            await expect(run_row.locator("td.num").first).to_have_text(str(expected["preview"]["totalRows"]))
            async with page.expect_download() as info:
                await run_row.get_by_role("button", name=re.compile("^Download CSV")).click()
            download = await info.value
            saved = tmp_path / "run.csv"
            await download.save_as(saved)
            rows = list(csv.reader(io.StringIO(await asyncio.to_thread(saved.read_text))))
            assert len(rows) - 1 == expected["preview"]["totalRows"] == finished["rowCount"]
            assert rows[0] == [c["label"] for c in expected["preview"]["columns"]]
            await b.shot("reports-05-runs")
            await b.axe("reports-runs")

            # --- the new pages on a phone: no sideways scrolling of the page
            await page.set_viewport_size({"width": 390, "height": 844})
            for path, shot in (
                ("/reports/runs", "reports-06-runs-390"),
                ("/reports/schedules", "reports-07-schedules-390"),
                ("/reports/custom-fields", "reports-08-custom-fields-390"),
                (f"/reports/{REPORT}?columns={','.join(configured)}&group=status", "reports-09-report-390"),
            ):
                await page.goto(f"{web_platform.url}{path}")
                await page.locator("#content h1").wait_for()
                await page.locator("table").first.wait_for()
                await b.no_horizontal_scroll(shot)
                await b.shot(shot)

            # --- the schedule deleted (confirmed), the custom field deleted: gone from the API
            await page.set_viewport_size({"width": 1280, "height": 900})
            await page.goto(f"{web_platform.url}/reports/schedules")
            await row.get_by_role("button", name=re.compile("^Delete")).click()
            await expect(page.get_by_text("No report is scheduled yet.")).to_be_visible()
            assert (await api(client, tenant.admin_token, SCHEDULES))["reportSchedules"] == []
            await page.goto(f"{web_platform.url}/reports/custom-fields")
            await page.get_by_role("button", name=f"Delete {name}").click()
            await expect(page.get_by_role("status").filter(has_text=f"Deleted {name}")).to_be_visible()
            assert [
                f for f in (await api(client, tenant.admin_token, FIELDS))["customFields"] if f["name"] == name
            ] == []
