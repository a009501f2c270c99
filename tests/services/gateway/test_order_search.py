"""Orders are found by reference prefix, or by part of a product or category name; the summary agrees."""

from __future__ import annotations

from typing import Any

from tests.factories import create_order, gql
from tests.services.gateway.test_orders_graphql import SUMMARY

PAGE = """query($f: OrderFilterInput) { orders(filter: $f, first: 100) {
  edges { node { externalRef product { name } category { name } } } } }"""


async def _search(gateway: Any, token: str, text: str) -> tuple[list[dict[str, Any]], int]:
    f = {"search": text}
    rows = [e["node"] for e in (await gql(gateway, PAGE, {"f": f}, token=token))["data"]["orders"]["edges"]]
    total = (await gql(gateway, SUMMARY, {"f": f}, token=token))["data"]["ordersSummary"]["totalOrders"]
    return rows, total


async def test_search_by_reference_product_and_category(gateway, pool, tenant, other_tenant) -> None:
    await create_order(pool, tenant, ref="web-100", product="Broadband")
    await create_order(pool, tenant, ref="web-101", product="Credit Cards")
    await create_order(pool, tenant, ref="app-7", product="App card")
    await create_order(pool, other_tenant, ref="web-999", product="Credit Cards")

    rows, total = await _search(gateway, tenant.admin_token, "web-")
    assert sorted(r["externalRef"] for r in rows) == ["web-100", "web-101"] and total == 2

    rows, total = await _search(gateway, tenant.admin_token, "CREDIT")  # a category (and product) name, any case
    assert {r["category"]["name"] for r in rows} == {"Credit Cards"} and total == len(rows) == 2

    rows, total = await _search(gateway, tenant.admin_token, "app card")  # a product name
    assert [r["externalRef"] for r in rows] == ["app-7"] and total == 1

    for literal in ("%", "_", "web_"):  # wildcards are taken literally
        rows, total = await _search(gateway, tenant.admin_token, literal)
        assert rows == [] and total == 0
