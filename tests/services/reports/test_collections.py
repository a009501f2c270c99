"""The documented collections (shared/collections.py) as the reports service streams them: every document exactly
as declared, each collection's content checked against what was sent, date-range bounds, keyset batches that
neither skip nor repeat, the "changed since" cursor, erased contacts erased, organisation B's data never in A's
documents, bad input refused naming its field."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.orders.domain.commission import CommStatus, Status
from services.orders.service import commission
from services.orders.service import erasure as orders_erasure
from services.reports.domain import collections as domain
from services.reports.service import collections as workflow
from shared.collections import COLLECTIONS
from shared.db import tenant_tx
from shared.errors import DomainError
from shared.messaging import contracts
from tests.services.reports.feed import apply_insights, apply_orders, outbox_events
from tests.services.reports.report_data import business_events, feed

DAY = timedelta(days=1)


@pytest.fixture
async def insights_client(settings: Any, insights_url: str) -> Any:
    client = workflow.InsightsCollections(insights_url, settings.service_token_secret)
    yield client
    await client.aclose()


@pytest.fixture
async def orders_client(settings: Any, orders_url: str) -> Any:
    client = workflow.OrdersProviders(orders_url, settings.service_token_secret)
    yield client
    await client.aclose()


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - 3 * DAY, now + DAY


async def _all(
    reports_pool: Any, insights: Any, org_id: Any, name: str, batch: int = 1000, orders: Any = None
) -> list[dict[str, Any]]:
    since, until = _window()
    return [
        d
        async for d in workflow.documents(
            reports_pool, name, org_id, since, until, insights=insights, orders=orders, batch=batch
        )
    ]


async def _device_event(gateway: Any, tenant: Any, tag: str) -> None:
    """A behaviour event from a device of contact a (the business events' `anon-a-<tag>`)."""
    r = await gateway.post(
        "/v1/events",
        json={
            "events": [
                {
                    "id": f"{tag}-dev",
                    "type": "page_view",
                    "occurredAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                    "anonymousId": f"anon-a-{tag}",
                    "device": {"id": f"dev-{tag}", "platform": "ios", "userAgent": "=cmd|' /C calc'!A0"},
                }
            ]
        },
        headers={"authorization": f"Bearer {tenant.api_key}"},
    )
    assert r.status_code == 202, r.text


async def test_every_collection_is_as_declared_and_holds_its_organisations_data(
    gateway: Any,
    pool: Any,
    insights_pool: Any,
    reports_pool: Any,
    insights_client: Any,
    orders_client: Any,
    tenant: Any,
    other_tenant: Any,
) -> None:
    mine = await feed(gateway, pool, insights_pool, reports_pool, tenant)
    theirs = await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    async with tenant_tx(pool, tenant.org_id) as conn:  # a commission change: the order's history
        await commission.change_state(
            conn, tenant.org_id, mine.orders[0]["id"], status=Status.SUCCESSFUL, comm_status=CommStatus.PENDING,
            amount=None, currency=None, source="provider", reference=None, actor=None,
        )  # fmt: skip
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    await _device_event(gateway, tenant, mine.tag)
    await _device_event(gateway, other_tenant, theirs.tag)

    docs = {
        c.name: await _all(reports_pool, insights_client, tenant.org_id, c.name, orders=orders_client)
        for c in COLLECTIONS
    }
    for c in COLLECTIONS:
        assert docs[c.name], f"{c.name}: no documents"
        for d in docs[c.name]:
            assert domain.check_document(c, d) == [], (c.name, d)
            assert list(d) == list(c.field_names)  # the declared order, which the CSV columns follow
            assert d["orgId"] == str(tenant.org_id)
        ids = [d["_id"] for d in docs[c.name]]
        assert len(ids) == len(set(ids)), c.name
    # Organisation B's documents never among A's, whatever the collection.
    other = {
        c.name: await _all(reports_pool, insights_client, other_tenant.org_id, c.name, orders=orders_client)
        for c in COLLECTIONS
    }
    for c in COLLECTIONS:
        assert not {d["_id"] for d in docs[c.name]} & {d["_id"] for d in other[c.name]}, c.name
        text = str(docs[c.name])
        assert theirs.tag not in text and str(other_tenant.org_id) not in text, c.name

    orders = {d["_id"]: d for d in docs["orders"]}
    assert {str(o["id"]) for o in mine.orders} <= set(orders)
    changed = orders[str(mine.orders[0]["id"])]
    assert changed["status"] == "SUCCESSFUL" and changed["commissionStatus"] == "PENDING"
    [step] = changed["commissionHistory"]
    assert (step["fromStatus"], step["toStatus"], step["toCommissionStatus"]) == ("PENDING", "SUCCESSFUL", "PENDING")
    assert step["currency"] == changed["currency"] and step["amount"] == changed["amount"]
    successful = orders[str(mine.orders[1]["id"])]
    assert successful["status"] == "SUCCESSFUL" and successful["commissionHistory"] == []

    journals = {(d["entityId"], d["state"]): d for d in docs["financial_journals"]}
    inv = journals[(f"inv1-{mine.tag}", "posted")]
    assert (inv["journalType"], inv["amount"], inv["currency"], inv["number"], inv["counted"]) == (
        "invoice",
        "100.00",
        "GBP",
        "N1",
        True,
    )
    assert journals[(f"inv1-{mine.tag}", "draft")]["counted"] is False
    assert {d["journalType"] for d in docs["financial_journals"]} == set(domain.FINANCIAL_TYPES)
    occurred = [d["occurredAt"] for d in docs["financial_journals"]]
    assert occurred == sorted(occurred)  # one merged order across the five types

    subs = {d["entityId"]: d for d in docs["subscriptions"]}
    gold = subs[f"sub1-{mine.tag}"]
    assert (gold["plan"], gold["period"], gold["allowance"], gold["amount"], gold["state"]) == (
        "gold",
        "month",
        "100",
        "20.00",
        "active",
    )
    assert gold["activatedAt"] is not None
    assert subs[f"sub2-{mine.tag}"]["state"] == "cancelled"
    [usage] = [d for d in docs["usage_allowances"] if d["entityId"] == f"use1-{mine.tag}"]
    assert (usage["metric"], usage["quantity"], usage["unit"], usage["allowance"]) == ("data", "40", "MB", "100")
    assert usage["subscriptionIds"] == [gold["_id"]] and usage["customerId"] == gold["customerId"]

    leads = {d["entityId"]: d for d in docs["leads"]}
    assert leads[f"lead1-{mine.tag}"]["state"] == "converted" and leads[f"lead1-{mine.tag}"]["source"] == "web"
    assert leads[f"lead2-{mine.tag}"]["state"] == "lost"
    requests = {d["entityId"]: d for d in docs["service_requests"]}
    assert requests[f"sr1-{mine.tag}"]["resolvedAt"] == requests[f"sr1-{mine.tag}"]["stateAt"]
    assert requests[f"sr2-{mine.tag}"]["resolvedAt"] is None and requests[f"sr2-{mine.tag}"]["priority"] == "low"

    [device] = [d for d in docs["devices"] if d["deviceId"] == f"dev-{mine.tag}"]
    assert device["platform"] == "ios" and device["customerId"] == gold["customerId"]
    assert device["_id"] == f"{device['customerId']}:{device['deviceId']}"
    events = docs["events"]
    assert any(e["type"] == "page_view" and e["deviceId"] == f"dev-{mine.tag}" for e in events)
    sent = business_events(mine.tag, str(uuid.uuid4()))
    assert sum(1 for e in events if e["class"] == "business") == len(sent)  # every business event of `feed`

    contacts = {d["_id"] for d in docs["contact_profiles"]}
    assert gold["customerId"] in contacts and successful["customerId"] in contacts
    kinds = sorted(d["kind"] for d in docs["organisation_profiles"])
    assert kinds[0] == "partner" and set(kinds[1:]) <= {"provider"}
    partner = docs["organisation_profiles"][0]
    assert partner["_id"] == str(tenant.org_id) and partner["orders"] >= len(mine.orders)
    assert sum(p["orders"] for p in docs["organisation_profiles"][1:]) <= partner["orders"]
    [acme] = [p for p in docs["organisation_profiles"] if p["_id"] == str(tenant.provider["id"])]
    assert acme["kind"] == "provider" and acme["name"] == "Acme Bank"
    placed = [o for o in docs["orders"] if o["providerId"] == acme["_id"]]
    assert acme["orders"] == len(placed) and acme["lastOrderAt"] == max(o["createdAt"] for o in placed)


async def test_ranges_bound_and_batches_neither_skip_nor_repeat(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, insights_client: Any, tenant: Any
) -> None:
    fed = await feed(gateway, pool, insights_pool, reports_pool, tenant)
    await _device_event(gateway, tenant, fed.tag)
    for c in COLLECTIONS:
        whole = await _all(reports_pool, insights_client, tenant.org_id, c.name)
        assert whole, c.name
        assert await _all(reports_pool, insights_client, tenant.org_id, c.name, batch=2) == whole, c.name
        if c.time_field is None:
            continue
        # [since, until): a document exactly at `until` is out, exactly at `since` in.
        times = sorted({datetime.fromisoformat(d[c.time_field]) for d in whole})
        middle = times[len(times) // 2]
        since, until = _window()
        before = [
            d
            async for d in workflow.documents(
                reports_pool, c.name, tenant.org_id, since, middle, insights=insights_client
            )
        ]
        after = [
            d
            async for d in workflow.documents(
                reports_pool, c.name, tenant.org_id, middle, until, insights=insights_client
            )
        ]
        assert all(datetime.fromisoformat(d[c.time_field]) < middle for d in before), c.name
        assert all(datetime.fromisoformat(d[c.time_field]) >= middle for d in after), c.name
        assert sorted(d["_id"] for d in before + after) == sorted(d["_id"] for d in whole), c.name
        assert any(datetime.fromisoformat(d[c.time_field]) == middle for d in after), c.name


async def test_changes_cursor_hands_out_each_change_once_and_then_what_changed(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any
) -> None:
    fed = await feed(gateway, pool, insights_pool, reports_pool, tenant)
    positions: dict[str, str | None] = {}
    for c in COLLECTIONS:
        if not c.changes_cursor:
            with pytest.raises(DomainError) as refused:
                [x async for x in workflow.changes(reports_pool, c.name, tenant.org_id)]
            assert refused.value.field == "collection"
            continue
        seen: list[str] = []
        position = None
        async for docs, pos in workflow.changes(reports_pool, c.name, tenant.org_id, batch=3):
            seen += [d["_id"] for d in docs]
            position = pos
        assert len(seen) == len(set(seen)) and seen, c.name
        positions[c.name] = position
        assert [x async for x in workflow.changes(reports_pool, c.name, tenant.org_id, position)] == [], c.name

    # A new lead event: the lead's document (and its contact's, seen again) comes after the position, nothing
    # else in leads; the new event is a new journal entry nowhere (a lead is no financial type).
    r = await gateway.post(
        "/v1/events",
        json={
            "events": [
                {
                    "id": f"{fed.tag}-more",
                    "type": "lead",
                    "occurredAt": datetime.now(UTC).isoformat(),
                    "anonymousId": f"anon-b-{fed.tag}",
                    "entityId": f"lead2-{fed.tag}",
                    "state": "qualified",
                    "fields": {"source": "fair"},
                }
            ]
        },
        headers={"authorization": f"Bearer {tenant.api_key}"},
    )
    assert r.status_code == 202, r.text
    await apply_insights(
        reports_pool, await outbox_events(insights_pool, tenant.org_id, {contracts.BUSINESS_EVENT_RECORDED})
    )
    changed = [
        d
        for docs, _ in [x async for x in workflow.changes(reports_pool, "leads", tenant.org_id, positions["leads"])]
        for d in docs
    ]
    assert [(d["entityId"], d["state"]) for d in changed] == [(f"lead2-{fed.tag}", "qualified")]
    journals = [x async for x in workflow.changes(reports_pool, "financial_journals", tenant.org_id,
                                                   positions["financial_journals"])]  # fmt: skip
    assert journals == []
    with pytest.raises(DomainError) as bad:
        [x async for x in workflow.changes(reports_pool, "leads", tenant.org_id, "not-a-position")]
    assert bad.value.field == "after"


async def test_an_erased_contact_appears_erased(pool: Any, reports_pool: Any, tenant: Any) -> None:
    from tests.factories import create_order

    order = await create_order(pool, tenant, email=f"erase-{uuid.uuid4().hex[:6]}@example.com")
    customer = order["customer_id"]
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    async with tenant_tx(reports_pool, tenant.org_id) as conn:  # what it holds once the orders service publishes it
        await conn.execute(
            "UPDATE contacts SET email = 'x@example.com', display_name = 'X', custom_fields = '{\"t\": 1}'"
            " WHERE org_id = $1 AND id = $2",
            tenant.org_id,
            customer,
        )
    [before] = [
        d for d in await _all(reports_pool, None, tenant.org_id, "contact_profiles") if d["_id"] == str(customer)
    ]
    assert (before["email"], before["erased"]) == ("x@example.com", False)
    position = None
    async for _, pos in workflow.changes(reports_pool, "contact_profiles", tenant.org_id):
        position = pos
    async with tenant_tx(pool, tenant.org_id) as conn:
        assert (await orders_erasure.erase(conn, tenant.org_id, customer))["erased"]
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id, {contracts.CUSTOMER_ERASED}))
    [after] = [
        d for d in await _all(reports_pool, None, tenant.org_id, "contact_profiles") if d["_id"] == str(customer)
    ]
    assert after["erased"] is True and after["erasedAt"] is not None
    assert (after["email"], after["displayName"], after["customFields"]) == (None, None, {})
    # The erasure is a change: a forwarder following the cursor receives the erased document.
    changed = [d for docs, _ in [x async for x in workflow.changes(reports_pool, "contact_profiles", tenant.org_id,
                                                                    position)] for d in docs]  # fmt: skip
    assert [d["_id"] for d in changed] == [str(customer)] and changed[0]["erased"] is True
    # The document function empties personal fields even of a row that still held them.
    row: dict[str, Any] = {k: None for k in ("kind", "channel", "account_currency", "created_at", "merged_into")}
    row |= {"id": customer, "org_id": tenant.org_id, "email": "y@example.com", "display_name": "Y"}
    row |= {"custom_fields": {"t": 1}, "first_seen": datetime.now(UTC), "last_seen": datetime.now(UTC)}
    row |= {"erased_at": datetime.now(UTC)}
    doc = domain.contact_profile(row)
    assert (doc["email"], doc["displayName"], doc["customFields"]) == (None, None, {})


