"""activity: the organisation's newest events across all customers, by type and class, keyset pages; never
another organisation's; the page reads the newest partition through an index."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.insights.repository import activity
from shared.db import tenant_tx
from tests.factories import create_order, gql
from tests.services.insights.test_timeline import _explain, _summary, ev, store

ACTIVITY = """query($f: ActivityFilterInput, $first: Int!, $after: String) {
  activity(filter: $f, first: $first, after: $after) {
    edges { cursor node { id at kind type class properties customerId customer { id displayName } detail
      device { deviceId platform } } }
    pageInfo { hasNextPage endCursor } } }"""


async def feed(gateway: Any, token: str, first: int, f: Any = None) -> list[Any]:
    nodes: list[Any] = []
    after = None
    for _ in range(100):
        r = await gql(gateway, ACTIVITY, {"f": f, "first": first, "after": after}, token=token)
        assert "errors" not in r, r
        page = r["data"]["activity"]
        assert len(page["edges"]) <= first
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("more than 100 pages")


async def _setup(pool: Any, insights_pool: Any, tenant: Any, other_tenant: Any) -> tuple[Any, Any, datetime]:
    jo = await create_order(pool, tenant, email=f"jo-{uuid.uuid4().hex[:6]}@example.com")
    async with tenant_tx(pool, tenant.org_id) as conn:
        jo["display_name"] = await conn.fetchval("SELECT display_name FROM customers WHERE id = $1", jo["customer_id"])
    al = await create_order(pool, tenant, email=f"al-{uuid.uuid4().hex[:6]}@example.com")
    stranger = await create_order(pool, other_tenant, email=f"st-{uuid.uuid4().hex[:6]}@example.com")
    now = datetime.now(UTC)
    spec = [
        ("visit", "funnel", jo),
        ("page_view", "behaviour", al),
        ("click", "behaviour", jo),
        ("visit", "funnel", al),
        ("achievement", "business", jo),
        ("page_view", "behaviour", jo),
        ("form_step", "behaviour", al),
    ]
    batch = [
        ev(now - timedelta(hours=i * 7), t, c, o["customer_id"], properties={"n": i})
        for i, (t, c, o) in enumerate(spec)
    ]
    # Two events at the same instant: the page boundary must neither skip nor repeat either.
    batch += [
        ev(now - timedelta(hours=100), "click", "behaviour", al["customer_id"], properties={"n": n}) for n in (7, 8)
    ]
    batch[0].device_id, batch[0].device_platform = "jo-phone", "ios"
    await store(insights_pool, tenant.org_id, tenant.integration_id, batch)
    await store(
        insights_pool,
        other_tenant.org_id,
        other_tenant.integration_id,
        [ev(now - timedelta(minutes=m), "visit", "funnel", stranger["customer_id"]) for m in range(1, 4)],
    )
    return jo, al, now


async def test_feed_is_newest_first_across_customers_paginated_and_filtered(
    gateway, pool, insights_pool, tenant, other_tenant
) -> None:
    jo, al, _ = await _setup(pool, insights_pool, tenant, other_tenant)
    token = tenant.member_token
    everything = await feed(gateway, token, 50)
    assert [n["properties"]["n"] for n in everything][:7] == list(range(7))
    assert sorted(n["properties"]["n"] for n in everything[7:]) == [7, 8]
    for first in (1, 2, 3, 4):
        assert [n["id"] for n in await feed(gateway, token, first)] == [n["id"] for n in everything], first

    first_node = everything[0]
    assert first_node["kind"] == "VISIT" and first_node["class"] == "FUNNEL"
    assert first_node["customer"] == {"id": str(jo["customer_id"]), "displayName": jo["display_name"]}
    assert first_node["customerId"] == str(jo["customer_id"])
    assert first_node["device"] == {"deviceId": "jo-phone", "platform": "ios"}
    assert first_node["detail"]  # the integration's name

    def ns(nodes: list[Any]) -> list[int]:
        return [n["properties"]["n"] for n in nodes]

    assert ns(await feed(gateway, token, 2, {"types": ["visit"]})) == [0, 3]
    clicks_and_views = await feed(gateway, token, 2, {"types": ["page_view", "click"]})
    assert ns(clicks_and_views)[:3] == [1, 2, 5] and sorted(ns(clicks_and_views)[3:]) == [7, 8]
    assert ns(await feed(gateway, token, 2, {"classes": ["BUSINESS"]})) == [4]
    behaviour = await feed(gateway, token, 3, {"classes": ["BEHAVIOUR"]})
    assert ns(behaviour)[:4] == [1, 2, 5, 6] and len(behaviour) == 6
    assert ns(await feed(gateway, token, 2, {"types": ["visit", "click"], "classes": ["FUNNEL"]})) == [0, 3]
    assert await feed(gateway, token, 2, {"types": ["custom:never_sent"]}) == []
    assert {n["customer"]["id"] for n in everything} == {str(jo["customer_id"]), str(al["customer_id"])}


async def test_refusals_name_the_field(gateway, tenant) -> None:
    async def refused(variables: dict[str, Any]) -> tuple[str, str]:
        r = await gql(gateway, ACTIVITY, {"first": 10, **variables}, token=tenant.admin_token)
        assert r.get("data") is None and r["errors"], r
        ext = r["errors"][0]["extensions"]
        return ext["code"], ext["field"]

    assert await refused({"f": {"types": ["no_such_type"]}}) == ("INVALID_INPUT", "filter.types")
    assert await refused({"f": {"types": []}}) == ("INVALID_INPUT", "filter.types")
    assert await refused({"f": {"classes": ["ORDER"]}}) == ("INVALID_INPUT", "filter.classes")
    assert await refused({"after": "nope"}) == ("INVALID_CURSOR", "after")
    assert await refused({"first": 0}) == ("INVALID_PAGE_SIZE", "first")


async def test_another_organisations_events_never_appear(gateway, pool, insights_pool, tenant, other_tenant) -> None:
    await _setup(pool, insights_pool, tenant, other_tenant)
    mine = await feed(gateway, tenant.admin_token, 50)
    theirs = await feed(gateway, other_tenant.admin_token, 50)
    assert len(mine) == 9 and len(theirs) == 3
    assert not {n["id"] for n in mine} & {n["id"] for n in theirs}
    assert all(n["customer"] is not None for n in theirs)
    # A cursor of A's feed used by B pages B's own events only (a cursor is a position, not a permission).
    r = await gql(gateway, ACTIVITY, {"first": 1}, token=tenant.admin_token)
    cursor = r["data"]["activity"]["pageInfo"]["endCursor"]
    r = await gql(gateway, ACTIVITY, {"first": 50, "after": cursor}, token=other_tenant.admin_token)
    assert {e["node"]["id"] for e in r["data"]["activity"]["edges"]} <= {n["id"] for n in theirs}
    # Row-level security alone: B's transaction naming A's organisation reads nothing.
    async with tenant_tx(insights_pool, other_tenant.org_id) as conn:
        rows, more = await activity.page(conn, tenant.org_id, types=None, classes=None, first=50, after=None)
    assert rows == [] and not more


async def test_pages_read_the_newest_partition_through_an_index(pool, insights_pool, tenant) -> None:
    now = datetime.now(UTC)
    kinds = [("page_view", "behaviour")] * 8 + [("click", "behaviour"), ("visit", "funnel")]
    batch = [ev(now - timedelta(minutes=6 * i + 1), *kinds[i % 10], uuid.uuid4()) for i in range(6000)]
    await store(insights_pool, tenant.org_id, tenant.integration_id, batch)
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        await conn.execute("ANALYZE events")
        first_page, _ = await activity.page(conn, tenant.org_id, types=None, classes=None, first=50, after=None)
        cases = [
            ("newest 50", None, None, None, "pkey"),
            ("page 2", None, None, first_page[-1]["cursor"], "pkey"),
            ("visits", ["visit"], None, None, "type"),
            ("visits and clicks", ["click", "visit"], None, None, "type"),
        ]
        for name, types, classes, after, index in cases:
            sql, args = activity.page_query(tenant.org_id, types=types, classes=classes, first=50, after=after)
            plan, scans, executed, read = await _explain(conn, sql, args)
            print(f"\nactivity {name}: {len(executed)} of {len(scans)} partition scans executed, {read} rows read:")
            print(_summary(plan))
            assert all(index in n["Index Name"] for n in executed), [n["Index Name"] for n in executed]
            # 240 events a day, 24 of them visits and 24 clicks: a page of 50 of all is in the newest day or two,
            # of one type in the newest four.
            assert len(executed) <= (2 if types is None else 4 * len(types)), (name, len(executed))
            assert read <= 53 * len(types or [None]), (name, read)
