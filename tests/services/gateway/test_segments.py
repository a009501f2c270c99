"""Segments through GraphQL: CRUD, validation, permissions, the same customers everywhere a segment filters
(`segment.members`, `customers`, `orders`, `ordersSummary`), and tenant isolation on every path.

The insights service's outbox events (`segment.members_changed` / `segment.deleted`) are applied to the orders
service's copy as its worker applies them (`shared.messaging.consumer.apply_event`, once per event id)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.db import tenant_tx
from shared.messaging import contracts
from shared.messaging.consumer import apply_event
from shared.messaging.contracts import Event
from shared.service import segment_copies
from tests.factories import Tenant, create_order, gql
from tests.services.gateway.test_orders_graphql import EXPORT, download
from tests.services.insights.analytics_data import event, ingest

SEGMENT_FIELDS = "id name kind memberCount source definition"
CREATE = f"""mutation($input: CreateSegmentInput!) {{
  createSegment(input: $input) {{ segment {{ {SEGMENT_FIELDS} }} errors {{ field code message }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: UpdateSegmentInput!) {{
  updateSegment(id: $id, input: $input) {{ segment {{ {SEGMENT_FIELDS} }} errors {{ field code message }} }} }}"""
DELETE = "mutation($id: ID!) { deleteSegment(id: $id) { deleted errors { field code message } } }"
MEMBERS = """query($id: ID!, $after: String) { segment(id: $id) { memberCount
  members(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    nodes { customerId customer { id } } } } }"""
CUSTOMERS = """query($f: CustomerFilterInput) { customers(filter: $f, first: 100) { totalCount nodes { id } } }"""
ORDERS = """query($f: OrderFilterInput) { orders(filter: $f, first: 100) { nodes { id } }
  ordersSummary(filter: $f) { totalOrders } }"""


async def feed_orders_copy(pool: Any, insights_pool: Any, org_id: uuid.UUID) -> int:
    """The organisation's segment events in the insights outbox, applied to the orders copy (once per id)."""
    async with tenant_tx(insights_pool, org_id) as conn:
        rows = await conn.fetch(
            "SELECT * FROM outbox WHERE org_id = $1 AND type = ANY($2::text[]) ORDER BY occurred_at, id",
            org_id,
            sorted(contracts.SEGMENT_EVENTS),
        )
    applied = 0
    for r in rows:
        e = Event(r["id"], r["type"], r["org_id"], r["occurred_at"], r["version"], dict(r["payload"]))
        applied += await apply_event(pool, "orders", e, segment_copies.HANDLERS)
    return applied


async def customer_of(pool: Any, org_id: uuid.UUID, anon: str) -> str:
    async with tenant_tx(pool, org_id) as conn:
        return str(
            await conn.fetchval("SELECT id FROM customers WHERE org_id = $1 AND anonymous_id = $2", org_id, anon)
        )


async def visitors(gateway: Any, pool: Any, tenant: Tenant, visits: dict[str, int]) -> dict[str, str]:
    """Each visitor's `visits` visit events over the last days; their customer ids."""
    now = datetime.now(UTC).replace(microsecond=0)
    events = [event("visit", now - timedelta(hours=3 * i + 1), v) for v, n in visits.items() for i in range(n)]
    await ingest(gateway, tenant.api_key, events)
    return {v: await customer_of(pool, tenant.org_id, v) for v in visits}


async def all_members(gateway: Any, token: str, segment_id: str) -> tuple[int, list[str]]:
    ids: list[str] = []
    after = None
    while True:
        body = await gql(gateway, MEMBERS, {"id": segment_id, "after": after}, token=token)
        seg = body["data"]["segment"]
        page = seg["members"]
        assert page["totalCount"] == seg["memberCount"]
        for n in page["nodes"]:
            assert n["customer"]["id"] == n["customerId"]
        ids += [n["customerId"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seg["memberCount"], ids
        after = page["pageInfo"]["endCursor"]


def visits_at_least(n: int) -> dict[str, Any]:
    return {"events": [{"type": "visit", "atLeast": n, "lastDays": 30}]}


async def test_dynamic_segment_selects_the_same_customers_everywhere(gateway, pool, insights_pool, tenant) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = await visitors(gateway, pool, tenant, {f"a-{tag}": 3, f"b-{tag}": 2, f"c-{tag}": 1, f"d-{tag}": 2})
    a, b, c, d = (ids[f"{k}-{tag}"] for k in "abcd")
    order_a = await create_order(pool, tenant, anonymous_id=f"a-{tag}")
    await create_order(pool, tenant, anonymous_id=f"c-{tag}")

    body = await gql(
        gateway, CREATE, {"input": {"name": "Regulars", "definition": visits_at_least(2)}}, token=tenant.admin_token
    )
    created = body["data"]["createSegment"]
    assert created["errors"] == []
    seg = created["segment"]
    assert (seg["kind"], seg["memberCount"], seg["source"]) == ("DYNAMIC", 3, "manual")
    count, members = await all_members(gateway, tenant.member_token, seg["id"])
    assert count == len(members) == 3 and set(members) == {a, b, d}

    # Before the events land the orders copy does not know the segment: NOT_FOUND, as for any unknown one.
    body = await gql(gateway, CUSTOMERS, {"f": {"segmentId": seg["id"]}}, token=tenant.admin_token)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert body["errors"][0]["extensions"]["field"] == "filter.segmentId"
    assert await feed_orders_copy(pool, insights_pool, tenant.org_id) == 1
    body = await gql(gateway, CUSTOMERS, {"f": {"segmentId": seg["id"]}}, token=tenant.admin_token)
    assert body["data"]["customers"]["totalCount"] == 3
    assert {n["id"] for n in body["data"]["customers"]["nodes"]} == {a, b, d}
    body = await gql(gateway, ORDERS, {"f": {"segmentId": seg["id"]}}, token=tenant.admin_token)
    assert [n["id"] for n in body["data"]["orders"]["nodes"]] == [str(order_a["id"])]
    assert body["data"]["ordersSummary"]["totalOrders"] == 1
    # The exports hold the same rows: the customers' ids, the one order.
    for kind, key in (("CUSTOMERS", "cf"), ("ORDERS", "of")):
        variables = {"k": kind, "fmt": "CSV", key: {"segmentId": seg["id"]}}
        body = await gql(gateway, EXPORT, variables, token=tenant.admin_token)
        csv_rows = (await download(gateway, body["data"]["requestExport"]["url"])).decode().splitlines()[1:]
        expected = {a, b, d} if kind == "CUSTOMERS" else {str(order_a["id"])}
        assert {row.split(",")[0] for row in csv_rows} == expected, csv_rows

    # A narrower definition: members removed, the copy follows once the diff lands (replays change nothing).
    body = await gql(
        gateway, UPDATE, {"id": seg["id"], "input": {"definition": visits_at_least(3)}}, token=tenant.admin_token
    )
    assert body["data"]["updateSegment"]["segment"]["memberCount"] == 1
    assert await feed_orders_copy(pool, insights_pool, tenant.org_id) == 1
    assert await feed_orders_copy(pool, insights_pool, tenant.org_id) == 0
    body = await gql(gateway, CUSTOMERS, {"f": {"segmentId": seg["id"]}}, token=tenant.admin_token)
    assert [n["id"] for n in body["data"]["customers"]["nodes"]] == [a]
    assert await all_members(gateway, tenant.admin_token, seg["id"]) == (1, [a])

    # Static: an explicit list, checked with the orders service; replaced whole by an update.
    body = await gql(gateway, CREATE, {"input": {"name": "Picked", "customerIds": [b, c]}}, token=tenant.admin_token)
    static = body["data"]["createSegment"]["segment"]
    assert (static["kind"], static["memberCount"]) == ("STATIC", 2)
    body = await gql(gateway, UPDATE, {"id": static["id"], "input": {"customerIds": [c, d]}}, token=tenant.admin_token)
    assert body["data"]["updateSegment"]["segment"]["memberCount"] == 2
    await feed_orders_copy(pool, insights_pool, tenant.org_id)
    body = await gql(gateway, CUSTOMERS, {"f": {"segmentId": static["id"]}}, token=tenant.admin_token)
    assert {n["id"] for n in body["data"]["customers"]["nodes"]} == {c, d}
    assert set((await all_members(gateway, tenant.admin_token, static["id"]))[1]) == {c, d}

    body = await gql(gateway, "{ segments { id name memberCount } }", token=tenant.member_token)
    assert [(s["name"], s["memberCount"]) for s in body["data"]["segments"]] == [("Picked", 2), ("Regulars", 1)]

    # Deleted: gone from reads, and every filter naming it is NOT_FOUND once the event lands.
    body = await gql(gateway, DELETE, {"id": seg["id"]}, token=tenant.admin_token)
    assert body["data"]["deleteSegment"] == {"deleted": True, "errors": []}
    assert (await gql(gateway, MEMBERS, {"id": seg["id"]}, token=tenant.admin_token))["data"]["segment"] is None
    await feed_orders_copy(pool, insights_pool, tenant.org_id)
    for query in (CUSTOMERS, ORDERS):
        body = await gql(gateway, query, {"f": {"segmentId": seg["id"]}}, token=tenant.admin_token)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_bad_input_names_the_field_and_stores_nothing(gateway, pool, tenant) -> None:
    cases = [
        ({"events": [{"type": "no_such_event", "lastDays": 7}]}, "input.definition.events.0.type"),
        ({"events": [{"type": "visit", "lastDays": 91}]}, "input.definition.events.0.lastDays"),
        ({"events": [{"type": "visit", "lastDays": 7, "atLeast": 0}]}, "input.definition.events.0.atLeast"),
        ({}, "input.definition"),
        ({"lastSeen": {"from": "2026-02-01", "to": "2026-01-01"}}, "input.definition.lastSeen"),
    ]
    for definition, field in cases:
        body = await gql(gateway, CREATE, {"input": {"name": "x", "definition": definition}}, token=tenant.admin_token)
        result = body["data"]["createSegment"]
        assert result["segment"] is None, definition
        assert result["errors"][0]["field"] == field, (definition, result["errors"])
        assert result["errors"][0]["code"] == "INVALID_INPUT"
    # An unknown field is refused by the schema itself, naming it.
    body = await gql(
        gateway, CREATE, {"input": {"name": "x", "definition": {"color": "red"}}}, token=tenant.admin_token
    )
    assert "color" in body["errors"][0]["message"]
    # Both a definition and a list; an empty name; a customer id the organisation does not have.
    unknown = str(uuid.uuid4())
    for payload, field in (
        ({"name": "x", "definition": visits_at_least(1), "customerIds": []}, "input.customerIds"),
        ({"name": " ", "customerIds": []}, "input.name"),
        ({"name": "bad\u0007name", "customerIds": []}, "input.name"),
        ({"name": "x", "customerIds": [unknown]}, "input.customerIds[0]"),
    ):
        body = await gql(gateway, CREATE, {"input": payload}, token=tenant.admin_token)
        assert body["data"]["createSegment"]["errors"][0]["field"] == field, body
    body = await gql(gateway, "{ segments { id } }", token=tenant.admin_token)
    assert body["data"]["segments"] == []


async def test_members_read_admins_write_providers_are_refused(gateway, tenant) -> None:
    body = await gql(gateway, CREATE, {"input": {"name": "x", "customerIds": []}}, token=tenant.member_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(gateway, CREATE, {"input": {"name": "Empty", "customerIds": []}}, token=tenant.admin_token)
    sid = body["data"]["createSegment"]["segment"]["id"]
    for query, variables in (
        (UPDATE, {"id": sid, "input": {"name": "y"}}),
        (DELETE, {"id": sid}),
    ):
        body = await gql(gateway, query, variables, token=tenant.member_token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(gateway, "{ segments { name memberCount } }", token=tenant.member_token)
    assert body["data"]["segments"] == [{"name": "Empty", "memberCount": 0}]
    body = await gql(gateway, "{ segments { id } }", token=tenant.provider_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_another_organisations_segment_is_unknown_everywhere(
    gateway, pool, insights_pool, tenant, other_tenant
) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = await visitors(gateway, pool, tenant, {f"x-{tag}": 1})
    body = await gql(
        gateway, CREATE, {"input": {"name": "Mine", "customerIds": list(ids.values())}}, token=tenant.admin_token
    )
    sid = body["data"]["createSegment"]["segment"]["id"]
    await feed_orders_copy(pool, insights_pool, tenant.org_id)
    b = other_tenant.admin_token
    assert (await gql(gateway, MEMBERS, {"id": sid}, token=b))["data"]["segment"] is None
    assert (await gql(gateway, "{ segments { id } }", token=b))["data"]["segments"] == []
    body = await gql(gateway, UPDATE, {"id": sid, "input": {"name": "stolen"}}, token=b)
    assert body["data"]["updateSegment"]["errors"][0]["code"] == "NOT_FOUND"
    body = await gql(gateway, DELETE, {"id": sid}, token=b)
    assert body["data"]["deleteSegment"]["errors"][0]["code"] == "NOT_FOUND"
    for query in (CUSTOMERS, ORDERS):
        body = await gql(gateway, query, {"f": {"segmentId": sid}}, token=b)
        assert body["errors"][0]["extensions"] | {"field": "filter.segmentId"} == body["errors"][0]["extensions"]
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await gql(
        gateway,
        "mutation($f: CustomerFilterInput) { requestExport(kind: CUSTOMERS, format: CSV, customerFilter: $f)"
        " { url errors { field code } } }",
        {"f": {"segmentId": sid}},
        token=b,
    )
    assert body["data"]["requestExport"]["errors"][0]["code"] == "NOT_FOUND"
    # B's customer ids cannot be put in A's segment either, nor A's in B's.
    body = await gql(gateway, CREATE, {"input": {"name": "theirs", "customerIds": list(ids.values())}}, token=b)
    assert body["data"]["createSegment"]["errors"][0]["field"] == "input.customerIds[0]"
    # And A still sees its own.
    body = await gql(gateway, CUSTOMERS, {"f": {"segmentId": sid}}, token=tenant.admin_token)
    assert body["data"]["customers"]["totalCount"] == 1


SERIES = """query($f: AnalyticsFilterInput!) { analytics(filter: $f) {
  points { start newCustomers visits ordersCreated } } }"""
BEHIND = """query($f: AnalyticsFilterInput!, $b: DateTime!) {
  analyticsCustomers(filter: $f, metric: NEW_CUSTOMERS, bucket: $b, first: 100) { totalCount edges { customerId } }
  analyticsVisits(filter: $f, bucket: $b, first: 100) { totalCount } }"""
FUNNEL = """query($f: AnalyticsFilterInput!) { funnel(filter: $f) { steps { customers } } }"""
INSIGHT = """query($i: InsightInput!) { insight(input: $i) { source total { value } } }"""


async def test_analytics_and_insight_count_the_segments_customers(
    gateway, pool, insights_pool, tenant, other_tenant
) -> None:
    from tests.services.insights.analytics_data import copy

    tag = uuid.uuid4().hex[:8]
    ids = await visitors(gateway, pool, tenant, {f"a-{tag}": 3, f"b-{tag}": 2, f"c-{tag}": 1})
    a, b = ids[f"a-{tag}"], ids[f"b-{tag}"]
    await copy(insights_pool, tenant.org_id, await create_order(pool, tenant, anonymous_id=f"a-{tag}"))
    await copy(insights_pool, tenant.org_id, await create_order(pool, tenant, anonymous_id=f"c-{tag}"))
    body = await gql(gateway, CREATE, {"input": {"name": "AB", "customerIds": [a, b]}}, token=tenant.admin_token)
    sid = body["data"]["createSegment"]["segment"]["id"]
    week = {"preset": "LAST_7_DAYS"}

    async def totals(f: dict[str, Any], token: str = tenant.admin_token) -> tuple[int, int, int, int, Any]:
        points = (await gql(gateway, SERIES, {"f": f}, token=token))["data"]["analytics"]["points"]
        steps = (await gql(gateway, FUNNEL, {"f": f}, token=token))["data"]["funnel"]["steps"]
        i = {"eventType": "visit", "measure": "UNIQUE_CUSTOMERS", "range": week}
        if "segmentId" in f:
            i["segmentId"] = f["segmentId"]
        insight = (await gql(gateway, INSIGHT, {"i": i}, token=token))["data"]["insight"]
        return (
            sum(p["newCustomers"] for p in points),
            sum(p["visits"] for p in points),
            sum(p["ordersCreated"] for p in points),
            steps[0]["customers"],
            insight["total"][0]["value"],
        )

    assert await totals({"range": week}) == (3, 6, 2, 3, 3)
    assert await totals({"range": week, "segmentId": sid}) == (2, 5, 1, 2, 2)
    # The rows behind each point are the point's members, as many as it counts.
    f = {"range": week, "segmentId": sid}
    for point in (await gql(gateway, SERIES, {"f": f}, token=tenant.admin_token))["data"]["analytics"]["points"]:
        behind = (await gql(gateway, BEHIND, {"f": f, "b": point["start"]}, token=tenant.admin_token))["data"]
        assert behind["analyticsCustomers"]["totalCount"] == point["newCustomers"]
        assert {e["customerId"] for e in behind["analyticsCustomers"]["edges"]} <= {a, b}
        assert behind["analyticsVisits"]["totalCount"] == point["visits"]
    # The last 2 days by hour read raw events: the same customers.
    today = datetime.now(UTC).date()
    two_days = {"range": {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}}
    assert await totals({**two_days, "segmentId": sid}) == (2, 5, 1, 2, 2)
    assert await totals(two_days) == (3, 6, 2, 3, 3)

    # Another organisation naming it: NOT_FOUND, on every analytics path.
    for query, variables in (
        (SERIES, {"f": {"range": week, "segmentId": sid}}),
        (FUNNEL, {"f": {"range": week, "segmentId": sid}}),
        (INSIGHT, {"i": {"eventType": "visit", "range": week, "segmentId": sid}}),
    ):
        body = await gql(gateway, query, variables, token=other_tenant.admin_token)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
