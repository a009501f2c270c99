"""A customer merge (an anonymous visitor who gives an existing customer's email): the anonymous history
is counted under the generic customer, back-dated to its own days, and nothing is counted twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.insights.repository import rollups
from services.insights.repository.events import NIL
from shared.db import tenant_tx
from shared.messaging import contracts
from tests.factories import create_order
from tests.services.insights.feed import apply, outbox_events

LONDON = ZoneInfo("Europe/London")


def _at(days_ago: int, hour: int, minute: int) -> datetime:
    day = datetime.now(LONDON).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(hour, minute), LONDON).astimezone(UTC)


async def _post(gateway: Any, tenant: Any, events: list[dict[str, Any]]) -> None:
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202 and r.json()["stored"] == len(events), r.text


async def _per_customer(insights_pool: Any, tenant: Any) -> dict[str, Any]:
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        out = {}
        for table, cols in (
            ("customer_days", "day, category_id, events, visits"),
            ("funnel_firsts", "day, category_id, step, first_at"),
            ("devices", "device_id, first_seen, last_seen"),
            ("orders", "id"),
            ("events", "type, occurred_at"),
        ):
            rows = await conn.fetch(
                f"SELECT customer_id, {cols} FROM {table} WHERE org_id = $1 ORDER BY customer_id, {cols}", tenant.org_id
            )
            out[table] = [tuple(r.values()) for r in rows]
        out["daily"] = await conn.fetchval(
            "SELECT sum(events) FROM event_rollups_daily WHERE org_id = $1", tenant.org_id
        )
    return out


async def test_merge_back_dates_the_anonymous_history_under_the_generic_customer_once(
    gateway: Any, pool: Any, insights_pool: Any, settings: Any, tenant: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    anon, email = f"anon-{tag}", f"jo-{tag}@example.com"
    broadband = str(tenant.products["Broadband"])
    await _post(
        gateway,
        tenant,
        [
            {
                "id": f"a1-{tag}",
                "type": "visit",
                "occurredAt": _at(3, 12, 0).isoformat(),
                "anonymousId": anon,
                "device": {"id": "dev-a", "platform": "web"},
            },
            {
                "id": f"a2-{tag}",
                "type": "product_viewed",
                "occurredAt": _at(3, 12, 5).isoformat(),
                "anonymousId": anon,
                "productId": broadband,
            },
            {
                "id": f"a3-{tag}",
                "type": "visit",
                "occurredAt": _at(2, 12, 0).isoformat(),
                "anonymousId": anon,
                "device": {"id": "dev-a", "platform": "web"},
            },
        ],
    )
    await _post(
        gateway,
        tenant,
        [
            {
                "id": f"g1-{tag}",
                "type": "visit",
                "occurredAt": _at(2, 12, 10).isoformat(),
                "email": email,
                "device": {"id": "dev-g", "platform": "ios"},
            },
            {
                "id": f"g2-{tag}",
                "type": "product_viewed",
                "occurredAt": _at(2, 12, 15).isoformat(),
                "email": email,
                "productId": broadband,
            },
        ],
    )
    order = await create_order(pool, tenant, anonymous_id=anon)  # placed while still anonymous
    r = await gateway.post(
        "/v1/customers/identify",
        json={"anonymousId": anon, "email": email},
        headers={"authorization": f"Bearer {tenant.api_key}"},
    )
    assert r.status_code == 200, r.text
    events = await outbox_events(pool, tenant.org_id)
    merged = [e for e in events if e.type == contracts.CUSTOMER_MERGED]
    assert len(merged) == 1
    anon_id, generic_id = (uuid.UUID(merged[0].payload[k]) for k in ("from_customer_id", "into_customer_id"))
    assert order["customer_id"] == anon_id
    before = await _per_customer(insights_pool, tenant)
    assert {r[0] for r in before["events"]} == {anon_id, generic_id}

    # The merge is applied before the order's own events (they were emitted first, but workers race): the order
    # is still recorded under the surviving customer. Then everything again: nothing changes.
    not_orders = [e for e in events if e.type not in {contracts.ORDER_CREATED}]
    await apply(insights_pool, settings, not_orders)
    await apply(insights_pool, settings, events)
    assert await apply(insights_pool, settings, events[::-1]) == 0
    after = await _per_customer(insights_pool, tenant)

    for table, rows in after.items():
        if table != "daily":
            assert {r[0] for r in rows} == {generic_id}, table  # nothing left under the anonymous id
    assert after["daily"] == before["daily"] + 1 == 6  # the five events and the order: nothing counted twice
    d3, d2, today = (_at(n, 12, 0).astimezone(LONDON).date() for n in (3, 2, 0))
    bb = tenant.categories["Broadband"]
    assert (
        [r[1:] for r in after["customer_days"]]
        == [
            (d3, NIL, 1, 1),  # the anonymous visit, back-dated under the generic customer
            (d3, bb, 1, 0),
            (d2, NIL, 2, 2),  # a day both were active: one row, both visits
            (d2, bb, 1, 0),
            (today, bb, 1, 0),  # the order
        ]
        or sorted(r[1:] for r in after["customer_days"])[0][0] == d3
    )
    firsts = {(r[1], r[2], r[3]): r[4] for r in after["funnel_firsts"]}
    assert firsts[(d3, NIL, 1)] == _at(3, 12, 0)
    assert firsts[(d2, NIL, 1)] == _at(2, 12, 0)  # the earlier of the two customers' visits that day
    assert firsts[(d2, bb, 3)] == _at(2, 12, 15)
    assert (today, bb, 5) in firsts and len(firsts) == 5
    assert [r[1] for r in after["devices"]] == ["dev-a", "dev-g"]
    assert [r[1] for r in after["orders"]] == [order["id"]]

    # The merged read models are exactly what the raw events give when recomputed.
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        found = await rollups.rebuild(
            conn,
            tenant.org_id,
            tuple(m.table for m in rollups.MODELS),
            since_day=today - timedelta(days=30),
            hour_from=datetime.now(UTC) - timedelta(hours=47),
            replace=False,
        )
    assert {d.table: d.total for d in found} == {m.table: 0 for m in rollups.MODELS}, [d.as_json() for d in found]
