"""insights-api's internal collection pages (devices, events) that the reports service streams its Devices and
Events collections from: keyset pages that neither skip nor repeat, one organisation per service token, the
reports service the only caller, bad input named."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.reports.service.collections import InsightsCollections
from shared.service.client import ServiceClient, ServiceError


class GatewayCaller(ServiceClient):
    """The same endpoint called as the gateway: refused."""

    service = "insights"
    caller = "gateway"


async def _send(gateway: Any, tenant: Any, tag: str, n: int) -> None:
    now = datetime.now(UTC)
    events = [
        {
            "id": f"{tag}-{i}",
            "type": "page_view",
            "occurredAt": (now - timedelta(minutes=n - i)).isoformat(),
            "anonymousId": f"anon-{tag}-{i % 3}",
            "device": {"id": f"dev-{tag}-{i % 4}", "platform": "web"},
        }
        for i in range(n)
    ]
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202, r.text


async def _pages(client: InsightsCollections, name: str, org_id: Any, limit: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        page, after = await client.page(name, org_id, now - timedelta(days=1), now + timedelta(hours=1), after, limit)
        assert len(page) <= limit
        rows += page
        if after is None:
            return rows


async def test_pages_cover_the_range_once_per_organisation(
    gateway: Any, settings: Any, insights_url: str, tenant: Any, other_tenant: Any
) -> None:
    tag, theirs = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    await _send(gateway, tenant, tag, 12)
    await _send(gateway, other_tenant, theirs, 5)
    client = InsightsCollections(insights_url, settings.service_token_secret)
    try:
        whole = await _pages(client, "events", tenant.org_id, 1000)
        assert sum(1 for e in whole if e["anonymous_id"].startswith(f"anon-{tag}")) == 12
        assert await _pages(client, "events", tenant.org_id, 5) == whole  # keyset pages: no row skipped or repeated
        assert [(e["occurred_at"], e["id"]) for e in whole] == sorted((e["occurred_at"], e["id"]) for e in whole)
        assert all(e["org_id"] == str(tenant.org_id) for e in whole)
        assert theirs not in str(whole)
        devices = await _pages(client, "devices", tenant.org_id, 2)
        assert {d["device_id"] for d in devices} >= {f"dev-{tag}-{i}" for i in range(4)}
        assert len(devices) == len({(d["customer_id"], d["device_id"]) for d in devices})
        assert theirs not in str(devices) and str(other_tenant.org_id) not in str(devices)
        # An empty range: no rows, no cursor.
        past = datetime(2020, 1, 1, tzinfo=UTC)
        assert await client.page("events", tenant.org_id, past, past + timedelta(days=1), None, 10) == ([], None)
        # Refusals name their field.
        now = datetime.now(UTC)
        for name, since, until, after, field in (
            ("events", now, now - timedelta(days=1), None, "until"),
            ("events", now - timedelta(days=1), now, "garbage", "after"),
            ("orders", now - timedelta(days=1), now, None, "name"),
        ):
            try:
                await client.page(name, tenant.org_id, since, until, after, 10)
            except ServiceError as exc:
                assert exc.field == field, (name, exc.message)
            else:
                raise AssertionError(f"{name} {field}: accepted")
    finally:
        await client.aclose()
    other_caller = GatewayCaller(insights_url, settings.service_token_secret)
    try:
        await other_caller.call(
            "POST",
            "/internal/insights/collections/events",
            org_id=tenant.org_id,
            json={"since": past.isoformat(), "until": datetime.now(UTC).isoformat()},
        )
    except ServiceError as exc:
        assert exc.status == 403
    else:
        raise AssertionError("the gateway read the collection page")
    finally:
        await other_caller.aclose()
