"""POST /v1/events for customers the orders service already knows: their first/last seen and visits move in
one statement there, and a replayed batch rewrites nothing of theirs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.db import tenant_tx


def _event(key: str, anon: str, type_: str, at: datetime) -> dict[str, Any]:
    return {"id": key, "type": type_, "occurredAt": at.isoformat(), "anonymousId": anon}


async def _post(gateway: Any, tenant: Any, events: list[dict[str, Any]]) -> Any:
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202, r.text
    return r.json()


async def _customer(pool: Any, org_id: uuid.UUID, anon: str) -> Any:
    async with tenant_tx(pool, org_id) as conn:
        return await conn.fetchrow(
            "SELECT c.id, c.first_seen, c.last_seen, c.xmin::text AS version, coalesce(sum(v.visits), 0) AS visits"
            "  FROM customers c LEFT JOIN customer_visits v ON v.customer_id = c.id"
            " WHERE c.org_id = $1 AND c.anonymous_id = $2 GROUP BY c.id",
            org_id,
            anon,
        )


async def test_known_customers_seen_and_visits_move_and_a_replay_rewrites_nothing(
    gateway, tenant, other_tenant, pool
) -> None:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC).replace(microsecond=0)
    a, b = f"kc-a-{tag}", f"kc-b-{tag}"
    first = await _post(
        gateway,
        tenant,
        [_event(f"1-{tag}", a, "visit", now - timedelta(minutes=30)), _event(f"2-{tag}", b, "page_view", now)],
    )
    assert first["stored"] == 2
    before_a, before_b = await _customer(pool, tenant.org_id, a), await _customer(pool, tenant.org_id, b)

    # Both known now: a earlier visit and a later page view for a, an event inside b's span.
    batch = [
        _event(f"3-{tag}", a, "visit", now - timedelta(hours=2)),
        _event(f"4-{tag}", a, "page_view", now + timedelta(minutes=1)),
        _event(f"5-{tag}", b, "page_view", now - timedelta(seconds=1)),
    ]
    second = await _post(gateway, tenant, batch)
    assert second["stored"] == 3
    after_a, after_b = await _customer(pool, tenant.org_id, a), await _customer(pool, tenant.org_id, b)
    assert after_a["id"] == before_a["id"]
    assert after_a["first_seen"] == min(before_a["first_seen"], now - timedelta(hours=2))
    assert after_a["last_seen"] == max(before_a["last_seen"], now + timedelta(minutes=1))
    assert after_a["visits"] == before_a["visits"] + 1
    assert (after_b["first_seen"], after_b["last_seen"]) == (
        min(before_b["first_seen"], now - timedelta(seconds=1)),
        max(before_b["last_seen"], now - timedelta(seconds=1)),
    )

    # The replay stores nothing, and the customers whose first/last seen stay the same are not written again.
    replay = await _post(gateway, tenant, batch)
    assert (replay["stored"], replay["duplicates"]) == (0, 3)
    again_a = await _customer(pool, tenant.org_id, a)
    assert (again_a["first_seen"], again_a["last_seen"], again_a["version"]) == (
        after_a["first_seen"],
        after_a["last_seen"],
        after_a["version"],
    )

    # The other organisation has none of these customers.
    assert await _customer(pool, other_tenant.org_id, a) is None
    assert await _customer(pool, other_tenant.org_id, b) is None
