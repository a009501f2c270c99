"""Exports neutralise every text cell and survive anything stored; text input refuses control characters."""

from __future__ import annotations

import csv
import io

import openpyxl

from shared.db import tenant_tx
from tests.factories import create_order, gql
from tests.services.gateway.test_orders_graphql import EXPORT, download

HOSTILE = '=HYPERLINK("http://evil.example","click")'


async def _export(gateway, tenant, kind: str, fmt: str) -> bytes:
    variables = {"k": kind, "fmt": fmt, "of" if kind == "ORDERS" else "cf": {}}
    body = await gql(gateway, EXPORT, variables, token=tenant.admin_token)
    return await download(gateway, body["data"]["requestExport"]["url"])


async def test_control_characters_are_refused_naming_the_field(gateway, pool, tenant) -> None:
    headers = {"authorization": f"Bearer {tenant.api_key}"}
    product = str(tenant.products["Broadband"])
    cases = [
        ({"externalRef": "ref\u0001", "productId": product, "customer": {"email": "c@example.com"}}, "externalRef"),
        (
            {"externalRef": "ok-1", "productId": product, "customer": {"anonymousId": "a\u0000b"}},
            "customer.anonymousId",
        ),
        (
            {"externalRef": "ok-2", "productId": product, "customer": {"email": "c@example.com"}, "channel": "w\u001b"},
            "channel",
        ),
    ]
    for body, field in cases:
        r = await gateway.post("/v1/orders", json=body, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    async with tenant_tx(pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", tenant.org_id) == 0


async def test_every_text_cell_is_neutralised_and_stored_control_characters_survive(gateway, pool, tenant) -> None:
    r = await gateway.post(
        "/v1/customers/identify",
        json={"anonymousId": "hostile-1", "channel": HOSTILE},
        headers={"authorization": f"Bearer {tenant.api_key}"},
    )
    assert r.status_code == 200
    order = await create_order(pool, tenant, ref="legacy-ref")
    async with tenant_tx(pool, tenant.org_id) as conn:  # stored before input refused control characters
        await conn.execute("UPDATE orders SET external_ref = 'old\x01ref' WHERE id = $1", order["id"])

    rows = list(csv.DictReader(io.StringIO((await _export(gateway, tenant, "CUSTOMERS", "CSV")).decode())))
    assert {r["channel"] for r in rows} >= {"'" + HOSTILE}
    book = openpyxl.load_workbook(io.BytesIO(await _export(gateway, tenant, "CUSTOMERS", "XLSX")), read_only=True)
    cells = [c for row in book.active.iter_rows() for c in row]
    channel = next(c for c in cells if isinstance(c.value, str) and "HYPERLINK" in c.value)
    assert channel.value == "'" + HOSTILE and channel.data_type == "s"  # text, not a formula

    orders = openpyxl.load_workbook(io.BytesIO(await _export(gateway, tenant, "ORDERS", "XLSX")), read_only=True)
    refs = [row[1] for row in orders.active.iter_rows(min_row=2, values_only=True)]
    assert "old\ufffdref" in refs  # the workbook opens; the character XML cannot hold is replaced
