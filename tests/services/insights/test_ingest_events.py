"""POST /v1/events: each event judged on its own, identities resolved by the orders service, stored once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.db import tenant_tx


def _event(n: int, **kw: Any) -> dict[str, Any]:
    base = {
        "id": f"evt-{n}",
        "type": "page_view",
        "occurredAt": (datetime.now(UTC) - timedelta(minutes=n)).isoformat(),
        "anonymousId": "visitor-1",
    }
    return {**base, **kw}


async def _post(gateway: Any, tenant: Any, events: list[dict[str, Any]]) -> Any:
    return await gateway.post(
        "/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"}
    )


async def _stored(insights_pool: Any, tenant: Any) -> list[Any]:
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        return list(await conn.fetch("SELECT * FROM events WHERE org_id = $1 ORDER BY occurred_at", tenant.org_id))


async def test_valid_events_are_stored_once_and_bad_ones_refused_by_index_and_field(
    gateway, tenant, insights_pool
) -> None:
    tag = uuid.uuid4().hex[:6]
    batch = [
        _event(1, id=f"a-{tag}", type="visit", device={"id": "dev-1", "platform": "web"}),
        _event(2, id=f"b-{tag}", type="product_viewed", productId=str(tenant.products["Broadband"])),
        _event(3, id=f"c-{tag}", type="no_such_type"),
        _event(4, id=f"d-{tag}", type="order_placed"),
        _event(5, id=f"e-{tag}", anonymousId=None),
        _event(6, id=f"f-{tag}", occurredAt=(datetime.now(UTC) + timedelta(hours=1)).isoformat()),
        _event(7, id=f"g-{tag}", properties={"card": "4111 1111 1111 1111"}),
        _event(8, id=f"h-{tag}", type="purchase", amount="10.00"),
        _event(9, id=f"i-{tag}", productId=str(uuid.uuid4())),
        _event(10, id=f"j-{tag}", type="custom:video_played", email=f"jo-{tag}@example.com"),
    ]
    r = await _post(gateway, tenant, batch)
    assert r.status_code == 202, r.text
    body = r.json()
    refused = {(x["index"], x["field"]) for x in body["refused"]}
    assert refused == {
        (2, "events[2].type"),
        (3, "events[3].type"),
        (4, "events[4].anonymousId"),
        (5, "events[5].occurredAt"),
        (6, "events[6].properties.card"),
        (7, "events[7].currency"),
        (7, "events[7].entityId"),  # a business event names its entity and state
        (7, "events[7].state"),
        (8, "events[8].productId"),
    }, body
    assert body["accepted"] == 3 and body["stored"] == 3 and body["duplicates"] == 0
    rows = await _stored(insights_pool, tenant)
    assert sorted(r["source_key"] for r in rows) == sorted([f"a-{tag}", f"b-{tag}", f"j-{tag}"])
    assert all(r["customer_id"] is not None for r in rows)
    viewed = next(r for r in rows if r["type"] == "product_viewed")
    assert viewed["category_id"] == tenant.categories["Broadband"]

    # A replay (twice at once) is accepted and stores nothing more.
    again = await asyncio.gather(_post(gateway, tenant, batch), _post(gateway, tenant, batch))
    for a in again:
        assert a.status_code == 202 and a.json()["stored"] == 0 and a.json()["duplicates"] == 3
    assert len(await _stored(insights_pool, tenant)) == 3
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        total = await conn.fetchval("SELECT sum(events) FROM event_rollups_daily WHERE org_id = $1", tenant.org_id)
        devices = await conn.fetch("SELECT * FROM devices WHERE org_id = $1", tenant.org_id)
    assert total == 3
    assert [(d["device_id"], d["platform"]) for d in devices] == [("dev-1", "web")]


async def test_a_bad_key_or_body_is_refused_whole(gateway, tenant) -> None:
    r = await gateway.post("/v1/events", json={"events": [_event(1)]}, headers={"authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"]["field"] == "apiKey"
    r = await gateway.post("/v1/events", json={"events": []}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "events"
    too_many = [_event(n) for n in range(1001)]
    r = await _post(gateway, tenant, too_many)
    assert r.status_code in (413, 422), r.text
