"""End to end, the insights service's feed: an order sent to the gateway reaches the insights store through
the real processes (gateway, orders API, orders relay, Redis, insights worker), and a kill -9 of the
insights worker mid-stream loses no event and records none twice."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from typing import Any

import httpx
import pytest

from shared.db import tenant_tx
from tests.e2e.test_platform import Platform, _until, platform  # noqa: F401  (the module's platform fixture)
from tests.factories import create_order

pytestmark = pytest.mark.e2e


async def _recorded(insights_pool: Any, org_id: Any) -> tuple[int, int, int]:
    """Orders in the copy, order_placed events, and orders counted by the orders rollup."""
    async with tenant_tx(insights_pool, org_id) as conn:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM orders WHERE org_id = $1) AS copied,
                      (SELECT count(*) FROM events WHERE org_id = $1 AND type = 'order_placed') AS placed,
                      (SELECT coalesce(sum(orders), 0) FROM order_rollups_daily WHERE org_id = $1) AS counted""",
            org_id,
        )
    assert row is not None
    return int(row["copied"]), int(row["placed"]), int(row["counted"])


async def test_an_order_posted_to_the_gateway_reaches_the_insights_store(
    platform: Platform,  # noqa: F811
    tenant: Any,
    insights_pool: Any,
) -> None:
    async with httpx.AsyncClient(base_url=platform.url, timeout=10) as client:
        r = await client.post(
            "/v1/orders",
            headers={"authorization": f"Bearer {tenant.api_key}"},
            json={
                "externalRef": f"e2e-insights-{uuid.uuid4().hex[:8]}",
                "productId": str(tenant.products["Credit Cards"]),
                "customer": {"email": "insights-e2e@example.com"},
            },
        )
    assert r.status_code == 201, r.text
    order_id = uuid.UUID(r.json()["order"]["id"])

    async def arrived() -> Any:
        async with tenant_tx(insights_pool, tenant.org_id) as conn:
            order = await conn.fetchrow("SELECT * FROM orders WHERE org_id = $1 AND id = $2", tenant.org_id, order_id)
            placed = await conn.fetchrow(
                "SELECT * FROM events WHERE org_id = $1 AND type = 'order_placed' AND entity_id = $2",
                tenant.org_id,
                str(order_id),
            )
        return (order, placed) if order is not None and placed is not None else None

    found = await _until(arrived, 30)
    assert found, "the order did not reach the insights store within 30 s"
    order, placed = found
    assert (order["status"], order["product_id"]) == ("PENDING", tenant.products["Credit Cards"])
    assert placed["source_key"] == f"order:{order_id}:placed" and placed["customer_id"] == order["customer_id"]
    assert placed["occurred_at"] == order["created_at"] and str(placed["amount"]) == "45.00"
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        zone = await conn.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", tenant.org_id)
    assert zone == "Europe/London"  # organisation.created came the same way


async def test_insights_worker_killed_mid_stream_loses_nothing_and_records_nothing_twice(
    platform: Platform,  # noqa: F811
    tenant: Any,
    pool: Any,
    insights_pool: Any,
) -> None:
    platform.stop("insights-worker")
    count = 300
    for _ in range(count):
        await create_order(pool, tenant)  # each one's order.created queued by the relay while no worker runs

    async def placed() -> int:
        return (await _recorded(insights_pool, tenant.org_id))[1]

    worker = platform.start("insights-worker")
    await _until(lambda: _more_than(placed, 10), 30)
    os.killpg(worker.pid, signal.SIGKILL)  # mid-stream: some applied, some prefetched and unacked
    worker.wait()
    platform.procs.pop("insights-worker")
    partial = await placed()
    assert partial < count, "the worker finished before it could be killed; raise the order count"
    platform.start("insights-worker")
    done = await _until(lambda: _equal(placed, count), 90)
    assert done, f"only {await placed()} of {count} recorded after redelivery"
    await asyncio.sleep(1)
    assert await _recorded(insights_pool, tenant.org_id) == (count, count, count)  # exactly once each


