"""Demo-like data for every catalogue report, fed through the real paths: orders made by the orders service and
business events of every area posted to `/v1/events`, their outbox events applied to the reports service as its
worker applies them, and ECB rates stored as the `fx_rates.published` handler stores them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.reports.repository import fx_rates
from shared.messaging import contracts
from tests.factories import create_order
from tests.services.reports.feed import apply_insights, apply_orders, outbox_events

RATES = {"EUR": Decimal("1"), "USD": Decimal("1.10"), "GBP": Decimal("0.85")}  # per euro


@dataclass
class Fed:
    tag: str
    days_ago: int
    orders: list[dict[str, Any]]


async def store_rates(reports_pool: Any, days: int = 100, skip: frozenset[str] = frozenset()) -> None:
    today = datetime.now(UTC).date()
    currencies, on, values = [], [], []
    for n in range(days + 2):
        d = today - timedelta(days=n) + timedelta(days=1)
        for cur, v in RATES.items():
            if cur != "EUR" and cur not in skip:
                currencies.append(cur)
                on.append(d)
                values.append(v)
    async with reports_pool.acquire() as conn, conn.transaction():
        await fx_rates.store(conn, currencies, on, values, datetime.now(UTC))


def _event(tag: str, n: int, minutes_ago: int, type_: str, entity: str, state: str, anon: str, **kw: Any) -> dict:
    return {
        "id": f"{tag}-{n}",
        "type": type_,
        "occurredAt": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        "anonymousId": anon,
        "entityId": f"{entity}-{tag}",
        "state": state,
        **kw,
    }


def business_events(tag: str, product_id: str) -> list[dict[str, Any]]:
    """Every area's events, for two contacts, within the last few days."""
    a, b = f"anon-a-{tag}", f"anon-b-{tag}"
    rows: list[tuple[str, str, str, str, dict[str, Any]]] = [
        ("invoice", "inv1", "draft", a, {"amount": "100.00", "currency": "GBP", "fields": {"number": "N1"}}),
        ("invoice", "inv1", "posted", a, {"amount": "100.00", "currency": "GBP", "fields": {"number": "N1"}}),
        ("invoice", "inv2", "posted", b, {"amount": "40.00", "currency": "EUR", "fields": {"number": "N2"}}),
        ("credit_note", "cn1", "posted", a, {"amount": "20.00", "currency": "GBP", "fields": {"number": "C1"}}),
        ("payment", "pay1", "posted", a, {"amount": "55.00", "currency": "USD", "fields": {"method": "card"}}),
        ("refund", "ref1", "posted", b, {"amount": "10.00", "currency": "EUR", "fields": {"method": "card"}}),
        ("top_up", "top1", "posted", b, {"amount": "30.00", "currency": "GBP", "fields": {"method": "wallet"}}),
        ("purchase", "pur1", "completed", a, {"amount": "12.50", "currency": "GBP", "customFields": {"tier": "gold"}}),
        ("pass", "pass1", "issued", a, {"amount": "5.00", "currency": "GBP", "fields": {"passType": "voucher"}}),
        ("pass", "pass1", "redeemed", a, {"amount": "5.00", "currency": "GBP", "fields": {"passType": "voucher"}}),
        ("pass", "pass2", "issued", b, {"amount": "8.00", "currency": "EUR", "fields": {"passType": "ticket"}}),
        ("pass", "pass2", "expired", b, {"amount": "8.00", "currency": "EUR", "fields": {"passType": "ticket"}}),
        ("service_request", "sr1", "open", a, {"fields": {"category": "billing", "priority": "high"}}),
        ("service_request", "sr1", "resolved", a, {"fields": {"category": "billing", "priority": "high"}}),
        ("service_request", "sr2", "open", b, {"fields": {"category": "tech", "priority": "low"}}),
        ("subscription", "sub1", "active", a,
         {"amount": "20.00", "currency": "GBP", "fields": {"plan": "gold", "period": "month", "allowance": 100}}),
        ("subscription", "sub2", "active", b,
         {"amount": "120.00", "currency": "EUR", "fields": {"plan": "silver", "period": "year"}}),
        ("subscription", "sub2", "cancelled", b,
         {"amount": "120.00", "currency": "EUR", "fields": {"plan": "silver", "period": "year"}}),
        ("usage", "use1", "recorded", a, {"fields": {"metric": "data", "quantity": 40, "unit": "MB"}}),
        ("award", "aw1", "granted", a, {"fields": {"points": 100, "scheme": "stars"}}),
        ("spend", "sp1", "granted", a, {"fields": {"points": 30, "scheme": "stars"}}),
        ("inventory_item", "inv-item1", "received", a,
         {"productId": product_id, "fields": {"quantity": 10, "location": "London"}}),
        ("inventory_item", "inv-item1", "allocated", a,
         {"productId": product_id, "fields": {"quantity": 3, "location": "London"}}),
        ("lead", "lead1", "created", a, {"fields": {"source": "web"}}),
        ("lead", "lead1", "converted", a, {"fields": {"source": "web"}}),
        ("lead", "lead2", "created", b, {"fields": {"source": "fair"}}),
        ("lead", "lead2", "lost", b, {"fields": {"source": "fair"}}),
        ("activity", "act1", "logged", a, {"fields": {"kind": "call"}}),
    ]  # fmt: skip
    n = len(rows)
    return [_event(tag, i, 10 * (n - i) + 5, t, e, s, anon, **kw) for i, (t, e, s, anon, kw) in enumerate(rows)]


async def feed(gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any) -> Fed:
    """Orders and every area's business events of `tenant`, in the reports service."""
    tag = uuid.uuid4().hex[:8]
    orders = [
        await create_order(pool, tenant, email=f"a-{tag}@example.com"),
        await create_order(pool, tenant, product="Credit Cards", status="SUCCESSFUL"),
        await create_order(pool, tenant, product="App card"),
    ]
    product = next(iter(tenant.products.values()))
    r = await gateway.post(
        "/v1/events",
        json={"events": business_events(tag, str(product))},
        headers={"authorization": f"Bearer {tenant.api_key}"},
    )
    assert r.status_code == 202, r.text
    assert r.json()["stored"] == len(business_events(tag, str(product))), r.text
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    await apply_insights(
        reports_pool, await outbox_events(insights_pool, tenant.org_id, {contracts.BUSINESS_EVENT_RECORDED})
    )
    return Fed(tag, 0, orders)


def last_days(n: int = 7) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {"from": (today - timedelta(days=n)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}


def today() -> date:
    return datetime.now(UTC).date()
