"""The Analytics tab through GraphQL: series per hour and per day, orders equal to ordersSummary, every number
equal to the count of the list behind it, bad input named, and one organisation never seeing another's."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.insights.domain import buckets
from shared.presets import DateRange, today_in
from tests.factories import Tenant, gql
from tests.services.insights import analytics_data as data

TZ = "Europe/London"

SERIES = """query($f: AnalyticsFilterInput!) { analytics(filter: $f) { from to timeZone granularity points {
  start end day newCustomers returningCustomers visits ordersCreated successfulOrders
  commissionPending { amount currency } commissionPaid { amount currency } } } }"""
CUSTOMERS = """query($f: AnalyticsFilterInput!, $m: AnalyticsMetric!, $b: DateTime!, $first: Int, $after: String) {
  analyticsCustomers(filter: $f, metric: $m, bucket: $b, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { customerId at node { id displayName } } } }"""
VISITS = """query($f: AnalyticsFilterInput!, $b: DateTime!) { analyticsVisits(filter: $f, bucket: $b, first: 100) {
  totalCount edges { node { id occurredAt customerId integration { id } } } } }"""
ORDERS = """query($f: AnalyticsFilterInput!, $m: AnalyticsMetric!, $b: DateTime!) {
  analyticsOrders(filter: $f, metric: $m, bucket: $b, first: 100) {
    totalCount edges { orderId status commStatus commission { amount currency } node { id externalRef } } } }"""
SUMMARY = """query($f: OrderFilterInput) { ordersSummary(filter: $f) { totalOrders successfulOrders
  commissionPending { amount currency } commissionPaid { amount currency } } }"""
FUNNEL = """query($f: AnalyticsFilterInput!) { funnel(filter: $f) { from to steps { step key name customers
  conversionFromPrevious conversionFromFirst medianSecondsFromPrevious } } }"""
STEP = """query($f: AnalyticsFilterInput!, $s: Int!) { funnelCustomers(filter: $f, step: $s, first: 100) {
  totalCount edges { customerId at } } }"""


def local(day: date, hh: int, mm: int) -> datetime:
    return datetime.combine(day, time(hh, mm), ZoneInfo(TZ)).astimezone(UTC)


async def ask(gateway: Any, tenant: Tenant, query: str, **variables: Any) -> dict[str, Any]:
    body = await gql(gateway, query, variables, token=tenant.admin_token)
    assert "errors" not in body, body["errors"]
    data_: dict[str, Any] = body["data"]
    return data_


async def refused(gateway: Any, tenant: Tenant, query: str, **variables: Any) -> dict[str, Any]:
    body = await gql(gateway, query, variables, token=tenant.admin_token)
    assert body.get("errors"), body
    err: dict[str, Any] = body["errors"][0]
    return err


async def build(gateway: Any, pool: Any, insights_pool: Any, tenant: Tenant) -> dict[str, Any]:
    """Three customers over the day before yesterday (D2) and yesterday (D1), on both integrations, and three
    orders yesterday; see the test for what each hour should show."""
    await data.use_time_zone(insights_pool, tenant.org_id, TZ)
    today = today_in(TZ)
    d1, d2 = today - timedelta(days=1), today - timedelta(days=2)
    tag = uuid.uuid4().hex[:6]
    r, n, m = f"r-{tag}", f"n-{tag}", f"m-{tag}"
    p = tenant.products
    await data.ingest(
        gateway,
        tenant.api_key,
        [
            data.event("visit", local(d2, 10, 0), r),
            data.event("visit", local(d1, 9, 15), r),
            data.event("product_viewed", local(d1, 9, 20), r, product=p["Broadband"]),
            data.event("visit", local(d1, 9, 40), n),
            data.event("product_viewed", local(d1, 14, 5), n, product=p["Credit Cards"]),
        ],
    )
    mobile_key = await data.second_key(gateway, tenant)
    await data.ingest(
        gateway,
        mobile_key,
        [
            data.event("visit", local(d1, 14, 30), m),
            data.event("product_viewed", local(d1, 14, 31), m, product=p["App card"]),
        ],
    )
    o1 = await data.order(pool, insights_pool, tenant, product="Broadband", created_at=local(d1, 9, 50))
    o2 = await data.order(
        pool, insights_pool, tenant, product="Credit Cards", status="SUCCESSFUL", created_at=local(d1, 14, 10)
    )
    o3 = await data.order(
        pool,
        insights_pool,
        tenant,
        product="Current Accounts",
        status="SUCCESSFUL",
        created_at=local(d1, 14, 20),
        paid=True,
    )
    return {"d1": d1, "d2": d2, "today": today, "orders": (o1, o2, o3), "mobile_key": mobile_key}


def at_hour(points: list[dict[str, Any]], instant: datetime) -> dict[str, Any]:
    return next(
        pt for pt in points if datetime.fromisoformat(pt["start"]) <= instant < datetime.fromisoformat(pt["end"])
    )


async def test_series_per_hour_and_per_day_with_filters(gateway, pool, insights_pool, tenant) -> None:
    w = await build(gateway, pool, insights_pool, tenant)
    d1, d2 = w["d1"], w["d2"]
    hourly = (await ask(gateway, tenant, SERIES, f={"range": {"preset": "YESTERDAY"}}))["analytics"]
    assert hourly["granularity"] == "HOUR" and hourly["timeZone"] == TZ
    points = hourly["points"]
    assert len(points) == len(buckets.span(DateRange(preset="YESTERDAY"), TZ).buckets)  # 23/24/25
    nine, two = at_hour(points, local(d1, 9, 0)), at_hour(points, local(d1, 14, 0))
    # 09h: r (seen the day before) returns, n is new; one order. 14h: n again (returning: first seen at 09h),
    # m new on the mobile app; two successful orders, one of them paid.
    assert (nine["newCustomers"], nine["returningCustomers"], nine["visits"], nine["ordersCreated"]) == (1, 1, 2, 1)
    assert (two["newCustomers"], two["returningCustomers"], two["visits"], two["ordersCreated"]) == (1, 1, 1, 2)
    assert two["successfulOrders"] == 2
    assert data.money(two["commissionPending"]) == {"GBP": Decimal("45.00")}
    assert data.money(two["commissionPaid"]) == {"EUR": Decimal("80.00")}
    others = [pt for pt in points if pt not in (nine, two)]
    assert all(
        pt["newCustomers"] == pt["returningCustomers"] == pt["visits"] == pt["ordersCreated"] == 0 for pt in others
    )

    daily = (await ask(gateway, tenant, SERIES, f={"range": {"from": d2.isoformat(), "to": w["today"].isoformat()}}))[
        "analytics"
    ]
    assert daily["granularity"] == "DAY"
    by_day = {pt["day"]: pt for pt in daily["points"]}
    assert list(by_day) == [d2.isoformat(), d1.isoformat(), w["today"].isoformat()]
    assert (by_day[d2.isoformat()]["newCustomers"], by_day[d2.isoformat()]["visits"]) == (1, 1)
    y = by_day[d1.isoformat()]
    assert (y["newCustomers"], y["returningCustomers"], y["visits"], y["ordersCreated"], y["successfulOrders"]) == (
        2,
        1,
        3,
        3,
        2,
    )

    # Credit Cards only: n and m are active at 14h and new in that category; visits are not narrowed by category.
    cards = {"range": {"preset": "YESTERDAY"}, "categoryIds": [str(tenant.categories["Credit Cards"])]}
    points = (await ask(gateway, tenant, SERIES, f=cards))["analytics"]["points"]
    nine, two = at_hour(points, local(d1, 9, 0)), at_hour(points, local(d1, 14, 0))
    assert (nine["newCustomers"], nine["returningCustomers"], nine["visits"], nine["ordersCreated"]) == (0, 0, 2, 0)
    assert (two["newCustomers"], two["returningCustomers"], two["visits"], two["ordersCreated"]) == (2, 0, 1, 1)
    # The mobile app only.
    mobile = {"range": {"preset": "YESTERDAY"}, "integrationIds": [str(tenant.second_integration_id)]}
    two = at_hour((await ask(gateway, tenant, SERIES, f=mobile))["analytics"]["points"], local(d1, 14, 0))
    assert (two["newCustomers"], two["returningCustomers"], two["visits"], two["ordersCreated"]) == (1, 0, 1, 0)


async def test_every_point_drills_down_to_its_rows(gateway, pool, insights_pool, tenant) -> None:
    w = await build(gateway, pool, insights_pool, tenant)
    for f in ({"range": {"preset": "YESTERDAY"}}, {"range": {"preset": "LAST_7_DAYS"}}):
        await assert_drill_downs(gateway, tenant, f)
    # The rows themselves: yesterday's 14h orders are the two successful ones, with their order.
    f = {"range": {"preset": "YESTERDAY"}}
    b = at_hour((await ask(gateway, tenant, SERIES, f=f))["analytics"]["points"], local(w["d1"], 14, 0))["start"]
    rows = (await ask(gateway, tenant, ORDERS, f=f, m="SUCCESSFUL_ORDERS", b=b))["analyticsOrders"]
    assert {e["node"]["id"] for e in rows["edges"]} == {str(w["orders"][1]["id"]), str(w["orders"][2]["id"])}
    # Paging: one customer a page, every customer once.
    seen, after = [], None
    while True:
        page = (await ask(gateway, tenant, CUSTOMERS, f=f, m="NEW_CUSTOMERS", b=b, first=1, after=after))[
            "analyticsCustomers"
        ]
        seen += [e["customerId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == page["totalCount"] == 1


async def assert_drill_downs(gateway: Any, tenant: Tenant, f: dict[str, Any]) -> None:
    """Every point of every series equals the count of its list; commission sums per currency; every funnel
    step equals its customers."""
    points = (await ask(gateway, tenant, SERIES, f=f))["analytics"]["points"]
    for pt in points:
        b = pt["start"]
        for metric, key in (("NEW_CUSTOMERS", "newCustomers"), ("RETURNING_CUSTOMERS", "returningCustomers")):
            if pt[key] or pt is points[0]:
                got = (await ask(gateway, tenant, CUSTOMERS, f=f, m=metric, b=b, first=100))["analyticsCustomers"]
                assert got["totalCount"] == pt[key] == len(got["edges"]), (metric, pt)
        if pt["visits"] or pt is points[0]:
            got = (await ask(gateway, tenant, VISITS, f=f, b=b))["analyticsVisits"]
            assert got["totalCount"] == pt["visits"] == len(got["edges"]), pt
        if not pt["ordersCreated"] and pt is not points[0]:
            continue
        for metric, key in (("ORDERS_CREATED", "ordersCreated"), ("SUCCESSFUL_ORDERS", "successfulOrders")):
            got = (await ask(gateway, tenant, ORDERS, f=f, m=metric, b=b))["analyticsOrders"]
            assert got["totalCount"] == pt[key] == len(got["edges"]), (metric, pt)
        for metric, key in (("COMMISSION_PENDING", "commissionPending"), ("COMMISSION_PAID", "commissionPaid")):
            got = (await ask(gateway, tenant, ORDERS, f=f, m=metric, b=b))["analyticsOrders"]
            sums: dict[str, Decimal] = {}
            for e in got["edges"]:
                c = e["commission"]
                sums[c["currency"]] = sums.get(c["currency"], Decimal(0)) + Decimal(str(c["amount"]))
            assert sums == data.money(pt[key]), (metric, pt)
    steps = (await ask(gateway, tenant, FUNNEL, f=f))["funnel"]["steps"]
    for s in steps:
        got = (await ask(gateway, tenant, STEP, f=f, s=s["step"]))["funnelCustomers"]
        assert got["totalCount"] == s["customers"] == len(got["edges"]), s


_built: dict[uuid.UUID, dict[str, Any]] = {}


async def random_journeys(gateway: Any, tenant: Tenant, key: str, day: date, seed: int) -> None:
    """Visitors doing funnel steps at random moments of `day`, in random order, some skipped."""
    import random

    rnd = random.Random(seed)
    steps = ("visit", "journey_started", "product_viewed", "order_started")
    products = [tenant.products[n] for n in ("Broadband", "Credit Cards", "Current Accounts")]
    events = []
    for v in range(10):
        visitor = f"rnd-{seed}-{v}-{uuid.uuid4().hex[:4]}"
        for s in steps:
            if rnd.random() < 0.75:
                at = local(day, rnd.randrange(0, 23), rnd.randrange(0, 60))
                product = rnd.choice(products) if s in ("product_viewed", "order_started") else None
                events.append(data.event(s, at, visitor, product=product))
    await data.ingest(gateway, key, events)


filters = st.fixed_dictionaries(
    {
        "range": st.one_of(
            st.sampled_from([{"preset": p} for p in ("TODAY", "YESTERDAY", "LAST_7_DAYS", "THIS_MONTH")]),
            st.tuples(st.integers(0, 4), st.integers(0, 3)).map(lambda t: {"back": t[0], "span": t[1]}),
        ),
        "categories": st.sets(st.sampled_from(["Broadband", "Credit Cards", "Current Accounts"]), max_size=2),
        "integrations": st.sets(st.sampled_from([0, 1]), max_size=2),
    }
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choice=filters)
async def test_property_every_number_equals_its_drill_down(gateway, pool, insights_pool, tenant, choice) -> None:
    w = _built.get(tenant.org_id)
    if w is None:
        w = _built[tenant.org_id] = await build(gateway, pool, insights_pool, tenant)
        await random_journeys(gateway, tenant, tenant.api_key, w["d1"], 1)
        await random_journeys(gateway, tenant, w["mobile_key"], w["d2"], 2)
    r = choice["range"]
    if "back" in r:
        last = w["today"] - timedelta(days=r["back"])
        r = {"from": (last - timedelta(days=r["span"])).isoformat(), "to": last.isoformat()}
    f: dict[str, Any] = {"range": r}
    if choice["categories"]:
        f["categoryIds"] = [str(tenant.categories[c]) for c in sorted(choice["categories"])]
    if choice["integrations"]:
        ids = (tenant.integration_id, tenant.second_integration_id)
        f["integrationIds"] = [str(ids[i]) for i in sorted(choice["integrations"])]
    await assert_drill_downs(gateway, tenant, f)
    # Orders figures equal ordersSummary for the same filter.
    points = (await ask(gateway, tenant, SERIES, f=f))["analytics"]["points"]
    summary = (await ask(gateway, tenant, SUMMARY, f=f))["ordersSummary"]
    assert sum(pt["ordersCreated"] for pt in points) == summary["totalOrders"]
    assert sum(pt["successfulOrders"] for pt in points) == summary["successfulOrders"]
    for key in ("commissionPending", "commissionPaid"):
        total: dict[str, Decimal] = {}
        for pt in points:
            for c, a in data.money(pt[key]).items():
                total[c] = total.get(c, Decimal(0)) + a
        assert total == data.money(summary[key]), key


async def test_several_categories_and_integrations_equal_drill_downs(gateway, pool, insights_pool, tenant) -> None:
    """A filter of several values reads the union of its keys' read-model rows: a customer active in both
    categories on a day counts once, and is new only on the earliest of their first days under the keys."""
    w = await build(gateway, pool, insights_pool, tenant)
    await random_journeys(gateway, tenant, tenant.api_key, w["d1"], 1)
    await random_journeys(gateway, tenant, w["mobile_key"], w["d2"], 2)
    both = [str(tenant.categories[c]) for c in ("Broadband", "Credit Cards")]
    integrations = [str(tenant.integration_id), str(tenant.second_integration_id)]
    for f in (
        {"range": {"preset": "LAST_7_DAYS"}, "categoryIds": both},
        {"range": {"preset": "LAST_7_DAYS"}, "integrationIds": integrations},
        {"range": {"preset": "LAST_30_DAYS"}, "categoryIds": both, "integrationIds": integrations},
    ):
        await assert_drill_downs(gateway, tenant, f)
        points = (await ask(gateway, tenant, SERIES, f=f))["analytics"]["points"]
        assert sum(pt["newCustomers"] + pt["returningCustomers"] for pt in points) > 0, f