async def _more_than(fn: Any, n: int) -> bool:
    return bool(await fn() > n)


async def _equal(fn: Any, n: int) -> bool:
    return bool(await fn() == n)


async def test_relay_down_then_back_every_order_event_arrives_once(
    platform: Platform,  # noqa: F811
    tenant: Any,
    pool: Any,
    insights_pool: Any,
) -> None:
    """The orders relay down while orders are committed: their events wait in the outbox (committed with the
    orders), and once the relay is back every one reaches the insights store, once. The outage's length
    changes nothing (the outbox holds the events however long); the test keeps it to a few seconds."""
    platform.stop("orders-relay")
    count = 40
    for _ in range(count):
        await create_order(pool, tenant)
    await asyncio.sleep(3)
    assert (await _recorded(insights_pool, tenant.org_id))[1] == 0  # nothing can arrive while the relay is down
    platform.start("orders-relay")

    async def placed() -> int:
        return (await _recorded(insights_pool, tenant.org_id))[1]

    assert await _until(lambda: _equal(placed, count), 60), f"only {await placed()} of {count} arrived"
    await asyncio.sleep(1)
    assert await _recorded(insights_pool, tenant.org_id) == (count, count, count)


async def test_redis_down_then_back_every_order_event_arrives_once(
    platform: Platform,  # noqa: F811
    tenant: Any,
    pool: Any,
    insights_pool: Any,
) -> None:
    """Redis unreachable for the relay and the insights worker (a proxy in front of it is cut) while orders are
    committed, then reachable again: the relay retries its unsent outbox rows and the worker reconnects; every
    event arrives once."""
    from urllib.parse import urlsplit, urlunsplit

    from tests.workers import TcpProxy

    original = platform.env["REDIS_URL"]
    parts = urlsplit(original)
    assert parts.port
    with TcpProxy(parts.port) as proxy:
        proxied = urlunsplit(parts._replace(netloc=f"{parts.hostname}:{proxy.port}"))
        for name in ("orders-relay", "insights-worker"):
            platform.stop(name)
        platform.env["REDIS_URL"] = proxied
        try:
            for name in ("orders-relay", "insights-worker"):
                platform.start(name)
            await asyncio.sleep(2)
            proxy.cut()
            count = 30
            for _ in range(count):
                await create_order(pool, tenant)
            await asyncio.sleep(8)
            proxy.restore()

            async def placed() -> int:
                return (await _recorded(insights_pool, tenant.org_id))[1]

            assert await _until(lambda: _equal(placed, count), 90), f"only {await placed()} of {count} arrived"
            await asyncio.sleep(1)
            assert await _recorded(insights_pool, tenant.org_id) == (count, count, count)
        finally:
            platform.env["REDIS_URL"] = original
            for name in ("orders-relay", "insights-worker"):
                if name in platform.procs:
                    platform.stop(name)
                platform.start(name)


async def test_events_in_through_the_gateway_show_in_analytics_and_are_pushed_live(
    platform: Platform,  # noqa: F811
    tenant: Any,
) -> None:
    """The seed's graph "updates as it happens", on the real processes: a subscriber of the Analytics tab gets a
    push with fresh figures once a batch of visits is accepted, and the figures count the new visits."""
    from datetime import UTC, datetime

    from tests.services.gateway.test_subscriptions import live

    # Only visits wake this subscriber (the new organisation's own settings event may also land meanwhile).
    query = """subscription { analyticsUpdated(filter: {types: ["visit"]}) { initial kinds
      query { analytics(filter: {range: {preset: TODAY}}) { points { visits } } } } }"""
    url = platform.url.replace("http://", "ws://") + "/graphql"

    def visits(data: dict[str, Any]) -> int:
        return sum(p["visits"] for p in data["analyticsUpdated"]["query"]["analytics"]["points"])

    async with live(url) as client:
        assert (await client.init(tenant.admin_token))["type"] == "connection_ack"
        await client.subscribe("1", query)
        first = await client.next(timeout=15)
        assert first["analyticsUpdated"]["initial"] is True
        before = visits(first)
        tag = uuid.uuid4().hex[:8]
        events = [
            {
                "id": f"e2e-live-{tag}-{n}",
                "type": "visit",
                "occurredAt": datetime.now(UTC).isoformat(),
                "anonymousId": f"e2e-visitor-{tag}-{n}",
            }
            for n in range(5)
        ]
        async with httpx.AsyncClient(base_url=platform.url, timeout=10) as http:
            r = await http.post(
                "/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"}
            )
        assert r.status_code == 202 and r.json()["stored"] == 5, r.text
        pushed = await client.next(timeout=10)
        assert "events" in pushed["analyticsUpdated"]["kinds"]
        assert visits(pushed) == before + 5


