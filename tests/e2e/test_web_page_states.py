"""End to end in a browser, the dashboard's states that are not a page's data (issue 12: every state has its own
message and a next step): a page whose code no longer loads (a redeploy since the tab opened) says a new version is
available and Reload brings the page; an address with no page is "Page not found" with links; the funnel drawn on
Analytics opens the customers of the step clicked, as the list beside it does; Customers' segment picker filters
the list (?segment=) to the segment's members, as many as the API says."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from infra.dev_issuer import DevIssuer
from tests.e2e.test_platform import Platform, _until
from tests.e2e.web_browser import api, signed_in

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
expect.set_options(timeout=15_000)

FUNNEL = """query($f: AnalyticsFilterInput!) { funnel(filter: $f) { steps { step customers } } }"""
CUSTOMERS = """query($f: CustomerFilterInput!) { customers(filter: $f) { totalCount nodes { id } } }"""
CREATE_SEGMENT = """mutation($i: CreateSegmentInput!) {
  createSegment(input: $i) { segment { id } errors { field message } } }"""


async def _seed(platform: Platform, tenant: Any) -> dict[str, Any]:
    """Three visitors with orders (REST, as an integration sends them), waited for in the funnel, and a static
    segment of two of them."""
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    headers = {"authorization": f"Bearer {tenant.api_key}"}
    async with httpx.AsyncClient(base_url=platform.url, timeout=15) as client:
        for n in range(3):
            r = await client.post(
                "/v1/orders",
                headers=headers,
                json={
                    "externalRef": f"ps-{tag}-{n}",
                    "productId": str(tenant.products["Broadband"]),
                    "customer": {"email": f"ps-{tag}-{n}@example.com"},
                },
            )
            assert r.status_code == 201, r.text
        events = [
            {
                "id": f"ps-{tag}-visit-{n}",
                "type": "visit",
                "occurredAt": (now - timedelta(minutes=n + 1)).isoformat(),
                "email": f"ps-{tag}-{n}@example.com",
            }
            for n in range(3)
        ]
        r = await client.post("/v1/events", json={"events": events}, headers=headers)
        assert r.status_code == 202, r.text

        async def landed() -> Any:
            data = await api(client, tenant.admin_token, FUNNEL, {"f": {"range": {"preset": "LAST_30_DAYS"}}})
            return data if data["funnel"]["steps"][0]["customers"] >= 3 else None

        funnel = await _until(landed, 60)
        assert funnel, "the visits did not reach the insights service in 60 s"
        found = await api(client, tenant.admin_token, CUSTOMERS, {"f": {"search": f"ps-{tag}-"}})
        ids = [c["id"] for c in found["customers"]["nodes"]]
        assert len(ids) == 3, found
        made = await api(
            client, tenant.admin_token, CREATE_SEGMENT, {"i": {"name": f"Pair {tag}", "customerIds": ids[:2]}}
        )
        assert made["createSegment"]["errors"] == [], made
    return {"tag": tag, "segment": made["createSegment"]["segment"]["id"]}


async def test_page_states_in_a_browser(web_platform: Platform, browser: Any, tenant: Any, issuer: DevIssuer) -> None:
    seeded = await _seed(web_platform, tenant)
    async with signed_in(browser, web_platform, issuer, tenant, landing="/analytics", shot="page-states-last") as b:
        page = b.page

        # --- The funnel drawn: a click on its first step opens that step's customers (the list's link does too)
        await page.locator(".funnel-steps a[data-step='1']").wait_for()
        canvas = page.locator(".chart.funnel canvas")
        await canvas.wait_for()
        box = await canvas.bounding_box()
        assert box
        # The first step is the funnel's top band (6 bands between ECharts' 60-px top and bottom margins), centred.
        await canvas.click(position={"x": box["width"] / 2, "y": 60 + (box["height"] - 120) / 12})
        await page.wait_for_url(re.compile(r"/analytics/drilldown\?.*step=1"))
        await page.locator("#content h1").wait_for()

        # --- Customers: the segment picker filters the list to the segment's members, kept in the URL
        await page.get_by_role("link", name="Customers", exact=True).click()
        total = page.locator("table.customers caption [data-total]")
        await total.wait_for()
        await page.get_by_label("Segment", exact=True).select_option(label=f"Pair {seeded['tag']}")
        await page.wait_for_url(re.compile(f"segment={seeded['segment']}"))
        await expect(total).to_have_attribute("data-total", "2")
        await expect(page.locator("table.customers tbody tr")).to_have_count(2)
        await b.axe("page-states-customers")
        await page.get_by_label("Segment", exact=True).select_option(label="Every customer")
        await expect(page).not_to_have_url(re.compile("segment="))

        # --- An address with no page: "Page not found", its section and Analytics offered
        await page.goto(f"{web_platform.url}/reports/no-such-page/x")
        await expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        await expect(page.get_by_role("link", name="Go to Reports")).to_have_attribute("href", "/reports")
        await b.axe("page-states-not-found")
        await page.get_by_role("link", name="Go to Analytics").click()
        await page.wait_for_url(re.compile(r"/analytics$"))

        # --- A page whose code no longer loads (a redeploy removed the old chunk): the page says a new version is
        # available; Reload brings the page. The refused chunk is the only problem the page may meet.
        chunk = re.compile(r"/assets/Settings-[^/]*\.js$")
        await page.route(chunk, lambda route: route.abort())
        await page.get_by_role("link", name="Settings", exact=True).click()
        alert = page.get_by_role("alert")
        await expect(alert).to_contain_text("A new version of the dashboard is available")
        await expect(page.get_by_role("navigation", name="Main")).to_be_visible()  # the shell stays: no blank app
        await b.shot("page-states-new-version")
        await b.axe("page-states-new-version")
        await page.unroute(chunk)
        await page.get_by_role("button", name="Reload").click()
        await expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
        expected = ("Settings-", "dynamically imported module", "The page failed")
        unexpected = [p for p in b.problems if not any(e in p for e in expected)]
        assert len(unexpected) < len(b.problems), "the refused chunk was not seen"
        b.problems[:] = unexpected
