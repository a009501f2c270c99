"""End to end in a browser: a provider user (the provider's staff) corrects a pending commission and confirms it
paid on the order's page, as seed 000 has them do by hand; the ledger shows both changes, the API agrees, a bad
amount is refused on its field and changes nothing. And the Orders export as XLSX has the table's rows."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from infra.dev_issuer import DevIssuer
from tests.e2e.test_platform import Platform
from tests.e2e.web_browser import ARTIFACTS, api, signed_in
from tests.factories import create_order

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect

ORDER = """query($id: ID!) { order(id: $id) { commStatus commission { amount currency } }
  orderHistory(id: $id) { toCommStatus amount { amount } source } }"""


async def test_a_provider_user_updates_a_commission_by_hand(
    web_platform: Platform, browser: Any, tenant: Any, issuer: DevIssuer, pool: Any
) -> None:
    order = await create_order(pool, tenant, status="SUCCESSFUL", email="paid-by-hand@example.com")
    email = f"staff-{tenant.admin_subject.split('|admin-')[1]}@acme-bank.example"
    async with signed_in(
        browser,
        web_platform,
        issuer,
        tenant,
        subject=tenant.provider_subject,
        email=email,
        landing="/orders",
        shot="orders-provider-last",
    ) as b:
        page = b.page
        row = page.locator("table.orders tbody tr", has_text=order["external_ref"])
        await row.get_by_role("link").first.click()
        await page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
        form = page.locator("form.commission-form")
        await form.wait_for()
        await b.axe("order-provider")
        await b.shot("13-order-provider")

        # A negative amount: refused on its field, nothing changed.
        await page.get_by_label("Comm status").select_option("PENDING")
        await page.get_by_label(re.compile(r"^Amount in")).fill("-5")
        await page.get_by_role("button", name="Update commission").click()
        await expect(page.locator("#commission-amount")).to_have_attribute("aria-invalid", "true")
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            before = await api(client, tenant.provider_token, ORDER, {"id": str(order["id"])})
        assert before["order"]["commStatus"] == "PENDING"

        # The pending amount corrected, then confirmed paid: two lines in the ledger, by the provider.
        await page.get_by_label(re.compile(r"^Amount in")).fill("12.34")
        await page.get_by_role("button", name="Update commission").click()
        await expect(page.get_by_role("status").filter(has_text="Commission updated.")).to_be_visible()
        await page.get_by_label("Comm status").select_option("SUCCESSFUL")
        await page.get_by_role("button", name="Update commission").click()
        await expect(page.locator("dl.facts")).to_contain_text("SUCCESSFUL")
        async with httpx.AsyncClient(base_url=web_platform.url, timeout=10) as client:
            after = await api(client, tenant.provider_token, ORDER, {"id": str(order["id"])})
        assert after["order"]["commStatus"] == "SUCCESSFUL"
        assert Decimal(after["order"]["commission"]["amount"]) == Decimal("12.34")
        changes = [(h["toCommStatus"], Decimal(h["amount"]["amount"])) for h in after["orderHistory"][-2:]]
        assert changes == [("PENDING", Decimal("12.34")), ("SUCCESSFUL", Decimal("12.34"))], after["orderHistory"]
        await expect(page.locator("table tbody tr", has_text="12.34")).to_have_count(2)


async def test_the_orders_export_as_xlsx_has_the_table_s_rows(
    web_platform: Platform, browser: Any, tenant: Any, issuer: DevIssuer, pool: Any
) -> None:
    refs = [(await create_order(pool, tenant, email=f"xlsx-{i}@example.com"))["external_ref"] for i in range(3)]
    async with signed_in(browser, web_platform, issuer, tenant, landing="/orders", shot="orders-xlsx-last") as b:
        page = b.page
        await expect(page.locator("table.orders tbody tr")).to_have_count(3)
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Export XLSX").click()
        path = Path(ARTIFACTS / "orders.xlsx")
        await (await info.value).save_as(str(path))
        sheet = load_workbook(path, read_only=True).active
        rows = [r for r in sheet.iter_rows(values_only=True) if any(v is not None for v in r)]
        assert len(rows) - 1 == 3
        text = " ".join(str(v) for r in rows for v in r)
        assert all(ref in text for ref in refs), text[:300]