def test_bad_input_is_refused_naming_the_field() -> None:
    cases = [
        ({"collection": "nope", "range": {"preset": "TODAY"}}, "collection"),
        ({"range": {"preset": "TODAY"}}, "collection"),
        ({"collection": "orders", "range": {"from": "2026-05-02", "to": "2026-05-01"}}, "range"),
        ({"collection": "orders"}, "range"),
        ({"collection": "orders", "range": {"from": "2026-05-01"}}, "range"),
        ({"collection": "orders", "range": {"preset": "TODAY"}, "extra": 1}, "extra"),
        ({"collection": "orders", "range": {"from": "2026-13-01", "to": "2026-05-01"}}, "range.from"),
    ]
    for raw, field in cases:
        with pytest.raises(DomainError) as refused:
            workflow.parse_window(raw, "Europe/London")
        assert refused.value.field == field, (raw, refused.value)
        assert field in str(refused.value), refused.value
    w = workflow.parse_window(
        {"collection": "orders", "range": {"from": "2026-03-29", "to": "2026-03-29"}}, "Europe/London"
    )
    # Days in the organisation's time zone: London's spring-forward day is 23 hours long.
    assert (w.since.astimezone(UTC), w.until.astimezone(UTC) - w.since.astimezone(UTC)) == (
        datetime(2026, 3, 29, tzinfo=UTC),
        timedelta(hours=23),
    )


