"""End to end, the partner dashboard in a real browser (Debian's headless Chromium through the Python `playwright`
package; no browser download) against the real processes of infra/processes.py: signing in through the
development issuer's authorize page (code + PKCE), Analytics, a drill-down, Orders, Settings, sign-out.

One browser session for the whole module, a few minutes at most. Any console error, failed request or answer of
4xx/5xx fails the test; axe-core runs on every page (no serious or critical violation); a screenshot of every
page, at 1280 px and at 390 px, goes to tests/e2e/artifacts/web/ (git-ignored; WEB_E2E_ARTIFACTS moves it).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from infra.dev_issuer import DevIssuer, SignInUser
from infra.processes import by_name
from services.orders.repository import members
from shared.db import tenant_tx
from tests.e2e.test_platform import Platform, _until
from tests.e2e.web_browser import ARTIFACTS, ROOT, Browser
from tests.e2e.web_browser import api as _api

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
# Assertions retry for up to 15 s (5 s by default): numbers that arrive through a worker take longer on a busy machine.
expect.set_options(timeout=15_000)

COLOUR = "#AA3300"


CREATE_SEGMENT = """mutation($i: CreateSegmentInput!) {
  createSegment(input: $i) { segment { id memberCount } errors { field message } } }"""


ANALYTICS = """query($filter: AnalyticsFilterInput!) {
  analytics(filter: $filter) { points { start ordersCreated newCustomers } }
  funnel(filter: $filter) { steps { step customers } } }"""
PREVIEW = """query($input: ReportInput!) { reportPreview(input: $input) {
  preview { columns { key label } rows totalRows } errors { field message } } }"""
SUMMARY = "query($filter: OrderFilterInput) { ordersSummary(filter: $filter) { totalOrders successfulOrders } }"


async def _seed(platform: Platform, tenant: Any) -> dict[str, Any]:
    """Orders in two categories and visits, sent as an integration sends them (REST with the API key), then
    waited for in the insights service (orders relay → Redis → insights worker)."""
    tag = uuid.uuid4().hex[:6]
    plan = [("Broadband", 3), ("Credit Cards", 2)]
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=platform.url, timeout=15) as client:
        n = 0
        for category, count in plan:
            for _ in range(count):
                n += 1
                r = await client.post(
                    "/v1/orders",
                    headers={"authorization": f"Bearer {tenant.api_key}"},
                    json={
                        "externalRef": f"web-{tag}-{n}",
                        "productId": str(tenant.products[category]),
                        "customer": {"email": f"web-{tag}-{n}@example.com"},
                    },
                )
                assert r.status_code == 201, r.text
        events = [
            {
                "id": f"web-{tag}-visit-{i}",
                "type": "visit",
                "occurredAt": (now - timedelta(minutes=i)).isoformat(),
                "email": f"web-{tag}-{i + 1}@example.com",
            }
            for i in range(5)
        ]
        r = await client.post(
            "/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"}
        )
        assert r.status_code == 202, r.text

        async def landed() -> Any:
            data = await _api(client, tenant.admin_token, ANALYTICS, {"filter": {"range": {"preset": "LAST_30_DAYS"}}})
            orders = sum(p["ordersCreated"] for p in data["analytics"]["points"])
            return data if orders == 5 and data["funnel"]["steps"][0]["customers"] >= 5 else None

        assert await _until(landed, 60), "the orders and visits did not reach the insights service in 60 s"
    return {"orders": 5, "broadband": 3, "cards": 2, "tag": tag}


async def _figures(page: Any, base: str) -> None:
    """Printed, not asserted (issue 12's figures): the first load's JavaScript, gzipped, and the time from a
    navigation to Analytics until its figures and chart are on screen (three loads, warm server, this machine)."""
    dist = ROOT / "web" / "dist"
    html = await asyncio.to_thread((dist / "index.html").read_text)
    initial = re.findall(r'(?:src|href)="/assets/([^"]+\.js)"', html)
    names = await asyncio.to_thread(lambda: [p.name for p in (dist / "assets").iterdir()])
    analytics = [n for n in names if n.startswith("Analytics-") and n.endswith(".js")]

    def gz(name: str) -> int:
        return len(gzip.compress((dist / "assets" / name).read_bytes(), 9))

    sizes = {n: await asyncio.to_thread(gz, n) for n in [*initial, *analytics]}
    timings = []
    for _ in range(3):
        await page.goto(f"{base}/analytics")
        await page.locator('.tile-value[data-metric="ORDERS_CREATED"]').wait_for()
        await page.locator(".chart canvas").first.wait_for()
        timings.append(await page.evaluate("performance.now()"))
    figures = {
        "initial_js_gzip_bytes": sum(sizes[n] for n in initial),
        "analytics_chunk_gzip_bytes": sum(sizes[n] for n in analytics),
        "analytics_ready_ms": [round(t) for t in timings],
    }
    await asyncio.to_thread((ARTIFACTS / "figures.json").write_text, json.dumps({**figures, "files": sizes}, indent=2))
    print(f"\ndashboard figures: {figures}")


async def _number(page: Any, selector: str) -> int:
    text = await page.locator(selector).first.inner_text()
    return int(re.sub(r"[^\d]", "", text) or "0")


async def test_the_dashboard_in_a_browser(
    web_platform: Platform, browser: Any, tenant: Any, other_tenant: Any, issuer: DevIssuer, pool: Any
) -> None:
    # Another organisation's order, placed first: none of its figures or rows may reach this user's pages.
    async with httpx.AsyncClient(base_url=web_platform.url, timeout=15) as client:
        other_ref = f"other-org-{uuid.uuid4().hex[:6]}"
        r = await client.post(
            "/v1/orders",
            headers={"authorization": f"Bearer {other_tenant.api_key}"},
            json={
                "externalRef": other_ref,
                "productId": str(other_tenant.products["Broadband"]),
                "customer": {"email": f"{other_ref}@example.com"},
            },
        )
        assert r.status_code == 201, r.text
    seeded = await _seed(web_platform, tenant)
    admin_email = f"admin-{tenant.admin_subject.split('|admin-')[1]}@example.com"
    issuer.users["web-admin"] = SignInUser(tenant.admin_subject, admin_email, "Admin of the test partner")
    # Access tokens of 65 s: the app renews each 60 s before it expires (refresh token), so renewals happen while
    # the pages below are used, and every call after them must carry a token the gateway accepts.
    ttl, issuer.access_ttl = issuer.access_ttl, 65
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", accept_downloads=True)
    # Generous waits (Playwright's default is 30 s): on a 2-core machine running other suites a step after a
    # process restart has been seen to need longer; a real failure still fails, only later.
    context.set_default_timeout(60_000)
    page = await context.new_page()
    b = Browser(page, web_platform.url)
    refreshes: list[str] = []

    def renewal_request(request: Any) -> bool:
        return bool(request.url.endswith("/token") and "grant_type=refresh_token" in (request.post_data or ""))

    def renewal(request: Any) -> None:
        if renewal_request(request):
            refreshes.append(request.url)

    page.on("request", renewal)
    try:
        # --- sign in: the app sends the browser to the issuer's page, a user is chosen, back to Analytics
        await page.goto(f"{web_platform.url}/orders?preset=LAST_7_DAYS")
        await page.wait_for_url(re.compile(r"/authorize\?"))
        assert "code_challenge_method=S256" in page.url
        await b.shot("00-sign-in")
        await page.get_by_role("button", name=admin_email).click()
        await page.wait_for_url(re.compile(r"/orders\?preset=LAST_7_DAYS$"))  # back where the user was going

        # --- Analytics: the numbers are the API's
        await page.get_by_role("link", name="Analytics").click()
        await page.wait_for_url(re.compile(r"/analytics"))
        orders_tile = '.tile-value[data-metric="ORDERS_CREATED"]'
        await page.wait_for_selector(orders_tile)
        assert await _number(page, orders_tile) == seeded["orders"]
        await page.wait_for_selector("canvas")  # the line graph drew
        assert await page.locator(".funnel-steps li").count() == 6
        await b.shot("01-analytics")
        await b.axe("analytics")

        await _figures(page, web_platform.url)

        # Live: a visit sent by the integration shows up without a reload (the funnel's first bucket).
        await expect(page.locator('.live[data-live="on"]')).to_be_visible()
        visits = page.locator('.funnel-steps a[data-step="1"]')
        before = int(await visits.inner_text())
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            event = {
                "id": f"web-live-{seeded['tag']}",
                "type": "visit",
                "occurredAt": datetime.now(UTC).isoformat(),
                "anonymousId": f"web-live-{seeded['tag']}",
            }
            r = await client.post(
                "/v1/events", json={"events": [event]}, headers={"authorization": f"Bearer {tenant.api_key}"}
            )
            assert r.status_code == 202, r.text
        await expect(visits).to_have_text(str(before + 1), timeout=20_000)
        await expect(page.locator(".live")).to_contain_text("updated")

        # A filter changes the URL and the numbers: the category search.
        search = page.get_by_label("Category")
        await search.fill("Credit Cards")
        await page.wait_for_url(re.compile(r"category="))
        await expect(page.locator(orders_tile)).to_have_text(str(seeded["cards"]))
        category = parse_qs(urlsplit(page.url).query)["category"][0]
        assert category == str(tenant.categories["Credit Cards"])
        # Download CSV: the Analytics orders of this filter, one row each.
        async with page.expect_download() as analytics_download:
            await page.get_by_role("button", name="Download CSV").click()
        csv_path = ARTIFACTS / "analytics-orders.csv"
        await (await analytics_download.value).save_as(str(csv_path))
        csv_text = await asyncio.to_thread(csv_path.read_text, encoding="utf-8-sig")
        assert len([line for line in csv_text.splitlines() if line.strip()]) - 1 == seeded["cards"], csv_text[:300]
        await page.get_by_role("button", name="Last 7 days").click()
        await page.wait_for_url(re.compile(r"preset=LAST_7_DAYS"))
        assert "category=" in page.url  # the other filter kept

        # A drill-down: the number clicked equals the rows behind it.
        await page.locator("details.data-table summary").click()
        cell = page.locator('button[data-drill^="ORDERS_CREATED:"]').first
        clicked = int(await cell.inner_text())
        assert clicked == seeded["cards"]
        await cell.click()
        await page.wait_for_url(re.compile(r"/analytics/drilldown\?"))
        await page.wait_for_selector("table.drill-rows tbody tr")
        assert await page.locator("table.drill-rows tbody tr").count() == clicked
        assert int(await page.locator("p.count").get_attribute("data-total") or "-1") == clicked
        await b.shot("02-drilldown")
        await b.axe("drilldown")

        # --- Orders: header totals are the API's; a status filter goes into the URL and changes them
        await page.get_by_role("link", name="Orders", exact=True).click()
        await page.wait_for_url(re.compile(r"/orders"))
        total = '[data-summary="totalOrders"]'
        await page.wait_for_selector(total)
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            api = await _api(client, tenant.admin_token, SUMMARY, {"filter": {"range": {"preset": "LAST_30_DAYS"}}})
        assert await _number(page, total) == api["ordersSummary"]["totalOrders"] == seeded["orders"]
        assert await page.locator("table.orders tbody tr").count() == seeded["orders"]
        assert other_ref not in await page.locator("table.orders").inner_text()  # tenancy: not the other org's
        await b.shot("03-orders")
        await b.axe("orders")
        await page.get_by_label("Status", exact=True).select_option("SUCCESSFUL")
        await page.wait_for_url(re.compile(r"status=SUCCESSFUL"))
        await expect(page.locator(total)).to_have_text("0")
        await page.get_by_label("Status", exact=True).select_option("")
        await expect(page.locator(total)).to_have_text(str(seeded["orders"]))

        # Export CSV: the file has the table's rows.
        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="Export CSV").click()
        download = await download_info.value
        path = ARTIFACTS / "orders.csv"
        await download.save_as(str(path))
        text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
        rows = [line for line in text.splitlines() if line.strip()]
        assert len(rows) - 1 == seeded["orders"], rows[:3]

        # An order's detail with its history.
        await page.locator("table.orders tbody tr a").first.click()
        await page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
        await page.wait_for_selector("h1:has-text('Order ')")
        await page.get_by_text("No delivery from the provider about this order yet.").wait_for()
        await b.shot("04-order")
        await b.axe("order")

        # --- Customers: the list is the API's; a search goes into the URL; a profile with its timeline
        await page.get_by_role("link", name="Customers").click()
        await page.wait_for_selector("table.customers tbody tr")
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            listed = await _api(client, tenant.admin_token, "{ customers { totalCount } }")
        count = page.locator("table.customers caption [data-total]")
        assert int(await count.get_attribute("data-total") or "-1") == listed["customers"]["totalCount"]
        await b.shot("05-customers")
        await b.axe("customers")
        await page.get_by_label("Search", exact=True).fill(f"web-{seeded['tag']}-1@")
        await page.get_by_role("button", name="Search", exact=True).click()
        await page.wait_for_url(re.compile(r"q=web-"))
        await expect(count).to_have_attribute("data-total", "1")
        await page.locator("table.customers tbody tr a").first.click()
        await page.wait_for_url(re.compile(r"/customers/[0-9a-f-]{36}$"))
        await page.locator("ol.timeline li").first.wait_for()
        await b.shot("06-customer")
        await b.axe("customer")

        # --- Segments: one made through the API lists with its member count equal to its members; another
        # organisation's segment is neither listed nor readable by id; Customers filtered by it shows its members
        seg_name = f"Web segment {seeded['tag']}"
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            found = await _api(
                client,
                tenant.admin_token,
                "query($f: CustomerFilterInput) { customers(filter: $f) { nodes { id } } }",
                {"f": {"search": f"web-{seeded['tag']}-"}},
            )
            ids = [n["id"] for n in found["customers"]["nodes"]][:3]
            assert len(ids) == 3, found
            made = await _api(client, tenant.admin_token, CREATE_SEGMENT, {"i": {"name": seg_name, "customerIds": ids}})
            assert made["createSegment"]["errors"] == [], made
            segment_id = made["createSegment"]["segment"]["id"]
            theirs = await _api(
                client,
                other_tenant.admin_token,
                CREATE_SEGMENT,
                {"i": {"name": f"Theirs {seeded['tag']}", "customerIds": []}},
            )
            their_id = theirs["createSegment"]["segment"]["id"]
        await page.get_by_role("link", name="Segments", exact=True).click()
        row = page.locator(f'tr[data-segment="{segment_id}"]')
        await row.wait_for()
        assert await row.get_by_test_id("member-count").get_attribute("data-count") == "3"
        assert await page.locator(f'tr[data-segment="{their_id}"]').count() == 0
        await row.get_by_role("button", name=f"Members of {seg_name}").click()
        await page.wait_for_url(re.compile(f"segment={segment_id}"))
        await expect(page.get_by_test_id("members-total")).to_have_attribute("data-total", "3")
        assert await page.locator("#members-title ~ .table-scroll tbody tr").count() == 3
        await b.shot("06b-segments")
        await b.axe("segments")
        await page.get_by_role("button", name="New segment").click()
        await page.get_by_role("button", name="Add event condition").click()
        await b.axe("segment-form")
        # a dynamic segment made in the form: its members are the API's, as many as its listed count
        visitors = f"Visitors {seeded['tag']}"
        await page.get_by_label("Name", exact=True).fill(visitors)
        await page.get_by_label("Event", exact=True).select_option("visit")
        await page.get_by_label("in the last (days, up to 90)").fill("7")
        await page.get_by_role("button", name="Create segment").click()
        await page.get_by_role("heading", name=f"Members of {visitors}").wait_for()
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            listed = await _api(client, tenant.admin_token, "{ segments { name kind memberCount } }")
        made_here = next(x for x in listed["segments"] if x["name"] == visitors)
        assert made_here["kind"] == "DYNAMIC" and made_here["memberCount"] >= 5, made_here
        mine = page.locator("tr", has=page.get_by_role("button", name=visitors, exact=True))
        await expect(mine.get_by_test_id("member-count")).to_have_attribute("data-count", str(made_here["memberCount"]))
        members_total = page.get_by_test_id("members-total")
        await expect(members_total).to_have_attribute("data-total", str(made_here["memberCount"]))
        await row.get_by_role("button", name=f"Members of {seg_name}").click()
        await page.get_by_role("link", name=f"Customers of {seg_name}").click()
        await expect(page.locator("table.customers caption [data-total]")).to_have_attribute("data-total", "3")
        await expect(page.locator(".segment-note")).to_contain_text(seg_name)
        await page.goto(f"{web_platform.url}/segments?segment={their_id}")
        await expect(page.get_by_text("This segment no longer exists.")).to_be_visible()
        # --- Segments > Connections: empty states; a refused MongoDB URI is named on its field, the secret not kept
        await page.get_by_role("link", name="Connections", exact=True).click()
        await expect(page.get_by_text("No Mixpanel project is connected.")).to_be_visible()
        await expect(page.get_by_text("No MongoDB is connected.")).to_be_visible()
        await page.get_by_role("button", name="Connect MongoDB").click()
        await page.get_by_label("Connection string (mongodb:// or mongodb+srv://)").fill("http://nowhere.example")
        await page.get_by_label("Database").fill("partner")
        await page.get_by_role("button", name="Connect MongoDB").click()
        await expect(page.locator("#mongo-uri")).to_have_attribute("aria-invalid", "true")
        assert "uri" in (await page.locator("#mongo-uri ~ .field-error").inner_text()).lower()
        await b.shot("06c-connections")
        await b.axe("connections")
        await page.get_by_role("button", name="Cancel").click()
        await page.get_by_role("button", name="Connect Mixpanel").click()
        await b.axe("connections-mixpanel-form")
        await page.get_by_role("button", name="Cancel").click()

        # --- Insights: the builder's total is the API's for the same question; a chart type and a save
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            asked = await _api(
                client,
                tenant.admin_token,
                "query($i: InsightInput!) { insight(input: $i) { total { value } } }",
                {"i": {"eventType": "visit", "range": {"preset": "LAST_7_DAYS"}}},
            )
        expected = sum(int(t["value"]) for t in asked["insight"]["total"])
        assert expected >= 5, asked
        await page.goto(f"{web_platform.url}/insights?type=visit&preset=LAST_7_DAYS")
        total = page.get_by_test_id("insight-total")
        await expect(total).to_have_text(str(expected))
        await page.get_by_role("button", name="Stacked Bar").click()
        await page.wait_for_url(re.compile(r"chart=STACKED_BAR"))
        await page.locator(".chart canvas").first.wait_for()
        await b.shot("06d-insights")
        await b.axe("insights")
        await page.get_by_label("Name", exact=True).fill(f"Visits {seeded['tag']}")
        await page.get_by_role("button", name="Save insight").click()
        await expect(page.get_by_role("button", name=f"Visits {seeded['tag']}", exact=True)).to_be_visible()
        assert "saved=" in page.url
        await page.goto(f"{web_platform.url}/insights?type=visit&filter=nosuchfield~EQUALS~x")
        refused = page.get_by_role("alert").filter(has_text="This question cannot be answered.")
        await expect(refused).to_contain_text("Filter 1")  # the refused field, named for people

        # --- Integrations: create one, its key shown once; rotating shows a new one
        await page.get_by_role("link", name="Integrations").click()
        await page.get_by_role("button", name="New integration").click()
        await page.get_by_label("Name", exact=True).fill(f"Web test {seeded['tag']}")
        await page.get_by_label("Broadband").check()
        await page.get_by_role("button", name="Create integration").click()
        first_key = await page.get_by_test_id("api-key").inner_text()
        assert len(first_key) > 20
        await b.shot("07-integration-key")
        await b.axe("integrations")
        await page.get_by_role("button", name="I have stored it").click()
        assert await page.get_by_test_id("api-key").count() == 0  # shown once
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name=f"Rotate key of Web test {seeded['tag']}").click()
        rotated = await page.get_by_test_id("api-key").inner_text()
        assert rotated != first_key
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            old = await client.get("/v1/integration/config", headers={"authorization": f"Bearer {first_key}"})
            new = await client.get("/v1/integration/config", headers={"authorization": f"Bearer {rotated}"})
        assert old.status_code == 401 and new.status_code == 200, (old.text, new.text)
        await page.get_by_role("button", name="I have stored it").click()

        # --- Reports: the catalogue; a report's preview count is the API's; a column moved in the URL and the table
        await page.get_by_role("link", name="Reports").click()
        await page.get_by_role("heading", name="Contacts").wait_for()
        await b.shot("08-reports")
        await b.axe("reports")
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            reports = await _api(client, tenant.admin_token, "{ reports { key defaultColumns } }")
            columns = next(r["defaultColumns"] for r in reports["reports"] if r["key"] == "contact_summary")
            config = {"report": "contact_summary", "columns": columns, "filters": {"range": {"preset": "LAST_30_DAYS"}}}

            async def fed() -> Any:
                # Until the organisation's settings reach the reports service, a preview answers "try again".
                r = await client.post(
                    "/graphql",
                    json={"query": PREVIEW, "variables": {"input": config}},
                    headers={"authorization": f"Bearer {tenant.admin_token}"},
                )
                body = r.json()
                preview = None if body.get("errors") else body["data"]["reportPreview"]["preview"]
                return preview if preview and preview["totalRows"] >= seeded["orders"] else None

            expected = await _until(fed, 60)
        assert expected, "the orders did not reach the reports service in 60 s"
        await page.goto(f"{web_platform.url}/reports/contact_summary")
        count = page.locator("p.count[data-total]")
        await count.wait_for()
        assert int(await count.get_attribute("data-total") or "-1") == expected["totalRows"]
        headers = page.locator("table.report-preview thead th")
        assert await headers.first.inner_text() == expected["columns"][0]["label"]
        await page.locator("details.data-table summary").click()
        await page.locator(".column-list li").first.get_by_role("button", name=re.compile("^Down")).click()
        await page.wait_for_url(re.compile(r"columns="))
        await expect(headers.first).to_have_text(expected["columns"][1]["label"])
        await b.shot("08-report-preview")
        await b.axe("report")

        # --- Settings: the colour reaches the primary buttons at once (computed style)
        await page.get_by_role("link", name="Settings").click()
        await page.wait_for_selector("#settings-primaryColour")
        await b.axe("settings")
        await page.locator("input#settings-primaryColour").fill(COLOUR)
        save = page.get_by_role("button", name="Save settings")
        await save.click()
        await page.get_by_role("status").filter(has_text="Saved.").wait_for()
        assert await save.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(170, 51, 0)"
        await b.shot("09-settings")

        # Team: an invitation appears at once as invited; a member made admin
        invitee = f"invitee-{seeded['tag']}@example.com"
        await page.locator("form.invite").get_by_label("Email").fill(invitee)
        await page.locator("form.invite").get_by_role("button", name="Invite").click()
        row = page.locator("tr", has_text=invitee)
        await expect(row).to_contain_text("invited")
        member_email = f"member-{tenant.admin_subject.split('|admin-')[1]}@example.com"
        await page.get_by_label(f"Role of {member_email}").select_option("ADMIN")
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:

            async def promoted() -> Any:
                team = await _api(client, tenant.admin_token, "{ members { email role } }")
                return any(m["email"] == member_email and m["role"] == "ADMIN" for m in team["members"])

            assert await _until(promoted, 10)
        await b.axe("team")

        # --- Keyboard: the first Tab reaches the skip link, shown with a visible focus ring
        await page.goto(f"{web_platform.url}/analytics")
        await page.locator('.tile-value[data-metric="ORDERS_CREATED"]').wait_for()
        await page.keyboard.press("Tab")
        focused = page.locator(":focus")
        assert await focused.inner_text() == "Skip to content"
        assert await focused.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
        await page.keyboard.press("Enter")
        await page.keyboard.press("Tab")
        assert await page.locator(":focus").evaluate("e => e.closest('main') !== null")

        # --- Phone width: no sideways scroll, the menu folds away
        await page.set_viewport_size({"width": 390, "height": 844})
        for path_, name in (
            ("/analytics", "analytics"),
            ("/orders", "orders"),
            ("/customers", "customers"),
            (f"/segments?segment={segment_id}", "segments"),
            ("/segments/connections", "connections"),
            ("/insights?type=visit&by=channel", "insights"),
            ("/integrations", "integrations"),
            ("/reports/contact_summary", "report"),
            ("/settings", "settings"),
        ):
            await page.goto(f"{web_platform.url}{path_}")
            await page.wait_for_selector("#content h1")
            await b.no_horizontal_scroll(name)
            await b.shot(f"10-phone-{name}")
        await page.get_by_role("button", name="Menu").click()
        await page.get_by_role("link", name="Orders", exact=True).click()
        await page.wait_for_url(re.compile(r"/orders"))
        await page.set_viewport_size({"width": 1280, "height": 900})

        # --- A backing service down: the page says so (not a blank or a raw error), Support has the request id
        if not refreshes:  # every page so far was left within seconds: stay on one until its renewal
            async with page.expect_request(renewal_request, timeout=30_000):
                pass
        web_platform.stop("insights-api")
        try:
            await page.goto(f"{web_platform.url}/analytics")
            outage = page.locator(".state-unavailable")
            await outage.wait_for()
            assert "A backing service is unavailable" in await outage.inner_text()
            await b.shot("11-unavailable")
            await page.get_by_role("button", name="Support").click()
            request_id = await page.get_by_test_id("last-request-id").inner_text()
            assert re.fullmatch(r"[0-9a-f-]{16,}", request_id), request_id
            assert "help@partner.example" in await page.locator("#support-panel").inner_text()
            await b.axe("unavailable")
        finally:
            web_platform.start("insights-api")
        api = by_name("insights-api")
        ready = f"http://127.0.0.1:{web_platform.ports[api.name]}{api.readiness_path}"
        await asyncio.to_thread(web_platform.wait_ready, ready)
        await page.get_by_role("button", name="Try again").click()
        await page.locator('.tile-value[data-metric="ORDERS_CREATED"]').wait_for(timeout=60_000)

        # --- A user of two organisations: ?org= chooses the other one (X-Organisation-Id), whose data alone shows
        async with tenant_tx(pool, other_tenant.org_id) as conn:
            await members.add(conn, other_tenant.org_id, admin_email, "member", subject=tenant.admin_subject)
        await page.goto(f"{web_platform.url}/orders?org={other_tenant.org_id}")
        await expect(page.locator(".org-name")).to_contain_text("Other Partner")
        await expect(page.locator('[data-summary="totalOrders"]')).to_have_text("1")
        assert other_ref in await page.locator("table.orders").inner_text()
        await page.goto(f"{web_platform.url}/orders?org={tenant.org_id}")
        await expect(page.locator(".org-name")).not_to_contain_text("Other Partner")
        await expect(page.locator('[data-summary="totalOrders"]')).to_have_text(str(seeded["orders"]))

        # New orders appear live on the open Orders page (ordersActivity), without a reload.
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            r = await client.post(
                "/v1/orders",
                headers={"authorization": f"Bearer {tenant.api_key}"},
                json={
                    "externalRef": f"web-{seeded['tag']}-live",
                    "productId": str(tenant.products["Broadband"]),
                    "customer": {"email": f"web-{seeded['tag']}-live@example.com"},
                },
            )
            assert r.status_code == 201, r.text
        await expect(page.locator('[data-summary="totalOrders"]')).to_have_text(
            str(seeded["orders"] + 1), timeout=20_000
        )
        await expect(page.locator("table.orders")).to_contain_text(f"web-{seeded['tag']}-live")

        # --- A provider user (the provider's staff): lands on Orders, sees nothing else, and no partner customer
        tag = tenant.admin_subject.split("|admin-")[1]
        issuer.users["web-provider"] = SignInUser(tenant.provider_subject, f"staff-{tag}@acme-bank.example", "provider")
        provider_context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        provider_context.set_default_timeout(60_000)
        provider_page = await provider_context.new_page()
        pb = Browser(provider_page, web_platform.url)
        try:
            await provider_page.goto(f"{web_platform.url}/")
            await provider_page.get_by_role("button", name=f"staff-{tag}@acme-bank.example").click()
            await provider_page.wait_for_url(re.compile(r"/orders$"))
            await provider_page.locator("table.orders tbody tr").first.wait_for()
            nav = await provider_page.locator("#main-nav a").all_inner_texts()
            assert nav == ["Orders"]
            customers = await provider_page.locator("table.orders tbody tr td:nth-child(3)").all_inner_texts()
            assert customers and set(customers) == {"–"}  # the partner's customers are not theirs to see
            await pb.shot("12-provider-orders")
            await pb.axe("provider-orders")
            pb.assert_clean()
        finally:
            issuer.users.pop("web-provider", None)
            await provider_context.close()

        # --- Sign out: back to the issuer's sign-in page
        await page.get_by_role("button", name="Sign out").first.click()
        await page.wait_for_url(re.compile(r"/authorize\?"))
        assert await page.get_by_role("heading", name="Sign in").is_visible()
        b.assert_clean()
    finally:
        await b.shot("99-last")  # where a failure left the page
        print("page problems:", *b.problems, sep="\n  ")
        issuer.users.pop("web-admin", None)
        issuer.access_ttl = ttl
        await context.close()
