"""Business events (seed 002): each type's states and fields, and the rule that makes one count in insights —
final states once per entity, logged states once per entity and state — under replays and concurrent batches."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.insights.domain.business import TYPES
from shared.db import tenant_tx
from tests.factories import gql


def _event(n: int, type_: str, entity: str, state: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"{entity}-{n}",
        "type": type_,
        "occurredAt": (datetime.now(UTC) - timedelta(minutes=60 - n)).isoformat(),
        "anonymousId": "biz-customer",
        "entityId": entity,
        "state": state,
        **kw,
    }


async def _post(gateway: Any, tenant: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


async def _rows(insights_pool: Any, tenant: Any, entity: str) -> list[Any]:
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        return list(
            await conn.fetch(
                "SELECT * FROM events WHERE org_id = $1 AND entity_id = $2 ORDER BY occurred_at",
                tenant.org_id,
                entity,
            )
        )


async def _rollup(insights_pool: Any, tenant: Any, type_: str) -> tuple[int, Decimal]:
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        row = await conn.fetchrow(
            "SELECT coalesce(sum(events), 0) AS n, coalesce(sum(amount), 0) AS amount FROM event_rollups_daily"
            " WHERE org_id = $1 AND type = $2",
            tenant.org_id,
            type_,
        )
    assert row is not None
    return int(row["n"]), Decimal(row["amount"])


async def test_event_types_serve_each_business_type_with_its_states_rule_and_fields(gateway, tenant) -> None:
    data = await gql(
        gateway,
        """{ eventTypes { name class carriesAmount acceptedFromIntegrations
             business { states countRule finalStates countRuleText amount lineItems
                        fields { name kind values required filterable breakdown } } } }""",
        token=tenant.admin_token,
    )
    assert "errors" not in data, data
    by_name = {t["name"]: t for t in data["data"]["eventTypes"]}
    assert {t.name for t in TYPES} <= set(by_name)
    assert len(TYPES) == 18
    invoice = by_name["invoice"]
    assert invoice["class"] == "business" and invoice["carriesAmount"] and invoice["acceptedFromIntegrations"]
    assert invoice["business"]["countRule"] == "final" and invoice["business"]["finalStates"] == ["posted"]
    assert invoice["business"]["lineItems"] is True
    assert {f["name"]: f["kind"] for f in invoice["business"]["fields"]} == {"number": "text", "dueDate": "date"}
    request = by_name["service_request"]["business"]
    assert request["countRule"] == "logged"
    priority = next(f for f in request["fields"] if f["name"] == "priority")
    assert priority["values"] == ["low", "medium", "high", "urgent"] and priority["required"]
    usage = {f["name"]: f for f in by_name["usage"]["business"]["fields"]}
    assert usage["quantity"]["filterable"] and not usage["quantity"]["breakdown"]  # numbers do not break down
    assert by_name["order"]["acceptedFromIntegrations"] is False
    assert by_name["page_view"]["business"] is None


async def test_a_final_state_counts_once_per_entity_and_other_states_are_stored_uncounted(
    gateway, tenant, insights_pool
) -> None:
    inv = f"inv-{uuid.uuid4().hex[:8]}"
    money = {"amount": "120.00", "currency": "GBP"}
    batch = [
        _event(1, "invoice", inv, "draft", **money, fields={"number": "INV-1"}),
        _event(2, "invoice", inv, "posted", **money, fields={"number": "INV-1", "dueDate": "2026-12-31"}),
        _event(3, "invoice", inv, "posted", **money),  # the final state reported again (another event id)
    ]
    before = await _rollup(insights_pool, tenant, "invoice")
    body = await _post(gateway, tenant, batch)
    assert body["stored"] == 3 and not body["refused"], body
    # Reported again later, and the whole batch replayed: nothing counts twice.
    await _post(gateway, tenant, [_event(4, "invoice", inv, "posted", **money)])
    replay = await _post(gateway, tenant, batch)
    assert replay["stored"] == 0 and replay["duplicates"] == 3

    rows = await _rows(insights_pool, tenant, inv)
    assert [(r["state"], r["counted"]) for r in rows] == [
        ("draft", False),
        ("posted", True),
        ("posted", False),
        ("posted", False),
    ]
    assert rows[1]["fields"] == {"number": "INV-1", "dueDate": "2026-12-31"}
    n, amount = await _rollup(insights_pool, tenant, "invoice")
    assert (n - before[0], amount - before[1]) == (1, Decimal("120.00"))


async def test_logged_types_count_each_state_once(gateway, tenant, insights_pool) -> None:
    sr = f"sr-{uuid.uuid4().hex[:8]}"
    fields = {"category": "billing", "priority": "high"}
    await _post(
        gateway,
        tenant,
        [
            _event(1, "service_request", sr, "open", fields=fields),
            _event(2, "service_request", sr, "open", fields=fields),  # the same state twice
            _event(3, "service_request", sr, "resolved", fields=fields),
        ],
    )
    rows = await _rows(insights_pool, tenant, sr)
    assert [(r["state"], r["counted"]) for r in rows] == [("open", True), ("open", False), ("resolved", True)]


async def test_concurrent_batches_reporting_one_final_state_count_it_once(gateway, tenant, insights_pool) -> None:
    pay = f"pay-{uuid.uuid4().hex[:8]}"
    batches = [
        [_event(n, "payment", pay, "posted", amount="9.99", currency="EUR", fields={"method": "card"})]
        for n in range(1, 7)
    ]
    answers = await asyncio.gather(*(_post(gateway, tenant, b) for b in batches))
    assert all(a["stored"] == 1 for a in answers)
    rows = await _rows(insights_pool, tenant, pay)
    assert len(rows) == 6 and sum(r["counted"] for r in rows) == 1


async def test_each_organisation_counts_its_own_entities(gateway, tenant, other_tenant, insights_pool) -> None:
    """The same entity id in two organisations is two entities: one does not stop the other counting."""
    award = f"aw-{uuid.uuid4().hex[:8]}"
    fields = {"points": 50, "scheme": "stars"}
    for t in (tenant, other_tenant):
        await _post(gateway, t, [_event(1, "award", award, "granted", fields=fields)])
    for t in (tenant, other_tenant):
        rows = await _rows(insights_pool, t, award)
        assert [(r["org_id"], r["counted"]) for r in rows] == [(t.org_id, True)]


async def test_business_events_are_refused_by_field_and_the_rest_of_the_batch_stored(
    gateway, tenant, insights_pool
) -> None:
    tag = uuid.uuid4().hex[:8]
    ok = _event(0, "lead", f"lead-{tag}", "created", fields={"source": "web"}, customFields={"tier": "gold"})
    bad = [
        ok,
        {**_event(1, "lead", f"l1-{tag}", "created", fields={"source": "web"}), "entityId": None},
        _event(2, "lead", f"l2-{tag}", "won", fields={"source": "web"}),
        _event(3, "lead", f"l3-{tag}", "created", fields={"source": "web", "colour": "red"}),
        _event(4, "usage", f"u4-{tag}", "recorded", fields={"metric": "data", "quantity": "lots"}),
        _event(5, "invoice", f"i5-{tag}", "posted", amount="1.00", currency="GBP", fields={"dueDate": "31/12/2026"}),
        _event(6, "service_request", f"s6-{tag}", "open", fields={"category": "x", "priority": "asap"}),
        _event(7, "lead", f"l7-{tag}", "created"),
        {**_event(8, "page_view", f"p8-{tag}", "x"), "fields": {"source": "web"}},
        _event(9, "payment", f"p9-{tag}", "posted", amount="1.00", currency="GBP", items=[{"quantity": 1}]),
        _event(10, "lead", f"l10-{tag}", "created", fields={"source": "web"}, accountCurrency="XYZ"),
        _event(11, "invoice", f"i11-{tag}", "posted"),
        _event(12, "lead", f"l12-{tag}", "created", fields={"source": "web"}, customFields={"dob": "1990-01-01"}),
    ]
    body = await _post(gateway, tenant, bad)
    refused = {(x["index"], x["field"]) for x in body["refused"]}
    assert refused == {
        (1, "events[1].entityId"),
        (2, "events[2].state"),
        (3, "events[3].fields.colour"),
        (4, "events[4].fields.quantity"),
        (5, "events[5].fields.dueDate"),
        (6, "events[6].fields.priority"),
        (7, "events[7].fields.source"),
        (8, "events[8].fields"),
        (9, "events[9].items"),
        (10, "events[10].accountCurrency"),
        (11, "events[11].amount"),
        (12, "events[12].customFields.dob"),
    }, body
    assert all(x["reason"] for x in body["refused"])
    assert body["stored"] == 1
    [row] = await _rows(insights_pool, tenant, f"lead-{tag}")
    assert row["counted"] and row["custom_fields"] == {"tier": "gold"}


async def test_stored_business_events_are_published_once_for_reporting(gateway, tenant, insights_pool) -> None:
    """Each business event stored goes to the outbox (business_event.recorded, with whether it counted);
    behaviour events and replays publish nothing."""
    entity = f"pur-{uuid.uuid4().hex[:8]}"
    batch = [
        _event(1, "purchase", entity, "pending", amount="5.00", currency="GBP"),
        _event(2, "purchase", entity, "completed", amount="5.00", currency="GBP", customFields={"tier": "gold"}),
        {**_event(3, "page_view", entity, "x"), "entityId": None, "state": None},
    ]
    await _post(gateway, tenant, batch)
    await _post(gateway, tenant, batch)  # a replay stores (and publishes) nothing

    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        rows = await conn.fetch(
            "SELECT payload FROM outbox WHERE org_id = $1 AND type = 'business_event.recorded'"
            " AND payload ->> 'entity_id' = $2 ORDER BY payload ->> 'occurred_at'",
            tenant.org_id,
            entity,
        )
    payloads = [r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"]) for r in rows]
    assert [(p["state"], p["counted"]) for p in payloads] == [("pending", False), ("completed", True)]
    assert payloads[1]["custom_fields"] == {"tier": "gold"} and payloads[1]["amount"] == "5.00"  # text: cents exact
    assert all(p["type"] == "purchase" and p["event_id"] for p in payloads)
