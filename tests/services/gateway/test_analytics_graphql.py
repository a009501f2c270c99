"""Analytics through GraphQL: bad input named by field, metric definitions served, DST days in hourly series,
and organisation B's data and ids never reaching A through any analytics field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.insights.domain import metrics
from tests.factories import gql
from tests.services.insights import analytics_data as data
from tests.services.insights.test_analytics import CUSTOMERS, FUNNEL, ORDERS, SERIES, STEP, VISITS, ask, refused


async def test_bad_filters_are_refused_naming_the_field(gateway, tenant, other_tenant) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"range": {"from": "2024-05-02", "to": "2024-05-01"}}, "filter.range"),
        ({"range": {"from": "2020-01-01", "to": "2024-05-01"}}, "filter.range"),
        ({"range": {"from": "2024-05-01"}}, "filter.range.to"),
        ({"range": {"preset": "TODAY"}, "categoryIds": ["nope"]}, "filter.categoryIds"),
        ({"range": {"preset": "TODAY"}, "categoryIds": [str(uuid.uuid4())]}, "filter.categoryIds"),
        # Another organisation's category is as unknown here as a made-up one.
        (
            {"range": {"preset": "TODAY"}, "categoryIds": [str(other_tenant.categories["Broadband"])]},
            "filter.categoryIds",
        ),
        ({"range": {"preset": "TODAY"}, "integrationIds": [str(other_tenant.integration_id)]}, "filter.integrationIds"),
    ]
    for f, field in cases:
        for query in (SERIES, FUNNEL):
            err = await refused(gateway, tenant, query, f=f)
            assert err["extensions"]["field"] == field, (f, err)
    # An unknown preset is not a value of the enum: GraphQL refuses the variable, naming it.
    body = await gql(gateway, SERIES, {"f": {"range": {"preset": "LAST_YEAR"}}}, token=tenant.admin_token)
    assert "LAST_YEAR" in body["errors"][0]["message"] and "range" in body["errors"][0]["message"]
    f = {"range": {"preset": "YESTERDAY"}}
    err = await refused(gateway, tenant, CUSTOMERS, f=f, m="NEW_CUSTOMERS", b="2001-01-01T00:00:00Z")
    assert err["extensions"]["field"] == "bucket"
    err = await refused(gateway, tenant, CUSTOMERS, f=f, m="VISITS", b="2001-01-01T00:00:00Z")
    assert err["extensions"]["field"] == "metric"
    err = await refused(gateway, tenant, STEP, f=f, s=7)
    assert err["extensions"]["field"] == "step"


async def test_metric_definitions_cover_every_series_and_step(gateway, tenant) -> None:
    rows = (await ask(gateway, tenant, "{ metricDefinitions { key label description unit drillDown } }"))[
        "metricDefinitions"
    ]
    keys = {r["key"] for r in rows}
    assert {m.value for m in metrics.SeriesMetric} <= keys
    steps = (await ask(gateway, tenant, FUNNEL, f={"range": {"preset": "TODAY"}}))["funnel"]["steps"]
    assert {s["key"] for s in steps} <= keys and len(steps) == 6
    assert all(r["description"] and r["label"] for r in rows)


async def test_hourly_series_on_a_dst_day_has_23_points_and_orders_in_their_hour(
    gateway, pool, insights_pool, tenant
) -> None:
    await data.use_time_zone(insights_pool, tenant.org_id, "Europe/London")
    # 31 March 2024: clocks go forward at 01:00 UTC; 02:30 BST is 01:30 UTC.
    at = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    await data.order(pool, insights_pool, tenant, created_at=at)
    f = {"range": {"from": "2024-03-31", "to": "2024-03-31"}}
    points = (await ask(gateway, tenant, SERIES, f=f))["analytics"]["points"]
    assert len(points) == 23
    hit = [pt for pt in points if pt["ordersCreated"]]
    assert [pt["start"] for pt in hit] == ["2024-03-31T01:00:00+00:00"]
    rows = (await ask(gateway, tenant, ORDERS, f=f, m="ORDERS_CREATED", b=hit[0]["start"]))["analyticsOrders"]
    assert rows["totalCount"] == 1
    day = (await ask(gateway, tenant, SERIES, f={"range": {"from": "2024-03-30", "to": "2024-04-01"}}))["analytics"]
    assert [pt["ordersCreated"] for pt in day["points"]] == [0, 1, 0]
    summary = await ask(
        gateway, tenant, "query($f: OrderFilterInput) { ordersSummary(filter: $f) { totalOrders } }", f=f
    )
    assert summary["ordersSummary"]["totalOrders"] == 1


async def test_tenant_isolation_of_every_analytics_field(gateway, pool, insights_pool, tenant, other_tenant) -> None:
    """B's events and orders never reach A: A's series, funnel and every drill-down stay empty, even at the
    buckets where B has rows."""
    from tests.services.insights.test_analytics import build

    w = await build(gateway, pool, insights_pool, other_tenant)
    await data.use_time_zone(insights_pool, tenant.org_id, "Europe/London")
    for f in ({"range": {"preset": "YESTERDAY"}}, {"range": {"preset": "LAST_7_DAYS"}}):
        theirs = (await ask(gateway, other_tenant, SERIES, f=f))["analytics"]["points"]
        ours = (await ask(gateway, tenant, SERIES, f=f))["analytics"]["points"]
        assert any(pt["visits"] for pt in theirs)
        assert [pt["start"] for pt in ours] == [pt["start"] for pt in theirs]
        for pt in ours:
            assert pt["newCustomers"] == pt["returningCustomers"] == pt["visits"] == pt["ordersCreated"] == 0
            assert pt["commissionPending"] == pt["commissionPaid"] == []
        for pt in theirs:
            if not (pt["visits"] or pt["ordersCreated"]):
                continue
            b = pt["start"]
            for m in ("NEW_CUSTOMERS", "RETURNING_CUSTOMERS"):
                assert (await ask(gateway, tenant, CUSTOMERS, f=f, m=m, b=b))["analyticsCustomers"]["totalCount"] == 0
            assert (await ask(gateway, tenant, VISITS, f=f, b=b))["analyticsVisits"]["totalCount"] == 0
            for m in ("ORDERS_CREATED", "COMMISSION_PENDING", "COMMISSION_PAID"):
                assert (await ask(gateway, tenant, ORDERS, f=f, m=m, b=b))["analyticsOrders"]["totalCount"] == 0
        steps = (await ask(gateway, tenant, FUNNEL, f=f))["funnel"]["steps"]
        assert [s["customers"] for s in steps] == [0] * 6
        for k in range(1, 7):
            assert (await ask(gateway, tenant, STEP, f=f, s=k))["funnelCustomers"]["totalCount"] == 0
    assert w["orders"]
    # Provider users see orders only: the Analytics tab is refused to them.
    body = await gql(gateway, SERIES, {"f": {"range": {"preset": "TODAY"}}}, token=tenant.provider_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