async def test_business_events_through_the_gateway_answer_an_insight_of_each_chart_type(
    platform: Platform,  # noqa: F811
    tenant: Any,
) -> None:
    """On the real processes: final-state events posted to /v1/events count once per entity in `insight`, the
    same numbers for every chart type, and the events behind the cell are the counted ones."""
    from datetime import UTC, datetime, timedelta

    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    events = []
    for n in range(4):
        for k, state in enumerate(("pending", "posted", "posted")):  # a final state reported twice counts once
            events.append(
                {
                    "id": f"e2e-pay-{tag}-{n}-{k}",
                    "type": "payment",
                    "occurredAt": (now - timedelta(minutes=10 - k)).isoformat(),
                    "anonymousId": f"e2e-payer-{tag}-{n % 2}",
                    "entityId": f"pay-{tag}-{n}",
                    "state": state,
                    "amount": "12.50",
                    "currency": "GBP",
                    "fields": {"method": ("card", "wallet")[n % 2]},
                }
            )
    query = """query($input: InsightInput!) { insight(input: $input) {
      chartType series { values currency total points } total { currency value } buckets { start } } }"""
    events_query = """query($input: InsightInput!, $bucket: DateTime!, $values: [String]) {
      insightEvents(input: $input, bucket: $bucket, values: $values, currency: "GBP", first: 50) {
        totalCount events { state entityId } } }"""
    base = {
        "eventType": "payment",
        "measure": "TOTAL_AMOUNT",
        "breakdowns": ["fields.method"],
        "range": {"preset": "LAST_7_DAYS"},
    }
    async with httpx.AsyncClient(base_url=platform.url, timeout=20) as http:
        r = await http.post(
            "/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"}
        )
        assert r.status_code == 202 and r.json()["stored"] == 12, r.text
        headers = {"authorization": f"Bearer {tenant.member_token}"}
        answers = {}
        for chart in ("BAR", "LIST", "TABLE", "STACKED_BAR", "PIE", "LINE"):
            body = {"query": query, "variables": {"input": {**base, "chartType": chart}}}
            data = (await http.post("/graphql", json=body, headers=headers)).json()
            assert "errors" not in data, data
            answers[chart] = data["data"]["insight"]
        bar = answers["BAR"]
        assert {tuple(s["values"]): s["total"] for s in bar["series"]} == {("card",): "25.00", ("wallet",): "25.00"}
        assert bar["total"] == [{"currency": "GBP", "value": "50.00"}]
        assert all(a["series"] == bar["series"] and a["chartType"] == c for c, a in answers.items())
        card = next(s for s in bar["series"] if s["values"] == ["card"])
        k = next(i for i, v in enumerate(card["points"]) if v != "0.00")
        body = {
            "query": events_query,
            "variables": {"input": base, "bucket": bar["buckets"][k]["start"], "values": ["card"]},
        }
        page = (await http.post("/graphql", json=body, headers=headers)).json()["data"]["insightEvents"]
        assert page["totalCount"] == 2 and {e["state"] for e in page["events"]} == {"posted"}
