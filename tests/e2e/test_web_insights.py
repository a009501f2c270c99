"""End to end, Insights in a real browser (the session's platform and Chromium, tests/e2e/conftest.py): a saved
insight put on a new dashboard shows the API's total and follows an event sent while the page is open (the
`dashboardUpdated` subscription, no reload); the tiles are moved and resized with their buttons; the builder's
exports (UGD and results) download files whose rows are the API's; the builder is switched through every chart
type (Stacked Bar, Line, Pie, List, Table, back to Bar: the URL's chart=, the drawing or the list/table, the same
total); a bar clicked on the chart and a figure of the table each open the events behind them, as many as the
figure. axe on every page, screenshots at 1280 px and at 390 px (tests/e2e/artifacts/web/insights-*)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import openpyxl
import pytest

from infra.dev_issuer import DevIssuer
from tests.e2e.test_platform import Platform, _until
from tests.e2e.web_browser import ARTIFACTS, api, signed_in

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
# Assertions retry for up to 15 s (5 s by default), as the other dashboard modules: a busy 2-core machine.
expect.set_options(timeout=15_000)

INSIGHT = """query($i: InsightInput!) { insight(input: $i) {
  buckets { start } series { values currency points total } total { currency value } } }"""
SAVE = """mutation($i: SaveInsightInput!) { saveInsight(input: $i) { savedInsight { id } errors { field message } } }"""
DASHBOARD = "query($id: ID!) { dashboard(id: $id) { tiles { position width savedInsight { id } } } }"
# Payments of two methods (card 3, wallet 2), each once in its final state: the question counts them by method.
QUESTION = {
    "eventType": "payment",
    "measure": "COUNT",
    "breakdowns": ["fields.method"],
    "range": {"preset": "LAST_7_DAYS"},
}
CARDS = {
    **QUESTION,
    "breakdowns": [],
    "filters": [{"field": "fields.method", "operator": "EQUALS", "values": ["card"]}],
}


def _payment(tag: str, n: int, method: str, at: datetime) -> dict[str, Any]:
    return {
        "id": f"web-pay-{tag}-{n}",
        "type": "payment",
        "occurredAt": at.isoformat(),
        "anonymousId": f"web-payer-{tag}-{n % 2}",
        "entityId": f"web-pay-{tag}-{n}",
        "state": "posted",
        "amount": "12.50",
        "currency": "GBP",
        "fields": {"method": method},
    }


async def _send(client: httpx.AsyncClient, tenant: Any, events: list[dict[str, Any]]) -> None:
    r = await client.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202 and r.json()["stored"] == len(events), r.text


async def _count(client: httpx.AsyncClient, tenant: Any, question: dict[str, Any]) -> tuple[int, Any]:
    answer = (await api(client, tenant.member_token, INSIGHT, {"i": question}))["insight"]
    return sum(int(t["value"]) for t in answer["total"]), answer


def _builder_url(question: dict[str, Any], chart: str = "BAR") -> str:
    params: list[tuple[str, str]] = [("type", question["eventType"]), ("measure", question["measure"])]
    params += [("by", b) for b in question["breakdowns"]]
    params += [("filter", f"{f['field']}~{f['operator']}~{'|'.join(f['values'])}") for f in question.get("filters", [])]
    params += [("preset", question["range"]["preset"]), ("interval", "DAY"), ("chart", chart)]
    return f"/insights?{urlencode(params)}"


async def test_insights_dashboards_exports_and_the_events_behind_a_bar(
    web_platform: Platform, browser: Any, tenant: Any, issuer: DevIssuer
) -> None:
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=web_platform.url, timeout=20) as client:
        methods = ["card", "card", "card", "wallet", "wallet"]
        await _send(
            client, tenant, [_payment(tag, n, m, now - timedelta(minutes=2 + n)) for n, m in enumerate(methods)]
        )

        async def landed() -> bool:
            return (await _count(client, tenant, QUESTION))[0] == 5

        assert await _until(landed, 60), "the payments did not reach the insights service in 60 s"
        name = f"Payments by method {tag}"
        saved = await api(
            client, tenant.admin_token, SAVE, {"i": {"name": name, "insight": {**QUESTION, "chartType": "BAR"}}}
        )
        assert saved["saveInsight"]["errors"] == []
        saved_id = saved["saveInsight"]["savedInsight"]["id"]

        async with signed_in(
            browser, web_platform, issuer, tenant, landing="/insights/dashboards", shot="insights-last"
        ) as b:
            page = b.page
            # --- the default dashboard first, then a new one made in the form
            await expect(page.locator(".dash-list li").first).to_contain_text("default")
            await page.locator(".dash-panel").wait_for()
            await b.shot("insights-01-default-dashboard")
            await b.axe("insights-default-dashboard")
            await page.get_by_label("New dashboard", exact=True).fill(f"Board {tag}")
            await page.get_by_role("button", name="Create dashboard").click()
            await page.wait_for_url(re.compile(r"/insights/dashboards/[0-9a-f-]{36}$"))
            dashboard_id = urlsplit(page.url).path.rsplit("/", 1)[1]
            await expect(page.get_by_role("heading", level=2)).to_contain_text(f"Board {tag}")
            await expect(page.get_by_text("No tile on this dashboard yet.")).to_be_visible()
            await page.get_by_label("Dashboard name", exact=True).fill(f"Payments {tag}")
            await page.get_by_role("button", name="Rename").click()
            await expect(page.locator(".dash-list")).to_contain_text(f"Payments {tag}")
            await expect(page.get_by_role("heading", level=2)).to_contain_text(f"Payments {tag}")

            # --- the saved insight as a tile: the API's total
            await page.get_by_label("Saved insight", exact=True).select_option(label=name)
            await page.get_by_role("button", name="Add to dashboard").click()
            tile = page.locator(f'.dash-tile[data-insight="{saved_id}"]')
            total = tile.get_by_test_id("tile-total")
            await expect(total).to_have_text("5")
            await tile.locator("canvas").first.wait_for()
            await expect(page.locator('.live[data-live="on"]')).to_be_visible()

            # --- live: a payment sent while the dashboard is open updates the tile in place, no reload
            marker = await page.evaluate("window.__insightsNoReload = 1")
            assert marker == 1
            await _send(client, tenant, [_payment(tag, 9, "card", datetime.now(UTC) - timedelta(minutes=1))])
            await expect(total).to_have_text("6", timeout=30_000)
            await expect(tile.locator(".dash-tile-updated")).to_be_visible()
            assert await page.evaluate("window.__insightsNoReload") == 1, "the page reloaded"
            count, answer = await _count(client, tenant, QUESTION)
            assert count == 6

            # --- a second tile (one of the default insights), moved before the first with its button, resized
            await page.get_by_label("Saved insight", exact=True).select_option(index=0)
            await page.get_by_role("button", name="Add to dashboard").click()
            await expect(page.locator(".dash-tile")).to_have_count(2)
            second = page.locator(".dash-tile").nth(1)
            other_id = await second.get_attribute("data-insight")
            await second.get_by_role("button", name=re.compile("^Move earlier")).click()
            await expect(page.locator(".dash-tile").first).to_have_attribute("data-insight", other_id or "")
            await tile.get_by_label(re.compile("^Width")).select_option("2")
            await expect(tile).to_have_class(re.compile(r"\bw-2\b"))
            layout = (await api(client, tenant.member_token, DASHBOARD, {"id": dashboard_id}))["dashboard"]["tiles"]
            assert [(t["savedInsight"]["id"], t["width"]) for t in layout][1] == (saved_id, 2)
            assert layout[0]["savedInsight"]["id"] == other_id
            await b.shot("insights-02-dashboard")
            await b.axe("insights-dashboard")
            await page.set_viewport_size({"width": 390, "height": 844})
            await b.no_horizontal_scroll("insights-dashboard")
            await b.shot("insights-03-dashboard-phone")
            await page.set_viewport_size({"width": 1280, "height": 900})

            # --- the builder from the tile: exports of the same question
            await tile.get_by_role("link", name=name).click()
            await page.wait_for_url(re.compile(rf"/insights\?saved={saved_id}"))
            await expect(page.get_by_test_id("insight-total")).to_have_text("6")
            async with page.expect_download() as ugd:
                await page.get_by_role("button", name="Export events (UGD)").click()
            ugd_path = ARTIFACTS / "insights-ugd.csv"
            await (await ugd.value).save_as(str(ugd_path))
            text = await asyncio.to_thread(ugd_path.read_text, encoding="utf-8-sig")
            rows = list(csv.reader(io.StringIO(text)))
            assert len(rows) - 1 == count, rows[:3]  # one row per counted event (no line-item breakdown)
            await page.get_by_label("Export format", exact=True).select_option("XLSX")
            async with page.expect_download() as results:
                await page.get_by_role("button", name="Export results").click()
            xlsx_path = ARTIFACTS / "insights-results.xlsx"
            await (await results.value).save_as(str(xlsx_path))
            sheet = (await asyncio.to_thread(openpyxl.load_workbook, xlsx_path, read_only=True)).active
            cells = [r for r in sheet.iter_rows(values_only=True)]
            header, body = cells[0], [r for r in cells[1:] if any(v is not None for v in r)]
            assert len(body) == len(answer["buckets"]) * len(answer["series"])  # bucket x series
            assert sum(Decimal(str(r[header.index("value")])) for r in body) == count
            await b.shot("insights-04-builder")
            await b.axe("insights-builder")

            # --- the same question through every chart type with the builder's buttons: the URL's chart= follows,
            # a chart is drawn (on its canvas) or the list / the full table replaces it, and the total stays the same
            chart_types = page.get_by_role("group", name="Chart type")
            figures = page.locator("table.insight-table")
            for label, chart_type in (
                ("Stacked Bar", "STACKED_BAR"),
                ("Line", "LINE"),
                ("Pie", "PIE"),
                ("List", "LIST"),
                ("Table", "TABLE"),
                ("Bar", "BAR"),
            ):
                button = chart_types.get_by_role("button", name=label, exact=True)
                await button.click()
                await page.wait_for_url(re.compile(rf"[?&]chart={chart_type}(&|$)"))
                assert parse_qs(urlsplit(page.url).query)["saved"] == [saved_id]
                await expect(button).to_have_attribute("aria-pressed", "true")
                if chart_type in ("LIST", "TABLE"):
                    await expect(page.locator(".insight-chart")).to_have_count(0)
                    # the list: a series and its total; the table: a column per bucket between them
                    width = 2 if chart_type == "LIST" else len(answer["buckets"]) + 2
                    await expect(figures.locator("thead th")).to_have_count(width)
                    await expect(figures.locator("tbody tr")).to_have_count(len(answer["series"]))
                else:
                    await page.locator(f'.insight-chart[data-chart="{chart_type}"] canvas').first.wait_for()
                await expect(page.get_by_test_id("insight-total")).to_have_text(str(count))
                if chart_type == "PIE":
                    await b.shot("insights-04-builder-pie")

            # --- a bar clicked on the chart: the events behind it, as many as the bar
            _, cards = await _count(client, tenant, CARDS)
            points = cards["series"][0]["points"]
            k = max(range(len(points)), key=lambda i: int(points[i]))
            await page.goto(f"{web_platform.url}{_builder_url(CARDS)}")
            chart = page.locator(".insight-chart canvas").first
            await chart.wait_for()
            box = await page.locator(".insight-chart").bounding_box()
            assert box is not None
            # The grid of charts.ts's bar option: 56 px left, 16 right, 32 below; bar k at the middle of its band.
            x = 56 + (k + 0.5) * (box["width"] - 72) / len(points)
            await page.locator(".insight-chart").click(position={"x": x, "y": box["height"] - 32 - 6})
            await page.wait_for_url(re.compile(r"/insights/events\?"))
            assert parse_qs(urlsplit(page.url).query)["bucket"] == [cards["buckets"][k]["start"]]
            await expect(page.get_by_test_id("events-total")).to_have_text(str(points[k]))
            await expect(page.get_by_test_id("cell-value")).to_have_text(str(points[k]))
            await expect(page.locator(".insight-events tbody tr")).to_have_count(int(points[k]))
            await b.shot("insights-05-events")
            await b.axe("insights-events")
            await page.set_viewport_size({"width": 390, "height": 844})
            await b.no_horizontal_scroll("insights-events")
            await page.set_viewport_size({"width": 1280, "height": 900})

            # --- a figure of the table (the wallet series): the same
            wallet = next(s for s in answer["series"] if s["values"] == ["wallet"])
            j = next(i for i, v in enumerate(wallet["points"]) if int(v) > 0)
            await page.goto(f"{web_platform.url}{_builder_url(QUESTION, 'TABLE')}")
            row = page.locator("table.insight-table tbody tr", has=page.get_by_role("rowheader", name="wallet"))
            await row.locator(f'td[data-bucket="{answer["buckets"][j]["start"]}"] a').click()
            await page.wait_for_url(re.compile(r"/insights/events\?"))
            await expect(page.get_by_test_id("events-total")).to_have_text(str(wallet["points"][j]))
            await expect(page.locator(".insight-events tbody tr")).to_have_count(int(wallet["points"][j]))

            # --- a series' total spans every bucket: its periods are listed, each opening its own events
            await page.go_back()
            await row.get_by_test_id("series-total").get_by_role("link").click()
            await page.wait_for_url(re.compile(r"/insights/events\?"))
            assert "bucket" not in parse_qs(urlsplit(page.url).query)
            await expect(page.get_by_test_id("cell-value")).to_have_text(str(wallet["total"]))
            periods = page.locator(".insight-periods li")
            await expect(periods).to_have_count(sum(1 for v in wallet["points"] if int(v) > 0))
            await periods.first.get_by_role("link").click()
            await expect(page.get_by_test_id("events-total")).to_have_text(str(wallet["points"][j]))

            # --- a figure that is no longer one of the question's (not a bucket's start): which part, and what next
            stale = f"{_builder_url(CARDS)}&bucket=2020-01-01T00%3A00%3A00%2B00%3A00&values=%5B%5D".replace(
                "/insights?", "/insights/events?"
            )
            await page.goto(f"{web_platform.url}{stale}")
            refused = page.get_by_role("alert").filter(has_text="This figure is no longer in the insight.")
            await expect(refused).to_contain_text("bucket")

            # --- the new dashboard deleted: the list no longer has it, the default one is shown
            await page.goto(f"{web_platform.url}/insights/dashboards/{dashboard_id}")
            page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await page.get_by_role("button", name="Delete dashboard").click()
            await page.wait_for_url(re.compile(r"/insights/dashboards$"))
            await expect(page.locator(".dash-list li")).to_have_count(1)
            await expect(page.get_by_role("heading", level=2)).to_contain_text("default")