def test_documents_are_json_ready() -> None:
    from decimal import Decimal

    row = {
        "org_id": uuid.uuid4(), "event_id": uuid.uuid4(), "type": "invoice", "integration_id": uuid.uuid4(),
        "entity_id": "x", "state": "posted", "occurred_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "recorded_at": datetime(2026, 1, 2, 3, 4, 6, 7, tzinfo=UTC), "customer_id": None,
        "amount": Decimal("12.50"), "currency": "GBP", "account_currency": None,
        "fields": {"number": "N1", "dueDate": "2026-02-01"}, "items": None, "custom_fields": None, "counted": True,
    }  # fmt: skip
    doc = domain.financial_journal(row)
    assert doc["amount"] == "12.50" and doc["currency"] == "GBP" and doc["dueDate"] == "2026-02-01"
    assert doc["occurredAt"] == "2026-01-02T03:04:05Z" and doc["recordedAt"] == "2026-01-02T03:04:06.000007Z"
    assert (doc["items"], doc["customFields"], doc["customerId"]) == ([], {}, None)
    assert domain.check_document(domain.BY_NAME["financial_journals"], doc) == []
    assert domain.check_document(domain.BY_NAME["financial_journals"], {**doc, "amount": 12.5, "x": 1}) == [
        "x: not declared",
        "amount: 12.5 is not a decimal",
    ]
    stored = domain.native(domain.BY_NAME["financial_journals"], doc)
    assert stored["occurredAt"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) and stored["amount"] == "12.50"
    assert stored["dueDate"] == "2026-02-01" and doc["occurredAt"] == "2026-01-02T03:04:05Z"  # a copy
    broken = dataclasses.replace(domain.BY_NAME["financial_journals"])
    assert domain.check_document(broken, {k: v for k, v in doc.items() if k != "number"}) == ["number: missing"]


