"""The orders service's domain events recorded by the reports service: orders as of their newest event, one ledger
row per change, contacts made on first mention, merges re-pointing, erasures emptying, watermarks moving forward
only; each event applied once however often and in whatever order it arrives."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.orders.domain.commission import CommStatus, Status
from services.orders.service import commission
from services.orders.service import erasure as orders_erasure
from shared.db import tenant_tx
from shared.messaging import contracts
from shared.messaging.contracts import Event
from tests.factories import create_order
from tests.services.reports.feed import apply_orders, copy_with_new_id, outbox_events, table

ORDER_TYPES = {contracts.ORDER_CREATED, contracts.ORDER_STATUS_CHANGED, contracts.COMMISSION_CHANGED}


async def _change(pool: Any, tenant: Any, order_id: Any, status: Status, comm: CommStatus | None, **kw: Any) -> None:
    async with tenant_tx(pool, tenant.org_id) as conn:
        await commission.change_state(
            conn,
            tenant.org_id,
            order_id,
            status=status,
            comm_status=comm,
            amount=None,
            currency=None,
            source="provider",
            reference=None,
            actor=None,
            **kw,
        )


async def _orders_with_history(pool: Any, tenant: Any) -> dict[str, dict[str, Any]]:
    """A pending order, one created successful, one confirmed then paid, one failed."""
    pending = await create_order(pool, tenant, email=f"p-{uuid.uuid4().hex[:6]}@example.com")
    created_ok = await create_order(pool, tenant, product="Credit Cards", status="SUCCESSFUL")
    confirmed = await create_order(pool, tenant, product="Current Accounts")
    failed = await create_order(pool, tenant)
    await _change(pool, tenant, confirmed["id"], Status.SUCCESSFUL, CommStatus.PENDING)
    await _change(pool, tenant, confirmed["id"], Status.SUCCESSFUL, CommStatus.SUCCESSFUL)
    await _change(pool, tenant, failed["id"], Status.FAILED, None, failure_reason="declined")
    return {"pending": pending, "created_ok": created_ok, "confirmed": confirmed, "failed": failed}


async def _source(pool: Any, tenant: Any) -> dict[Any, tuple[Any, ...]]:
    async with tenant_tx(pool, tenant.org_id) as conn:
        rows = await conn.fetch(
            "SELECT id, integration_id, product_id, category_id, customer_id, status, comm_status, commission_amount,"
            " currency, kind, failure_reason, created_at FROM orders WHERE org_id = $1",
            tenant.org_id,
        )
    return {r["id"]: tuple(r.values())[1:] for r in rows}


async def _state(reports_pool: Any, tenant: Any) -> dict[str, Any]:
    # No organisation filter in these reads on purpose: row-level security alone keeps other tenants out.
    orders = await table(
        reports_pool,
        tenant.org_id,
        "SELECT id, integration_id, product_id, category_id, customer_id, status, comm_status, amount, currency,"
        " kind, failure_reason, created_at, successful_at, as_of FROM orders",
    )
    ledger = await table(reports_pool, tenant.org_id, "SELECT * FROM commission_ledger ORDER BY event_id")
    contacts = await table(reports_pool, tenant.org_id, "SELECT * FROM contacts ORDER BY id")
    watermarks = await table(reports_pool, tenant.org_id, "SELECT * FROM watermarks ORDER BY source")
    return {"orders": {o["id"]: o for o in orders}, "ledger": ledger, "contacts": contacts, "watermarks": watermarks}


async def test_each_orders_event_is_applied_once_and_the_copy_equals_the_source(
    pool: Any, reports_pool: Any, tenant: Any
) -> None:
    made = await _orders_with_history(pool, tenant)
    events = await outbox_events(pool, tenant.org_id)
    assert await apply_orders(reports_pool, events) == len(events)
    state = await _state(reports_pool, tenant)

    source = await _source(pool, tenant)
    copy = {k: tuple(v.values())[1:12] for k, v in state["orders"].items()}
    assert copy == source
    # One ledger row per change event, with the change it carried.
    changes = [e for e in events if e.type in (contracts.ORDER_STATUS_CHANGED, contracts.COMMISSION_CHANGED)]
    assert len(state["ledger"]) == len(changes) == 3
    paid = [r for r in state["ledger"] if r["order_id"] == made["confirmed"]["id"]]
    assert sorted((r["from_comm"], r["to_comm"]) for r in paid) == [("N/A", "PENDING"), ("PENDING", "SUCCESSFUL")]
    # When each order became successful: at creation, or at its status change.
    confirmed_at = next(e.occurred_at for e in changes if e.payload["order_id"] == str(made["confirmed"]["id"]))
    assert state["orders"][made["confirmed"]["id"]]["successful_at"] == confirmed_at
    assert state["orders"][made["created_ok"]["id"]]["successful_at"] == made["created_ok"]["created_at"]
    assert state["orders"][made["pending"]["id"]]["successful_at"] is None
    # A contact per customer, created with its kind.
    kinds = {c["id"]: c["kind"] for c in state["contacts"]}
    assert kinds[made["pending"]["customer_id"]] == "generic"
    assert kinds[made["failed"]["customer_id"]] == "anonymous"
    assert {o[3] for o in source.values()} <= set(kinds)
    [wm] = state["watermarks"]
    assert wm["source"] == "orders" and wm["occurred_at"] == max(e.occurred_at for e in events)

    # A replay applies nothing and changes nothing.
    assert await apply_orders(reports_pool, events) == 0
    assert await _state(reports_pool, tenant) == state


async def test_an_older_event_arriving_late_changes_nothing_and_the_watermark_stays(
    pool: Any, reports_pool: Any, tenant: Any
) -> None:
    order = await create_order(pool, tenant)
    await _change(pool, tenant, order["id"], Status.SUCCESSFUL, CommStatus.PENDING)
    await _change(pool, tenant, order["id"], Status.SUCCESSFUL, CommStatus.SUCCESSFUL)
    events = await outbox_events(pool, tenant.org_id, ORDER_TYPES)
    assert [e.type for e in events] == [
        contracts.ORDER_CREATED,
        contracts.ORDER_STATUS_CHANGED,
        contracts.COMMISSION_CHANGED,
    ]
    # Newest first: each older one arrives late.
    assert await apply_orders(reports_pool, list(reversed(events))) == 3
    [row] = await table(reports_pool, tenant.org_id, "SELECT * FROM orders WHERE id = $1", order["id"])
    assert (row["status"], row["comm_status"], row["as_of"]) == ("SUCCESSFUL", "SUCCESSFUL", events[-1].occurred_at)
    assert row["successful_at"] == events[1].occurred_at  # learnt from the late status change
    ledger = await table(
        reports_pool, tenant.org_id, "SELECT * FROM commission_ledger WHERE order_id = $1", order["id"]
    )
    assert len(ledger) == 2  # history: the late change is still recorded
    [wm] = await table(reports_pool, tenant.org_id, "SELECT * FROM watermarks WHERE source = 'orders'")
    assert wm["occurred_at"] == events[-1].occurred_at and wm["event_id"] == events[-1].id

    # An old state under a new envelope id (a stale copy): applied, but the order and watermark stay.
    stale = copy_with_new_id(events[0], occurred_at=events[0].occurred_at - timedelta(seconds=1))
    assert await apply_orders(reports_pool, [stale]) == 1
    [again] = await table(reports_pool, tenant.org_id, "SELECT * FROM orders WHERE id = $1", order["id"])
    assert again == row
    [wm2] = await table(reports_pool, tenant.org_id, "SELECT * FROM watermarks WHERE source = 'orders'")
    assert wm2 == wm


async def test_a_merge_re_points_orders_before_and_after_it(
    gateway: Any, pool: Any, reports_pool: Any, tenant: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    anon, email = f"anon-{tag}", f"jo-{tag}@example.com"
    generic_order = await create_order(pool, tenant, email=email)
    anon_order = await create_order(pool, tenant, anonymous_id=anon)
    r = await gateway.post(
        "/v1/customers/identify",
        json={"anonymousId": anon, "email": email},
        headers={"authorization": f"Bearer {tenant.api_key}"},
    )
    assert r.status_code == 200, r.text
    events = await outbox_events(pool, tenant.org_id)
    [merged] = [e for e in events if e.type == contracts.CUSTOMER_MERGED]
    anon_id = uuid.UUID(merged.payload["from_customer_id"])
    generic_id = uuid.UUID(merged.payload["into_customer_id"])
    assert anon_order["customer_id"] == anon_id and generic_order["customer_id"] == generic_id

    # The anonymous order's creation arrives after the merge (workers race): it is recorded under the survivor.
    late = [e for e in events if e.type == contracts.ORDER_CREATED and e.payload["order_id"] == str(anon_order["id"])]
    first = [e for e in events if e not in late]
    await apply_orders(reports_pool, first)
    await apply_orders(reports_pool, late)
    rows = await table(reports_pool, tenant.org_id, "SELECT id, customer_id FROM orders")
    assert {r["id"]: r["customer_id"] for r in rows} == {anon_order["id"]: generic_id, generic_order["id"]: generic_id}
    contacts = {c["id"]: c for c in await table(reports_pool, tenant.org_id, "SELECT * FROM contacts")}
    assert contacts[anon_id]["merged_into"] == generic_id
    assert contacts[generic_id]["merged_into"] is None
    assert contacts[generic_id]["first_seen"] <= anon_order["created_at"]

    # Applied in the source's order instead (the order first, then the merge): the same answer.
    other = await create_order(pool, tenant, anonymous_id=f"anon2-{tag}")
    r = await gateway.post(
        "/v1/customers/identify",
        json={"anonymousId": f"anon2-{tag}", "email": email},
        headers={"authorization": f"Bearer {tenant.api_key}"},
    )
    assert r.status_code == 200, r.text
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    [row] = await table(reports_pool, tenant.org_id, "SELECT customer_id FROM orders WHERE id = $1", other["id"])
    assert row["customer_id"] == generic_id


async def test_an_erasure_empties_the_contact_and_keeps_the_figures(pool: Any, reports_pool: Any, tenant: Any) -> None:
    order = await create_order(pool, tenant, email=f"erase-{uuid.uuid4().hex[:6]}@example.com")
    customer = order["customer_id"]
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    # What the contact will hold once the orders service publishes it (its events carry no personal data yet).
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        await conn.execute(
            "UPDATE contacts SET email = 'x@example.com', display_name = 'X', custom_fields = '{\"tier\": \"gold\"}',"
            " account_currency = 'EUR' WHERE org_id = $1 AND id = $2",
            tenant.org_id,
            customer,
        )
    async with tenant_tx(pool, tenant.org_id) as conn:
        assert (await orders_erasure.erase(conn, tenant.org_id, customer))["erased"]
    events = await outbox_events(pool, tenant.org_id, {contracts.CUSTOMER_ERASED})
    assert await apply_orders(reports_pool, events) == 1
    [c] = await table(reports_pool, tenant.org_id, "SELECT * FROM contacts WHERE id = $1", customer)
    assert (c["email"], c["display_name"], c["custom_fields"]) == (None, None, None)
    assert c["erased_at"] == datetime.fromisoformat(events[0].payload["erased_at"])
    assert c["account_currency"] == "EUR"  # a setting, not personal data
    [o] = await table(reports_pool, tenant.org_id, "SELECT customer_id, amount FROM orders WHERE id = $1", order["id"])
    assert o["customer_id"] == customer  # the order stays, under the pseudonymous id
    # Erased once: a copy of the event changes nothing more.
    assert await apply_orders(reports_pool, [copy_with_new_id(events[0])]) == 1
    [again] = await table(reports_pool, tenant.org_id, "SELECT * FROM contacts WHERE id = $1", customer)
    assert again == c


async def test_fx_rates_and_organisation_settings_are_kept(pool: Any, reports_pool: Any, tenant: Any) -> None:
    events = await outbox_events(pool, tenant.org_id, contracts.ORGANISATION_EVENTS)
    assert await apply_orders(reports_pool, events) == len(events) >= 1
    [s] = await table(reports_pool, tenant.org_id, "SELECT * FROM organisation_settings")
    assert s["org_id"] == tenant.org_id and s["time_zone"] == "Europe/London"

    day = date(2001, 1, 2) + timedelta(days=uuid.uuid4().int % 3000)  # a day no other test loads
    now = datetime.now(UTC)
    rates = Event(
        uuid.uuid4(),
        contracts.FX_RATES_PUBLISHED,
        contracts.REFERENCE_DATA_ORG_ID,
        now,
        1,
        {"rates": [{"day": day.isoformat(), "currency": "GBP", "perEuro": "0.85"}]},
    )
    correction = Event(
        uuid.uuid4(),
        contracts.FX_RATES_PUBLISHED,
        contracts.REFERENCE_DATA_ORG_ID,
        now + timedelta(seconds=1),
        1,
        {"rates": [{"day": day.isoformat(), "currency": "GBP", "perEuro": "0.86"}]},
    )
    assert await apply_orders(reports_pool, [correction, rates]) == 2  # the correction first: it still wins
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        value = await conn.fetchval("SELECT per_euro FROM fx_rates WHERE currency = 'GBP' AND day = $1", day)
        assert value == Decimal("0.86")
        # Reference data moves no organisation's watermark.
        assert (
            await conn.fetchval("SELECT count(*) FROM watermarks WHERE org_id = $1", contracts.REFERENCE_DATA_ORG_ID)
            == 0
        )
