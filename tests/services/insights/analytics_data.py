"""Test data for the Analytics tab, made through the platform's own entry points.

Events go through the gateway's `POST /v1/events`; orders are created in the orders service and their event
payload (`services.orders.service.orders.event_payload`) is applied to the insights copy with
`repository.orders.upsert`, as the orders-events consumer will; the organisation's time zone reaches the
insights copy of its settings as its consumer applies `organisation.settings_changed`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.insights.repository import orders as orders_copy
from shared.db import tenant_tx
from shared.messaging.contracts import ORGANISATION_SETTINGS_CHANGED, Event
from shared.service import org_settings
from tests.factories import Tenant, create_order, gql

_clock = [datetime(2000, 1, 1, tzinfo=UTC)]


def _tick() -> datetime:
    """A strictly increasing `as_of`, so each copy update is newer than the one before."""
    _clock[0] = max(_clock[0] + timedelta(microseconds=1), datetime.now(UTC))
    return _clock[0]


async def use_time_zone(insights_pool: Any, org_id: uuid.UUID, time_zone: str) -> None:
    """The organisation's settings as the insights service's organisation consumer stores them."""
    event = Event(
        id=uuid.uuid4(),
        type=ORGANISATION_SETTINGS_CHANGED,
        org_id=org_id,
        occurred_at=_tick(),
        version=1,
        payload={"name": "Test Partner", "time_zone": time_zone, "base_currency": "GBP"},
    )
    async with tenant_tx(insights_pool, org_id) as conn:
        await org_settings.apply(conn, event)


def event(type: str, at: datetime, visitor: str, *, product: uuid.UUID | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f"{type}-{uuid.uuid4().hex[:12]}",
        "type": type,
        "occurredAt": at.isoformat(),
        "anonymousId": visitor,
        **extra,
    }
    if product is not None:
        out["productId"] = str(product)
    return out


async def ingest(gateway: Any, api_key: str, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 500):
        r = await gateway.post(
            "/v1/events", json={"events": events[i : i + 500]}, headers={"authorization": f"Bearer {api_key}"}
        )
        assert r.status_code == 202, r.text
        assert r.json()["refused"] == [], r.json()


async def second_key(gateway: Any, tenant: Tenant) -> str:
    """A working API key of the tenant's second integration (rotated: the factory keeps only the first's)."""
    body = await gql(
        gateway,
        "mutation($id: ID!) { rotateIntegrationKey(id: $id) { apiKey errors { message } } }",
        {"id": str(tenant.second_integration_id)},
        token=tenant.admin_token,
    )
    key: str = body["data"]["rotateIntegrationKey"]["apiKey"]
    return key


async def copy(insights_pool: Any, org_id: uuid.UUID, order: dict[str, Any]) -> None:
    from services.orders.service.orders import event_payload

    async with tenant_tx(insights_pool, org_id) as conn:
        assert await orders_copy.upsert(conn, org_id, event_payload(order), _tick())


async def order(pool: Any, insights_pool: Any, tenant: Tenant, *, paid: bool = False, **kw: Any) -> dict[str, Any]:
    """An order in the orders service (paid: confirmed by its provider's user), and the same in the copy."""
    created = await create_order(pool, tenant, **kw)
    await copy(insights_pool, tenant.org_id, created)
    if paid:
        from services.orders.domain.commission import CommStatus
        from services.orders.service import commission

        async with tenant_tx(pool, tenant.org_id) as conn:
            created, changed = await commission.set_by_hand(
                conn,
                tenant.org_id,
                created["id"],
                CommStatus.SUCCESSFUL,
                None,
                "test",
                provider_id=tenant.provider["id"],
            )
        assert changed
        await copy(insights_pool, tenant.org_id, created)
    return created


def money(items: list[dict[str, Any]]) -> dict[str, Decimal]:
    return {m["currency"]: Decimal(str(m["amount"])) for m in items}