async def test_a_late_ledger_row_sends_its_order_again(pool: Any, reports_pool: Any, tenant: Any) -> None:
    """A commission change arriving after a newer event leaves the order's row as it is but adds to its history:
    the order is a change all the same (the ledger touches its order's marker, migration 014)."""
    from decimal import Decimal

    from services.reports.repository import orders as order_rows
    from tests.factories import create_order

    order = await create_order(pool, tenant, email=f"late-{uuid.uuid4().hex[:6]}@example.com")
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    position = None
    async for _, pos in workflow.changes(reports_pool, "orders", tenant.org_id):
        position = pos
    late = order_rows.LedgerEntry(
        uuid.uuid4(), order["id"], None, "PENDING", None, "PENDING", Decimal("1.00"), "GBP", None,
        datetime.now(UTC) - timedelta(days=1),
    )  # fmt: skip
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        assert await order_rows.record_change(conn, tenant.org_id, late)
    changed = [d for docs, _ in [x async for x in workflow.changes(reports_pool, "orders", tenant.org_id, position)]
               for d in docs]  # fmt: skip
    assert [d["_id"] for d in changed] == [str(order["id"])]
    assert str(late.event_id) in [h["eventId"] for h in changed[0]["commissionHistory"]]


def test_csv_cells() -> None:
    from services.reports.api.collections import csv_cell
    from shared.collections import FieldType as T

    assert [csv_cell(t, None) for t in T] == [""] * len(T)
    assert (csv_cell(T.BOOLEAN, True), csv_cell(T.BOOLEAN, False)) == ("true", "false")
    assert csv_cell(T.OBJECT, {"a": [1, "x"]}) == '{"a":[1,"x"]}' and csv_cell(T.ARRAY, []) == "[]"
    assert csv_cell(T.DECIMAL, "-12.50") == "-12.50" and csv_cell(T.INTEGER, 3) == "3"
    assert csv_cell(T.STRING, "=SUM(A1)") == "'=SUM(A1)" and csv_cell(T.STRING, "-x") == "'-x"
    assert csv_cell(T.STRING, "plain") == "plain" and csv_cell(T.DATETIME, "2026-01-02T03:04:05Z").endswith("Z")


def test_decimals_are_fixed_point_strings() -> None:
    from decimal import Decimal

    from services.reports.domain.collections import _dec

    assert [_dec(v) for v in (Decimal("12.50"), 40, 0.1, 1e20, "-3", None, "x", Decimal("NaN"))] == [
        "12.50",
        "40",
        "0.1",
        "100000000000000000000",
        "-3",
        None,
        None,
        None,
    ]
