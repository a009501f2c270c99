"""End to end in a browser: Segments › Connections lists a Mixpanel project's cohort imports from the real API (the
segment linked and opened, counts, schedule, a schedule paused with its connection), refuses a cohort id that is no
number on its field, is accessible and fits a phone; and an order's history names who made each change in words.

No Mixpanel is reachable from the tests' platform, so the connection and its imports are written to the insights
store as a connect and two imports leave them, and the connection is paused: nothing is ever sent to Mixpanel (the
ticker neither forwards nor re-imports for a paused connection). Importing against a fake Mixpanel is covered by
tests/services/insights/test_mixpanel_cohorts.py; the page's rendering of every state by connectionCohorts.test.tsx.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from infra.dev_issuer import DevIssuer
from services.insights.repository import mixpanel as store
from shared.db import tenant_tx
from shared.secrets import SecretBox
from tests.e2e.test_platform import Platform
from tests.e2e.web_browser import api, signed_in
from tests.factories import create_order

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect

SEGMENT = """mutation($name: String!) { createSegment(input: {name: $name, customerIds: []}) {
  segment { id } errors { message } } }"""


async def _paused_connection_with_imports(
    insights_pool: Any, settings: Any, org_id: UUID, segments: list[str]
) -> tuple[str, UUID]:
    box = SecretBox.from_settings(settings)
    project_id = str(int(datetime.now(UTC).timestamp() * 1000) % 10**12)
    async with tenant_tx(insights_pool, org_id) as conn:
        c = await store.insert_connection(
            conn,
            org_id,
            project_id=project_id,
            region="EU",
            token_enc=box.encrypt("token"),
            username_enc=box.encrypt("sa.user"),
            secret_enc=box.encrypt("secret"),
            forward_contacts=False,
            event_types=[],
            backfill_from=datetime.now(UTC) - timedelta(days=1),
        )
        assert c is not None
        await conn.execute("UPDATE mixpanel_connections SET paused = true WHERE org_id = $1 AND id = $2", org_id, c.id)
        await store.save_cohort_import(
            conn, org_id, c.id, 7, segment_id=UUID(segments[0]), every_minutes=None,
            members=1234, added=1234, removed=0, unmatched=["anon-1", "anon-2"], unmatched_count=2,
        )  # fmt: skip
        await store.save_cohort_import(
            conn, org_id, c.id, 9, segment_id=UUID(segments[1]), every_minutes=60,
            members=0, added=0, removed=0, unmatched=[], unmatched_count=0,
        )  # fmt: skip
    return project_id, c.id


async def test_connections_list_cohort_imports_and_order_history_names_who(
    web_platform: Platform, browser: Any, tenant: Any, issuer: DevIssuer, pool: Any, insights_pool: Any, settings: Any
) -> None:
    async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
        made = [
            (await api(client, tenant.admin_token, SEGMENT, {"name": name}))["createSegment"]
            for name in ("Power users", "Churn risk")
        ]
        integrations = (await api(client, tenant.admin_token, "{ integrations { id name } }"))["integrations"]
    assert not any(m["errors"] for m in made), made
    segments = [m["segment"]["id"] for m in made]
    project_id, _ = await _paused_connection_with_imports(insights_pool, settings, tenant.org_id, segments)
    order = await create_order(pool, tenant, email="history-by@example.com")
    integration = next(i["name"] for i in integrations if i["id"] == str(tenant.integration_id))

    async with signed_in(
        browser, web_platform, issuer, tenant, landing="/segments/connections", shot="connections-last"
    ) as b:
        page = b.page
        table = page.get_by_role("region", name=f"Cohorts imported from project {project_id}")
        await expect(table.locator("tr[data-cohort]")).to_have_count(2)
        first, second = table.locator("tr[data-cohort='7']"), table.locator("tr[data-cohort='9']")
        await expect(first).to_contain_text("on demand")
        await expect(first).to_contain_text(re.compile(r"1[,.]?234"))
        await expect(first).to_contain_text("anon-1, anon-2")
        await expect(second).to_have_attribute("data-state", "paused")
        await expect(second).to_contain_text("every hour")
        await expect(second).to_contain_text("Schedule paused with the connection")

        # A cohort id that is no number: refused on its field by the API, nothing imported
        form = page.get_by_role("form", name=f"Import a cohort of project {project_id}")
        await form.get_by_label("Cohort id").fill("power")
        await form.get_by_role("button", name="Import cohort").click()
        await expect(form.get_by_label("Cohort id")).to_have_attribute("aria-invalid", "true")
        await expect(form.locator(".field-error")).to_contain_text("number")
        await expect(table.locator("tr[data-cohort]")).to_have_count(2)
        await b.shot("16-connections-cohorts")
        await b.axe("connections-cohorts")
        await page.set_viewport_size({"width": 390, "height": 844})
        await b.no_horizontal_scroll("connections-cohorts-390")
        await page.set_viewport_size({"width": 1280, "height": 900})

        # The segment's link opens its members
        await first.get_by_role("link", name="Power users").click()
        await page.wait_for_url(re.compile(rf"/segments\?segment={segments[0]}"))
        await page.get_by_role("heading", name="Members of Power users").wait_for()

        # An order's history: the integration that sent it, by name (no raw actor id)
        await page.goto(f"{web_platform.url}/orders/{order['id']}")
        by = page.locator("td[data-source='integration']")
        await expect(by).to_have_text(f"Integration {integration}")
        await expect(page.locator("table")).not_to_contain_text("integration:")
