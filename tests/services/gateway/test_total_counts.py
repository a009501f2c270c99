"""Lists say how many rows their filter selects in all, exactly: the count equals every page together."""

from __future__ import annotations

from typing import Any

from tests.factories import create_order, gql
from tests.services.gateway.test_orders_graphql import all_rows

ORDERS = "query($f: OrderFilterInput) { orders(filter: $f, first: 2) { totalCount edges { node { id } } } }"
CUSTOMERS = """query($f: CustomerFilterInput, $after: String) { customers(filter: $f, first: 2, after: $after) {
  totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }"""


async def _all_customers(gateway: Any, token: str, f: dict[str, Any]) -> tuple[int, int]:
    seen, after, total = 0, None, -1
    while True:
        page = (await gql(gateway, CUSTOMERS, {"f": f, "after": after}, token=token))["data"]["customers"]
        total = page["totalCount"]
        seen += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return total, seen
        after = page["pageInfo"]["endCursor"]


async def test_total_count_equals_the_rows_of_every_page(gateway, pool, tenant, other_tenant) -> None:
    for i in range(5):
        await create_order(pool, tenant, status="SUCCESSFUL" if i % 2 else "PENDING", email=f"c{i}@example.com")
    await create_order(pool, tenant, product="App card", anonymous_id="anon-total-1")
    await create_order(pool, other_tenant)
    for f in ({}, {"statuses": ["SUCCESSFUL"]}, {"range": {"preset": "LAST_7_DAYS"}}, {"search": "app"}):
        body = await gql(gateway, ORDERS, {"f": f}, token=tenant.admin_token)
        rows = await all_rows(gateway, tenant.admin_token, f)
        assert body["data"]["orders"]["totalCount"] == len(rows), f
    for f in ({}, {"kind": "GENERIC"}, {"kind": "ANONYMOUS"}, {"search": "c1"}):
        total, seen = await _all_customers(gateway, tenant.admin_token, f)
        assert total == seen, f
    assert (await _all_customers(gateway, tenant.admin_token, {}))[0] == 6
