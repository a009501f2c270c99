"""The user funnel: a customer counts at a step only after every previous step, in order; conversion and the
median time between first occurrences; nil-category steps count under any category filter."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.insights.repository import analytics as queries
from services.insights.repository import events as store
from shared.db import tenant_tx
from tests.factories import Tenant
from tests.services.insights import analytics_data as data
from tests.services.insights.test_analytics import FUNNEL, STEP, ask

STEPS = ("visit", "journey_started", "product_viewed", "order_started")


async def journeys(gateway: Any, insights_pool: Any, tenant: Tenant) -> tuple[datetime, dict[str, uuid.UUID]]:
    """a: every step in order, 10 minutes apart, then an order placed and successful (recorded as the orders
    service's events are); b: viewed a product before visiting (only the visit counts); c: visit, journey,
    then straight to order_started (stops at 2); d: visit then journey 30 minutes later."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    tag = uuid.uuid4().hex[:6]
    bb = tenant.products["Broadband"]
    plan = {
        "a": [(s, i * 10) for i, s in enumerate(STEPS)],
        "b": [("product_viewed", 0), ("visit", 5), ("journey_started", 6)],
        "c": [("visit", 0), ("journey_started", 20), ("order_started", 30)],
        "d": [("visit", 0), ("journey_started", 30)],
    }
    events = [
        data.event(s, base + timedelta(minutes=m), f"{who}-{tag}", product=bb if s in STEPS[2:] else None)
        for who, steps in plan.items()
        for s, m in steps
    ]
    await data.ingest(gateway, tenant.api_key, events)
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        ids = {
            who: await conn.fetchval(
                "SELECT customer_id FROM events WHERE org_id = $1 AND anonymous_id = $2 LIMIT 1",
                tenant.org_id,
                f"{who}-{tag}",
            )
            for who in plan
        }
        # Order placed and successful for a: recorded from the orders service (never from integrations).
        await store.store(
            conn,
            tenant.org_id,
            tenant.integration_id,
            "web",
            [
                store.NewEvent(
                    base + timedelta(minutes=40 + 10 * k),
                    f"order-{tag}-{k}",
                    t,
                    "funnel",
                    ids["a"],
                    product_id=bb,
                    category_id=tenant.categories["Broadband"],
                )
                for k, t in enumerate(("order_placed", "order_successful"))
            ],
        )
    return base, ids


async def test_steps_count_only_in_order_with_conversion_and_median(gateway, insights_pool, tenant) -> None:
    await data.use_time_zone(insights_pool, tenant.org_id, "UTC")
    _, ids = await journeys(gateway, insights_pool, tenant)
    f = {"range": {"preset": "LAST_7_DAYS"}}
    steps = (await ask(gateway, tenant, FUNNEL, f=f))["funnel"]["steps"]
    # b's product view came before its journey, c skipped the product view: only a goes further than step 2.
    assert [s["customers"] for s in steps] == [4, 4, 1, 1, 1, 1]
    assert [s["key"] for s in steps][:2] == ["FUNNEL_VISIT", "FUNNEL_JOURNEY_STARTED"]
    assert steps[0]["conversionFromPrevious"] is None and steps[0]["conversionFromFirst"] == 1.0
    assert steps[1]["conversionFromPrevious"] == 1.0 and steps[2]["conversionFromPrevious"] == 0.25
    assert steps[5]["conversionFromFirst"] == 0.25
    # Journey after visit: a 10 min, b 1 min, c 20 min, d 30 min.
    assert steps[1]["medianSecondsFromPrevious"] == 15 * 60  # median of 1, 10, 20, 30 minutes
    assert steps[2]["medianSecondsFromPrevious"] == 600 and steps[5]["medianSecondsFromPrevious"] == 600
    step3 = (await ask(gateway, tenant, STEP, f=f, s=3))["funnelCustomers"]
    assert [e["customerId"] for e in step3["edges"]] == [str(ids["a"])] and step3["totalCount"] == 1
    step2 = (await ask(gateway, tenant, STEP, f=f, s=2))["funnelCustomers"]
    assert {e["customerId"] for e in step2["edges"]} == {str(i) for i in ids.values()} and step2["totalCount"] == 4


async def test_category_filter_keeps_steps_without_a_product(gateway, insights_pool, tenant) -> None:
    await data.use_time_zone(insights_pool, tenant.org_id, "UTC")
    await journeys(gateway, insights_pool, tenant)
    broadband = {"range": {"preset": "LAST_7_DAYS"}, "categoryIds": [str(tenant.categories["Broadband"])]}
    cards = {"range": {"preset": "LAST_7_DAYS"}, "categoryIds": [str(tenant.categories["Credit Cards"])]}
    assert [s["customers"] for s in (await ask(gateway, tenant, FUNNEL, f=broadband))["funnel"]["steps"]] == [
        4,
        4,
        1,
        1,
        1,
        1,
    ]
    # Visits and journeys have no category: they count under any category; product steps do not.
    assert [s["customers"] for s in (await ask(gateway, tenant, FUNNEL, f=cards))["funnel"]["steps"]] == [
        4,
        4,
        0,
        0,
        0,
        0,
    ]


async def test_funnel_query_is_one_organisations(insights_pool, tenant, other_tenant, gateway) -> None:
    await journeys(gateway, insights_pool, tenant)
    async with tenant_tx(insights_pool, other_tenant.org_id) as conn:
        today = datetime.now(UTC).date()
        steps = await queries.funnel(conn, queries.Scope(other_tenant.org_id), today - timedelta(days=7), today)
        # The other organisation's id under this organisation's transaction: row-level security admits nothing.
        leaked = await queries.funnel(conn, queries.Scope(tenant.org_id), today - timedelta(days=7), today)
    assert [s.customers for s in steps] == [0] * 6 and [s.customers for s in leaked] == [0] * 6
