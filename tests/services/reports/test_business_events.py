"""The insights service's business events recorded by the reports service: each stored once by its own event id
(a redelivery, a replay or the backfill's republished copy under a new envelope id changes nothing), the entity
the itemised reports list recomputed whatever the arrival order, and the insights watermark."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.insights.admin import publish_business_events
from shared.messaging import contracts
from tests.services.reports.feed import apply_insights, copy_with_new_id, outbox_events, table

RECORDED = {contracts.BUSINESS_EVENT_RECORDED}


def _event(n: int, type_: str, entity: str, state: str, anon: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"{entity}-{n}",
        "type": type_,
        "occurredAt": (datetime.now(UTC) - timedelta(minutes=60 - n)).isoformat(),
        "anonymousId": anon,
        "entityId": entity,
        "state": state,
        **kw,
    }


async def _post(gateway: Any, tenant: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


async def _entity(reports_pool: Any, tenant: Any, entity: str) -> dict[str, Any]:
    [row] = await table(reports_pool, tenant.org_id, "SELECT * FROM business_entities WHERE entity_id = $1", entity)
    return row


async def test_business_events_are_stored_once_by_their_own_id_and_build_the_entity(
    gateway: Any, insights_pool: Any, reports_pool: Any, tenant: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    invoice, anon = f"inv-{tag}", f"anon-{tag}"
    fields = {"number": f"N-{tag}", "dueDate": "2030-01-31"}
    batch = [
        _event(1, "invoice", invoice, "draft", anon, amount="120.00", currency="GBP", fields=fields),
        _event(2, "invoice", invoice, "posted", anon, amount="120.00", currency="GBP", fields=fields),
        _event(3, "invoice", invoice, "posted", anon, amount="120.00", currency="GBP", fields=fields),  # counted once
    ]
    body = await _post(gateway, tenant, batch)
    assert body["stored"] == 3, body
    events = await outbox_events(insights_pool, tenant.org_id, RECORDED)
    assert len(events) == 3
    assert await apply_insights(reports_pool, events) == 3

    stored = await table(reports_pool, tenant.org_id, "SELECT * FROM business_events ORDER BY occurred_at")
    assert [(r["state"], r["counted"]) for r in stored] == [("draft", False), ("posted", True), ("posted", False)]
    assert {r["event_id"] for r in stored} == {uuid.UUID(e.payload["event_id"]) for e in events}
    assert stored[0]["amount"] == Decimal("120.00") and stored[0]["currency"] == "GBP"
    assert stored[0]["fields"] == fields
    entity = await _entity(reports_pool, tenant, invoice)
    assert entity["state"] == "posted" and entity["state_at"] == stored[2]["occurred_at"]
    assert (entity["first_event_at"], entity["last_event_at"], entity["events"]) == (
        stored[0]["occurred_at"],
        stored[2]["occurred_at"],
        3,
    )
    assert (entity["counted_at"], entity["amount"], entity["currency"]) == (
        stored[1]["occurred_at"],
        Decimal("120.00"),
        "GBP",
    )
    # The contact is made on first mention, seen over the events' span.
    customer = stored[0]["customer_id"]
    assert customer is not None and entity["customer_id"] == customer
    [contact] = await table(reports_pool, tenant.org_id, "SELECT * FROM contacts WHERE id = $1", customer)
    assert (contact["first_seen"], contact["last_seen"]) == (stored[0]["occurred_at"], stored[2]["occurred_at"])
    [wm] = await table(reports_pool, tenant.org_id, "SELECT * FROM watermarks WHERE source = 'insights'")
    assert wm["occurred_at"] == max(e.occurred_at for e in events)

    # Redelivered: nothing applied. Republished under new envelope ids: applied, and nothing changes.
    before = (await table(reports_pool, tenant.org_id, "SELECT * FROM business_events ORDER BY event_id"), entity)
    assert await apply_insights(reports_pool, events) == 0
    assert await apply_insights(reports_pool, [copy_with_new_id(e) for e in events]) == 3
    after = (
        await table(reports_pool, tenant.org_id, "SELECT * FROM business_events ORDER BY event_id"),
        await _entity(reports_pool, tenant, invoice),
    )
    assert after == before


async def test_the_entity_is_the_same_whatever_the_arrival_order(
    gateway: Any, insights_pool: Any, reports_pool: Any, tenant: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    subs = [f"sub-{tag}-{i}" for i in range(3)]
    batch = []
    for i, sub in enumerate(subs):
        plan = {"plan": "gold", "period": "month"}
        batch += [
            _event(10 * i + 1, "subscription", sub, "trial", f"anon-{tag}", amount="9.99", currency="EUR", fields=plan),
            _event(
                10 * i + 2, "subscription", sub, "active", f"anon-{tag}", amount="19.99", currency="EUR", fields=plan
            ),
        ]
    batch.append(
        _event(40, "subscription", subs[0], "cancelled", f"anon-{tag}", amount="19.99", currency="EUR", fields=plan)
    )
    await _post(gateway, tenant, batch)
    events = await outbox_events(insights_pool, tenant.org_id, RECORDED)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    await apply_insights(reports_pool, list(reversed(events)))
    in_reverse = {s: await _entity(reports_pool, tenant, s) for s in subs}
    # The same events again, republished in another order: the entities stay as they are.
    await apply_insights(reports_pool, [copy_with_new_id(e) for e in shuffled])
    assert {s: await _entity(reports_pool, tenant, s) for s in subs} == in_reverse
    assert [in_reverse[s]["state"] for s in subs] == ["cancelled", "active", "active"]
    # The watermark is the newest event's, though it arrived first.
    [wm] = await table(reports_pool, tenant.org_id, "SELECT * FROM watermarks WHERE source = 'insights'")
    assert wm["occurred_at"] >= max(e.occurred_at for e in events)


async def test_account_currency_comes_from_the_newest_event_that_carries_one(
    gateway: Any, insights_pool: Any, reports_pool: Any, tenant: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    anon = f"anon-{tag}"
    batch = [
        _event(1, "payment", f"pay-{tag}-1", "posted", anon, amount="5.00", currency="GBP", accountCurrency="EUR"),
        _event(2, "payment", f"pay-{tag}-2", "posted", anon, amount="6.00", currency="GBP", accountCurrency="USD"),
    ]
    await _post(gateway, tenant, batch)
    events = await outbox_events(insights_pool, tenant.org_id, RECORDED)
    await apply_insights(reports_pool, list(reversed(events)))  # the newer one first
    [customer] = {e.payload["customer_id"] for e in events}
    [contact] = await table(reports_pool, tenant.org_id, "SELECT * FROM contacts WHERE id = $1", uuid.UUID(customer))
    assert contact["account_currency"] == "USD"


async def test_publish_business_events_republishes_the_ingested_payloads_under_new_ids(
    gateway: Any, insights_pool: Any, reports_pool: Any, settings: Any, tenant: Any
) -> None:
    """The backfill command (services/insights/admin.py): one new outbox row per stored business event, with
    the very payload ingestion published; applied to the reports store, it changes nothing."""
    tag = uuid.uuid4().hex[:8]
    batch = [
        _event(1, "purchase", f"pur-{tag}", "pending", f"anon-{tag}", amount="5.00", currency="GBP"),
        _event(2, "purchase", f"pur-{tag}", "completed", f"anon-{tag}", amount="5.00", currency="GBP",
               customFields={"tier": "gold"}, items=[{"quantity": 2, "amount": "2.50"}]),
        {**_event(3, "page_view", f"pur-{tag}", "x", f"anon-{tag}"), "entityId": None, "state": None},
    ]  # fmt: skip
    body = await _post(gateway, tenant, batch)
    assert body["stored"] == 3, body
    original = await outbox_events(insights_pool, tenant.org_id, RECORDED)
    assert len(original) == 2
    await apply_insights(reports_pool, original)
    before = await table(reports_pool, tenant.org_id, "SELECT * FROM business_events ORDER BY event_id")

    result = await publish_business_events(settings.service_database_url("insights", "owner"), batch=1)
    assert result["published"] >= 2 and result["batches"] >= 2
    everything = await outbox_events(insights_pool, tenant.org_id, RECORDED)
    republished = [e for e in everything if e.id not in {o.id for o in original}]
    assert sorted((e.payload for e in republished), key=lambda p: p["event_id"]) == sorted(
        (o.payload for o in original), key=lambda p: p["event_id"]
    )
    assert await apply_insights(reports_pool, republished) == 2
    assert await table(reports_pool, tenant.org_id, "SELECT * FROM business_events ORDER BY event_id") == before
