"""End to end in a browser: the activity feed (every customer's events, newest first, filtered in the URL, paged
with Load more, live), an integration's products curated on screen (a product with orders refused removal and
switched off instead, another removed, a catalogue product added and moved up) and a static segment renamed, its
members removed and added, then deleted, the API agreeing with the screen after each step."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from infra.dev_issuer import DevIssuer
from services.orders.repository import catalogue
from shared.db import tenant_tx
from tests.e2e.test_platform import Platform, _until
from tests.e2e.web_browser import api, signed_in
from tests.factories import create_order

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
expect.set_options(timeout=15_000)

FEED = """query($f: ActivityFilterInput, $after: String) {
  activity(filter: $f, first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { id type } } }"""
PRODUCTS = """query($i: ID!) { products(integrationId: $i) { id name enabled catalogueProductId } }"""
SEGMENT = """query($id: ID!) { segment(id: $id) { name memberCount members { nodes { customerId } } } }"""
VISITS = 55  # more than a page of the feed (50): Load more is needed


async def _feed(client: httpx.AsyncClient, token: str, f: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The whole feed of a filter as the API pages it."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await api(client, token, FEED, {"f": f, "after": after}))["activity"]
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


async def _send_events(platform: Platform, tenant: Any, events: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=platform.url, timeout=15) as client:
        r = await client.post(
            "/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"}
        )
        assert r.status_code == 202, r.text
        assert not r.json().get("refused"), r.text


async def test_the_activity_feed(web_platform: Platform, browser: Any, tenant: Any, issuer: DevIssuer) -> None:
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=web_platform.url, timeout=15) as client:
        for n in range(3):  # orders as an integration sends them: each an order_placed event with its order
            r = await client.post(
                "/v1/orders",
                headers={"authorization": f"Bearer {tenant.api_key}"},
                json={
                    "externalRef": f"act-{tag}-{n}",
                    "productId": str(tenant.products["Broadband"]),
                    "customer": {"email": f"act-{tag}-{n}@example.com"},
                },
            )
            assert r.status_code == 201, r.text
    visits = [
        {
            "id": f"act-{tag}-visit-{i}",
            "type": "visit",
            "occurredAt": (now - timedelta(seconds=10 + i)).isoformat(),
            "email": f"act-{tag}-v{i}@example.com",
        }
        for i in range(VISITS)
    ]
    views = [
        {
            "id": f"act-{tag}-view-{i}",
            "type": "page_view",
            "occurredAt": (now - timedelta(seconds=5 + i)).isoformat(),
            "email": f"act-{tag}-{i}@example.com",
            "properties": {"page": f"/offers/{i}"},
        }
        for i in range(3)
    ]
    await _send_events(web_platform, tenant, visits + views)

    async with httpx.AsyncClient(base_url=web_platform.url, timeout=15) as client:

        async def landed() -> list[dict[str, Any]] | None:
            feed = await _feed(client, tenant.admin_token)
            kinds = [e["type"] for e in feed]
            counts = (kinds.count("visit"), kinds.count("page_view"), kinds.count("order_placed"))
            return feed if counts == (VISITS, 3, 3) else None

        everything = await _until(landed, 90)  # orders travel relay → Redis → insights worker: slow on a busy machine
        assert everything, "the events did not reach the insights service in 90 s"
        behaviour = await _feed(client, tenant.admin_token, {"classes": ["BEHAVIOUR"]})
        placed = await _feed(client, tenant.admin_token, {"types": ["order_placed"]})
    assert len(behaviour) == 3 and len(placed) == 3

    async with signed_in(
        browser, web_platform, issuer, tenant, landing="/customers", shot="customers-activity-last"
    ) as b:
        page = b.page
        entries = page.locator("ol.activity-feed > li")
        shown = page.get_by_test_id("activity-shown")
        # Customers links to the feed; the first page is the API's newest 50, newest first
        await page.get_by_role("link", name="Activity feed").click()
        await page.wait_for_url(re.compile(r"/customers/activity$"))
        await expect(shown).to_have_attribute("data-count", "50")
        assert await entries.first.get_attribute("data-event") == everything[0]["id"]
        await expect(page.locator('.live[data-live="on"]')).to_be_visible(timeout=30_000)
        await b.shot("20-activity")
        await b.axe("activity")
        # Load more until the oldest: as many entries as the API's feed, in its order
        more = page.get_by_role("button", name="Load more")
        await more.click()
        await expect(shown).to_have_attribute("data-count", str(len(everything)))
        await expect(more).to_have_count(0)
        assert await entries.evaluate_all("els => els.map(e => e.dataset.event)") == [e["id"] for e in everything]

        # A class filter: in the URL, the entries the API's for it
        await page.get_by_role("button", name="User behaviour").click()
        await page.wait_for_url(re.compile(r"class=BEHAVIOUR"))
        await expect(shown).to_have_attribute("data-count", str(len(behaviour)))
        assert set(await entries.evaluate_all("els => els.map(e => e.dataset.class)")) == {"BEHAVIOUR"}
        # Live: a page view sent by the integration joins the top without a reload
        await _send_events(
            web_platform,
            tenant,
            [
                {
                    "id": f"act-{tag}-live",
                    "type": "page_view",
                    "occurredAt": datetime.now(UTC).isoformat(),
                    "email": f"act-{tag}-0@example.com",
                }
            ],
        )
        await expect(shown).to_have_attribute("data-count", str(len(behaviour) + 1), timeout=30_000)
        await expect(page.locator(".live")).to_contain_text("1 new event arrived")

        # A type filter (of another class): the URL names it, the entries are its own, each linking its order
        await page.get_by_role("button", name="Funnel events").click()
        await page.wait_for_url(re.compile(r"class=FUNNEL"))
        await page.get_by_label("Event type").select_option("order_placed")
        await page.wait_for_url(re.compile(r"type=order_placed"))
        query = parse_qs(urlsplit(page.url).query)
        assert query == {"class": ["FUNNEL"], "type": ["order_placed"]}
        await expect(shown).to_have_attribute("data-count", str(len(placed)))
        assert await entries.evaluate_all("els => els.map(e => e.dataset.event)") == [e["id"] for e in placed]
        await expect(entries.locator("a[data-order]")).to_have_count(len(placed))
        await expect(entries.locator("a[data-customer]")).to_have_count(len(placed))
        await entries.first.locator("a[data-order]").click()
        await page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
        await expect(page.locator("h1")).to_contain_text(f"act-{tag}-2")  # the newest order's page
        await page.go_back()
        await page.wait_for_url(re.compile(r"type=order_placed"))
        await entries.first.locator("a[data-customer]").click()
        await page.wait_for_url(re.compile(r"/customers/[0-9a-f-]{36}$"))
        await expect(page.locator("h1")).to_have_text(f"act-{tag}-2@example.com")

        # A phone: no sideways scroll of the page
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.goto(f"{web_platform.url}/customers/activity")
        await expect(shown).to_have_attribute("data-count", "50")
        await b.no_horizontal_scroll("activity")
        await b.shot("20-activity-390")
        await b.axe("activity-390")


async def test_curating_products_and_editing_a_segment(
    web_platform: Platform, browser: Any, tenant: Any, issuer: DevIssuer, pool: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    fibre = f"Fibre 900 {tag}"
    async with tenant_tx(pool, tenant.org_id) as conn:
        entry = await catalogue.create_catalogue_product(
            conn,
            tenant.org_id,
            provider_id=tenant.provider["id"],
            category_id=tenant.categories["Broadband"],
            name=fibre,
            commission_rate="15.00",
            currency="GBP",
        )
    # Broadband's product has orders (of the segment's two customers): it cannot be removed
    for who in ("a", "b"):
        await create_order(pool, tenant, product="Broadband", email=f"seg-{tag}-{who}@example.com")
    integration = str(tenant.integration_id)
    async with httpx.AsyncClient(base_url=web_platform.url, timeout=15) as client:
        found = await api(
            client,
            tenant.admin_token,
            "query($s: String) { customers(filter: {search: $s}) { nodes { id email } } }",
            {"s": f"seg-{tag}-"},
        )
        ids = {n["email"]: n["id"] for n in found["customers"]["nodes"]}
        assert len(ids) == 2, found
        made = await api(
            client,
            tenant.admin_token,
            """mutation($i: CreateSegmentInput!) { createSegment(input: $i) { segment { id } errors { message } } }""",
            {"i": {"name": f"Static {tag}", "customerIds": list(ids.values())}},
        )
        assert made["createSegment"]["errors"] == [], made
        segment_id = made["createSegment"]["segment"]["id"]

    async def products() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=15) as client:
            return list((await api(client, tenant.admin_token, PRODUCTS, {"i": integration}))["products"])

    async def segment() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=15) as client:
            data = await api(client, tenant.admin_token, SEGMENT, {"id": segment_id})
            found: dict[str, Any] | None = data["segment"]
            return found

    async with signed_in(
        browser, web_platform, issuer, tenant, landing="/integrations", shot="integrations-curation-last"
    ) as b:
        page = b.page
        # Every confirmation (remove a product, a member, delete the segment) is accepted.
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        tile = page.locator(f'li[data-integration="{integration}"]')
        rows = tile.locator("ol.product-list > li")
        before = await products()
        await expect(rows).to_have_count(len(before))
        assert await rows.evaluate_all("els => els.map(e => e.dataset.product)") == [p["id"] for p in before]
        await b.shot("21-integrations")
        await b.axe("integrations")

        # A product with orders: its removal refused on its row, switched off instead
        broadband = tile.locator(f'li[data-product="{tenant.products["Broadband"]}"]')
        await tile.get_by_role("button", name="Remove Broadband product").click()
        await expect(broadband.get_by_role("alert")).to_contain_text("switch it off instead")
        await tile.get_by_role("button", name="Switch off Broadband product").click()
        await expect(broadband).to_have_attribute("data-enabled", "false")
        after_off = {p["name"]: p for p in await products()}
        assert after_off["Broadband product"]["enabled"] is False

        # One without orders removed; a catalogue product added (last, on) and moved up one place
        await tile.get_by_role("button", name="Remove Current Accounts product").click()
        await expect(rows).to_have_count(len(before) - 1)
        assert "Current Accounts product" not in [p["name"] for p in await products()]
        await tile.get_by_label("Add from the catalogue").select_option(str(entry["id"]))
        await tile.get_by_role("button", name="Add product to Web Marketplace").click()
        await expect(rows).to_have_count(len(before))
        added = (await products())[-1]
        assert (added["name"], added["enabled"], added["catalogueProductId"]) == (fibre, True, str(entry["id"]))
        await tile.get_by_role("button", name=f"Move up {fibre}").click()
        await expect(rows.nth(len(before) - 2)).to_have_attribute("data-product", added["id"])
        final = await products()
        assert [p["name"] for p in final] == ["Broadband product", fibre, "Credit Cards product"]
        assert await rows.evaluate_all("els => els.map(e => e.dataset.product)") == [p["id"] for p in final]

        # The segment: renamed in its form, the API agreeing
        await page.get_by_role("link", name="Segments", exact=True).click()
        row = page.locator(f'tr[data-segment="{segment_id}"]')
        await row.get_by_role("button", name=f"Edit Static {tag}").click()
        await page.get_by_label("Name", exact=True).fill(f"Renamed {tag}")
        await page.get_by_role("button", name="Save segment").click()
        await expect(row).to_contain_text(f"Renamed {tag}")
        assert (await segment() or {}).get("name") == f"Renamed {tag}"

        # Its members: one removed, then found by email and added back
        await row.get_by_role("button", name=f"Members of Renamed {tag}").click()
        members = page.locator("tr[data-member]")
        await expect(members).to_have_count(2)
        await b.axe("segment-members")
        email_a = f"seg-{tag}-a@example.com"
        await page.get_by_role("button", name=f"Remove {email_a} from Renamed {tag}").click()
        await expect(members).to_have_count(1)
        await expect(row.get_by_test_id("member-count")).to_have_attribute("data-count", "1")
        now = await segment()
        assert (
            now
            and now["memberCount"] == 1
            and [m["customerId"] for m in now["members"]["nodes"]] == [ids[f"seg-{tag}-b@example.com"]]
        )
        await page.get_by_label("Customer to add", exact=True).fill(email_a)
        await page.get_by_role("button", name="Find", exact=True).click()
        await page.get_by_role("button", name=f"Add {email_a} to Renamed {tag}").click()
        await expect(page.get_by_role("status").filter(has_text=f"{email_a} added to Renamed {tag}.")).to_be_visible()
        await expect(page.get_by_role("list", name="Customers found")).to_have_count(0)
        await expect(members).to_have_count(2)
        now = await segment()
        assert now and now["memberCount"] == 2
        assert {m["customerId"] for m in now["members"]["nodes"]} == set(ids.values())
        await b.shot("22-segment-members")

        # Deleted (confirmed): gone from the list and from the API
        await row.get_by_role("button", name=f"Delete Renamed {tag}").click()
        await expect(row).to_have_count(0)
        assert await segment() is None

        # The curated integrations on a phone: no sideways scroll of the page
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.goto(f"{web_platform.url}/integrations")
        await expect(rows).to_have_count(len(before))
        await b.no_horizontal_scroll("integrations")
        await b.shot("21-integrations-390")
