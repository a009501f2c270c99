"""The insights demo (demo/insights.py) on a scaled-down orders demo: events for every customer, a funnel
that drops off step by step, the real orders at its end, nothing outside the 90 days, a second load
skipped, and read models equal to what the ingestion statement leaves for the same events."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from demo.insights import insights_demo_loaded, load_insights_demo
from demo.orders import load_demo
from services.insights.domain.business import BY_NAME, TYPES
from services.insights.repository import events as events_store
from services.insights.repository import orders as orders_copy
from services.insights.repository import rollups
from services.insights.service import insight as builder
from services.insights.service import saved_insights
from shared.db import tenant_tx

CUSTOMERS, ORDERS, DAYS = 120, 600, 90
NIL = UUID(int=0)


@pytest.fixture(scope="module")
async def demo(settings: Any) -> dict[str, Any]:
    """A small orders demo of its own organisation, then its insights demo, both ending at `now`."""
    org_id = uuid4()
    now = time.time()
    orders_owner = settings.service_database_url("orders", "owner")
    insights_owner = settings.service_database_url("insights", "owner")
    await load_demo(
        orders_owner,
        org_id=org_id,
        org_name=f"Insights demo {org_id.hex[:6]}",
        customers=CUSTOMERS,
        orders=ORDERS,
        days=DAYS,
        admin_subject=f"test|{org_id}",
        admin_email=f"admin-{org_id.hex[:8]}@demo.example",
        ledger=False,
        bulk=False,
        now=now,
    )
    messages: list[str] = []
    started = time.monotonic()
    result = await load_insights_demo(
        orders_owner, insights_owner, org_id=org_id, days=DAYS, progress=messages.append, now=now
    )
    return {
        "org_id": org_id,
        "now": now,
        "result": result,
        "messages": messages,
        "seconds": time.monotonic() - started,
        "orders_owner": orders_owner,
        "insights_owner": insights_owner,
    }


@pytest.fixture
async def insights_owner(demo: dict[str, Any]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(demo["insights_owner"])
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def orders_owner(demo: dict[str, Any]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(demo["orders_owner"])
    try:
        yield conn
    finally:
        await conn.close()


async def test_every_customer_has_sessions_on_its_integrations_with_devices(
    demo: dict[str, Any], insights_owner: asyncpg.Connection, orders_owner: asyncpg.Connection
) -> None:
    org_id = demo["org_id"]
    customers = {r["id"]: r for r in await orders_owner.fetch("SELECT * FROM customers WHERE org_id = $1", org_id)}
    assert len(customers) == CUSTOMERS
    per_customer = await insights_owner.fetch(
        """SELECT customer_id, count(*) FILTER (WHERE type = 'visit') AS visits, count(*) AS events,
                  array_agg(DISTINCT integration_id) AS integrations,
                  array_agg(DISTINCT anonymous_id) FILTER (WHERE source_key NOT LIKE 'order:%') AS anons,
                  count(*) FILTER (WHERE device_id IS NULL AND class = 'behaviour') AS without_device
             FROM events WHERE org_id = $1 GROUP BY customer_id""",
        org_id,
    )
    assert {r["customer_id"] for r in per_customer} == set(customers)
    visited = defaultdict(set)
    for v in await orders_owner.fetch(
        "SELECT customer_id, integration_id FROM customer_visits WHERE org_id = $1", org_id
    ):
        visited[v["customer_id"]].add(v["integration_id"])
    for r in per_customer:
        c = customers[r["customer_id"]]
        assert r["visits"] >= 1 and r["without_device"] == 0
        assert set(r["integrations"]) <= visited[r["customer_id"]]  # only where it was seen
        expected_anon = c["anonymous_id"] if c["kind"] == "anonymous" else None
        assert r["anons"] == [expected_anon]
    # Viewed products are products of the event's integration and category, in the orders database.
    products = {
        (r["id"]): (r["integration_id"], r["category_id"])
        for r in await orders_owner.fetch("SELECT * FROM products WHERE org_id = $1", org_id)
    }
    viewed = await insights_owner.fetch(
        "SELECT DISTINCT product_id, integration_id, category_id FROM events"
        " WHERE org_id = $1 AND product_id IS NOT NULL",
        org_id,
    )
    assert viewed and all(products[r["product_id"]] == (r["integration_id"], r["category_id"]) for r in viewed)
    devices = await insights_owner.fetch("SELECT * FROM devices WHERE org_id = $1", org_id)
    assert {d["customer_id"] for d in devices} == set(customers)
    assert {d["platform"] for d in devices} == {"web", "ios", "android"}
    assert len(devices) > CUSTOMERS  # some customers use two


async def test_the_funnel_drops_off_step_by_step_and_per_category(
    demo: dict[str, Any], insights_owner: asyncpg.Connection
) -> None:
    org_id = demo["org_id"]
    steps = dict(
        await insights_owner.fetch(
            "SELECT step, count(*) FROM funnel_firsts WHERE org_id = $1 GROUP BY step ORDER BY step", org_id
        )
    )
    counts = [steps[s] for s in range(1, 7)]
    assert counts == sorted(counts, reverse=True) and len(set(counts)) == 6, counts
    by_category: dict[UUID, dict[int, int]] = defaultdict(dict)
    for r in await insights_owner.fetch(
        "SELECT category_id, step, count(*) AS n FROM funnel_firsts WHERE org_id = $1 AND step BETWEEN 2 AND 4"
        " GROUP BY 1, 2",
        org_id,
    ):
        by_category[r["category_id"]][r["step"]] = r["n"]
    assert len(by_category) == 3 and NIL not in by_category
    rates = []
    for category, n in by_category.items():
        assert n[2] > n[3] > n[4], (category, n)
        rates.append(round(n[4] / n[2], 2))
    assert len(set(rates)) > 1  # categories convert differently


async def test_every_order_ends_a_funnel_with_its_placed_and_successful_events(
    demo: dict[str, Any], insights_owner: asyncpg.Connection, orders_owner: asyncpg.Connection
) -> None:
    org_id = demo["org_id"]
    orders = await orders_owner.fetch("SELECT * FROM orders WHERE org_id = $1", org_id)
    assert len(orders) == ORDERS
    events = {
        r["source_key"]: r
        for r in await insights_owner.fetch(
            "SELECT * FROM events WHERE org_id = $1 AND type IN ('order_placed', 'order_successful')", org_id
        )
    }
    expected = {f"order:{o['id']}:placed" for o in orders} | {
        f"order:{o['id']}:successful" for o in orders if o["status"] == "SUCCESSFUL"
    }
    assert set(events) == expected
    for o in orders:
        placed = events[f"order:{o['id']}:placed"]
        assert placed["occurred_at"] == o["created_at"] and placed["customer_id"] == o["customer_id"]
        assert (placed["product_id"], placed["amount"], placed["currency"]) == (
            o["product_id"],
            o["commission_amount"],
            o["currency"],
        )
    # Each order was started by its customer, for its product, shortly before it was placed.
    started = await insights_owner.fetchval(
        """SELECT count(*) FROM events p
            WHERE p.org_id = $1 AND p.type = 'order_placed' AND EXISTS (
                  SELECT 1 FROM events s WHERE s.org_id = $1 AND s.type = 'order_started'
                     AND s.customer_id = p.customer_id AND s.product_id = p.product_id
                     AND s.occurred_at BETWEEN p.occurred_at - interval '1 hour' AND p.occurred_at)""",
        org_id,
    )
    assert started == ORDERS
    # The orders copy holds every order with every column.
    copy = {r["id"]: r for r in await insights_owner.fetch("SELECT * FROM orders WHERE org_id = $1", org_id)}
    assert set(copy) == {o["id"] for o in orders}
    for o in orders:
        c = copy[o["id"]]
        assert (c["integration_id"], c["category_id"], c["product_id"], c["customer_id"]) == (
            o["integration_id"],
            o["category_id"],
            o["product_id"],
            o["customer_id"],
        )
        assert (c["status"], c["comm_status"], c["amount"], c["currency"], c["kind"]) == (
            o["status"],
            o["comm_status"],
            o["commission_amount"],
            o["currency"],
            o["kind"],
        )
        assert (c["created_at"], c["as_of"]) == (o["created_at"], o["updated_at"])
    tz = await insights_owner.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", org_id)
    assert tz == await orders_owner.fetchval("SELECT time_zone FROM organisations WHERE id = $1", org_id)


async def test_events_stay_within_the_90_days_and_never_in_the_future(
    demo: dict[str, Any], insights_owner: asyncpg.Connection
) -> None:
    first, last, total = await insights_owner.fetchrow(
        "SELECT min(occurred_at), max(occurred_at), count(*) FROM events WHERE org_id = $1", demo["org_id"]
    )
    now = datetime.fromtimestamp(demo["now"], UTC)
    assert first >= now - timedelta(days=DAYS) and last <= now
    assert total == demo["result"].events
    assert total > 50 * CUSTOMERS  # returning customers, many behaviour events
    assert any(m.startswith("events ") for m in demo["messages"]) and "analyzed" in demo["messages"]


async def test_a_second_load_is_skipped_and_changes_nothing(
    demo: dict[str, Any], insights_owner: asyncpg.Connection
) -> None:
    org_id = demo["org_id"]
    assert await insights_demo_loaded(demo["insights_owner"], org_id)
    assert not await insights_demo_loaded(demo["insights_owner"], uuid4())
    before = await insights_owner.fetchval("SELECT count(*) FROM events WHERE org_id = $1", org_id)
    with pytest.raises(ValueError, match="already loaded"):
        await load_insights_demo(demo["orders_owner"], demo["insights_owner"], org_id=org_id, now=demo["now"])
    assert await insights_owner.fetchval("SELECT count(*) FROM events WHERE org_id = $1", org_id) == before
    with pytest.raises(ValueError, match="not in the orders database"):
        await load_insights_demo(demo["orders_owner"], demo["insights_owner"], org_id=uuid4(), now=demo["now"])


async def test_another_organisation_sees_none_of_the_demo(
    demo: dict[str, Any], insights_pool: Any, tenant: Any
) -> None:
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        for table in (
            "events",
            "customer_days",
            "funnel_firsts",
            "devices",
            "orders",
            "event_rollups_daily",
            "entity_counts",
        ):
            assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE org_id = $1", demo["org_id"]) == 0
    async with tenant_tx(insights_pool, demo["org_id"]) as conn:
        assert await conn.fetchval("SELECT count(*) FROM events") == demo["result"].events


_READ_MODELS = {
    "event_rollups_daily": "day, type, integration_id, category_id, product_id, channel, currency, events, amount",
    "event_rollups_hourly": "hour, type, integration_id, category_id, product_id, channel, currency, events, amount",
    "customer_days": "day, integration_id, category_id, customer_id, events, visits",
    "funnel_firsts": "day, integration_id, category_id, customer_id, step, first_at",
    "devices": "customer_id, device_id, platform, user_agent, first_seen, last_seen",
    "order_rollups_daily": "day, integration_id, category_id, status, comm_status, currency, orders, commission",
}


def _count_key(event_type: str, state: str | None) -> str | None:
    """What ingestion (services/insights/service/ingest.py) gives the store: the state group, "" or None."""
    business = BY_NAME.get(event_type)
    if business is None:
        return None
    return business.count_key(state) if state is not None and business.counts(state) else ""


async def _read_model(conn: asyncpg.Connection, org_id: UUID, table: str, hours_after: datetime) -> list[tuple]:
    where = " AND hour > $2" if table == "event_rollups_hourly" else ""
    args: list[Any] = [org_id, hours_after] if where else [org_id]
    rows = await conn.fetch(f"SELECT {_READ_MODELS[table]} FROM {table} WHERE org_id = $1{where}", *args)
    return sorted(tuple(r) for r in rows)


async def test_read_models_equal_what_ingesting_the_same_events_leaves(
    demo: dict[str, Any], insights_owner: asyncpg.Connection, insights_pool: Any
) -> None:
    """The demo's events fed through the ingestion statement (and its orders through the orders copy's
    upsert, whose trigger keeps the rollup) into a fresh organisation leave the same read models."""
    org_id, twin = demo["org_id"], uuid4()
    settings = await insights_owner.fetchrow("SELECT * FROM organisation_settings WHERE org_id = $1", org_id)
    device_info = {
        (d["customer_id"], d["device_id"]): (d["platform"], d["user_agent"])
        for d in await insights_owner.fetch("SELECT * FROM devices WHERE org_id = $1", org_id)
    }
    events = await insights_owner.fetch("SELECT * FROM events WHERE org_id = $1 ORDER BY occurred_at, id", org_id)
    orders = await insights_owner.fetch("SELECT * FROM orders WHERE org_id = $1", org_id)
    batches: dict[tuple[UUID, str | None], list[events_store.NewEvent]] = defaultdict(list)
    for e in events:
        platform, agent = device_info.get((e["customer_id"], e["device_id"]), (None, None))
        batches[(e["integration_id"], e["channel"])].append(
            events_store.NewEvent(
                occurred_at=e["occurred_at"],
                source_key=e["source_key"],
                type=e["type"],
                event_class=e["class"],
                customer_id=e["customer_id"],
                anonymous_id=e["anonymous_id"],
                device_id=e["device_id"],
                device_platform=platform,
                device_user_agent=agent,
                product_id=e["product_id"],
                category_id=e["category_id"],
                amount=e["amount"],
                currency=e["currency"],
                entity_id=e["entity_id"],
                state=e["state"],
                items=json.loads(e["items"]) if e["items"] is not None else None,
                properties=dict(json.loads(e["properties"])),
                fields=json.loads(e["fields"]) if e["fields"] is not None else None,
                custom_fields=json.loads(e["custom_fields"]) if e["custom_fields"] is not None else None,
                account_currency=e["account_currency"],
                count_key=_count_key(e["type"], e["state"]),
            )
        )
    async with tenant_tx(insights_pool, twin) as conn:
        await conn.execute(
            "INSERT INTO organisation_settings (org_id, name, time_zone, base_currency, as_of)"
            " VALUES ($1, $2, $3, $4, $5)",
            twin,
            settings["name"],
            settings["time_zone"],
            settings["base_currency"],
            settings["as_of"],
        )
        stored = 0
        for (integration_id, channel), batch in batches.items():
            for lo in range(0, len(batch), 2000):
                n, _types = await events_store.store(conn, twin, integration_id, channel, batch[lo : lo + 2000])
                stored += n
        assert stored == len(events)
        for o in orders:
            payload = {
                "order_id": str(o["id"]),
                "integration_id": str(o["integration_id"]),
                "category_id": str(o["category_id"]),
                "product_id": str(o["product_id"]),
                "customer_id": str(o["customer_id"]),
                "status": o["status"],
                "comm_status": o["comm_status"],
                "amount": str(o["amount"]),
                "currency": o["currency"],
                "created_at": o["created_at"].isoformat(),
                "kind": o["kind"],
            }
            assert await orders_copy.upsert(conn, twin, payload, o["as_of"])
    hours_after = datetime.now(UTC) - timedelta(hours=47)  # both sides' 48-hour windows cover these hours
    for table in _READ_MODELS:
        loaded = await _read_model(insights_owner, org_id, table, hours_after)
        ingested = await _read_model(insights_owner, twin, table, hours_after)
        assert loaded, table
        assert loaded == ingested, table
    # Business events count (and claim entity_counts) exactly as the ingestion statement decided for the twin.
    counted = "SELECT source_key, counted FROM events WHERE org_id = $1 AND class = 'business'"
    loaded_counted = sorted(tuple(r) for r in await insights_owner.fetch(counted, org_id))
    assert loaded_counted and loaded_counted == sorted(tuple(r) for r in await insights_owner.fetch(counted, twin))
    claims = "SELECT integration_id, type, entity_id, count_key, source_key, occurred_at FROM entity_counts"
    loaded_claims = sorted(tuple(r) for r in await insights_owner.fetch(f"{claims} WHERE org_id = $1", org_id))
    assert loaded_claims == sorted(tuple(r) for r in await insights_owner.fetch(f"{claims} WHERE org_id = $1", twin))


async def test_read_models_equal_their_recomputation(demo: dict[str, Any], insights_pool: Any) -> None:
    """repository/rollups.py's check (the operator's rebuild-rollups, without replacing) finds no difference."""
    now = datetime.now(UTC)
    async with tenant_tx(insights_pool, demo["org_id"]) as conn:
        found = await rollups.rebuild(
            conn,
            demo["org_id"],
            tuple(rollups.BY_TABLE),
            since_day=(now - timedelta(days=DAYS + 2)).date(),
            hour_from=now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=47),
            replace=False,
        )
    assert {d.table: d.as_json() for d in found if d.total} == {}
    assert {d.table for d in found} == set(rollups.BY_TABLE)


async def test_the_events_indexes_are_whole_after_the_load(
    demo: dict[str, Any], insights_owner: asyncpg.Connection
) -> None:
    """A load into an empty events table builds its secondary indexes after the rows: they must be back,
    valid, on the parent and on every partition."""
    parents = await insights_owner.fetch(
        """SELECT c.relname, i.indisvalid, i.indisunique,
                  (SELECT count(*) FROM pg_inherits h WHERE h.inhparent = i.indexrelid) AS attached
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = 'events'::regclass ORDER BY 1"""
    )
    partitions = await insights_owner.fetchval("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
    assert {r["relname"] for r in parents} == {
        "events_pkey",
        "events_source_key",
        "events_customer",
        "events_type",
        "events_ingest_order",  # migration 012: forwarding reads by storing transaction
    }
    assert all(r["indisvalid"] and r["attached"] == partitions for r in parents)
    assert next(r for r in parents if r["relname"] == "events_source_key")["indisunique"]


async def test_the_same_seed_and_time_line_give_the_same_events(demo: dict[str, Any]) -> None:
    import random

    import demo.insights as generator

    snap = await generator._read_orders_demo(demo["orders_owner"], demo["org_id"])

    def events(seed: str) -> list[tuple[Any, ...]]:
        rng = random.Random(seed)
        generator._assign_devices(rng, snap)
        start = demo["now"] - DAYS * 86_400
        plan = generator._plan_sessions(rng, snap, start, demo["now"], 14.0)
        rows = list(generator._session_rows(rng, snap, plan, demo["org_id"], demo["now"], start, {}, lambda _n: None))
        for c in snap.customers:
            c.devices.clear()
        return rows

    loaded_seed = f"insights:{demo['org_id']}:7"  # the loader's: the organisation and the demo's seed
    first = events(loaded_seed)
    assert first == events(loaded_seed)
    assert first != events("another seed")
    # What was loaded is exactly what the seed gives.
    conn = await asyncpg.connect(demo["insights_owner"])
    try:
        await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=tuple, decoder=tuple, format="tuple")
        stored = await conn.fetch(
            "SELECT source_key, occurred_at, type, customer_id, product_id, device_id FROM events"
            " WHERE org_id = $1 AND source_key LIKE 'demo-%'",
            demo["org_id"],
        )
    finally:
        await conn.close()
    assert sorted(tuple(r) for r in stored) == sorted((r[3], r[1], r[4], r[6], r[9], r[8]) for r in first)


async def test_a_load_that_fails_leaves_nothing_and_can_be_run_again(
    demo: dict[str, Any], insights_owner: asyncpg.Connection
) -> None:
    org_id = uuid4()
    await load_demo(
        demo["orders_owner"],
        org_id=org_id,
        org_name=f"Failing demo {org_id.hex[:6]}",
        customers=30,
        orders=100,
        admin_subject=f"test|{org_id}",
        admin_email=f"admin-{org_id.hex[:8]}@demo.example",
        ledger=False,
        bulk=False,
        now=demo["now"],
    )

    def fail_at_read_models(msg: str) -> None:
        if msg.startswith("orders copy"):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await load_insights_demo(
            demo["orders_owner"], demo["insights_owner"], org_id=org_id, progress=fail_at_read_models, now=demo["now"]
        )
    assert not await insights_demo_loaded(demo["insights_owner"], org_id)
    for table in ("events", "devices", "orders", "order_rollups_daily", "organisation_settings", "entity_counts"):
        assert await insights_owner.fetchval(f"SELECT count(*) FROM {table} WHERE org_id = $1", org_id) == 0, table
    enabled = await insights_owner.fetchval(
        "SELECT tgenabled FROM pg_trigger WHERE tgname = 'orders_rollup' AND tgrelid = 'orders'::regclass"
    )
    assert enabled == b"O"  # the orders copy's trigger is on again (the rollback undid its switching off)
    result = await load_insights_demo(demo["orders_owner"], demo["insights_owner"], org_id=org_id, now=demo["now"])
    assert result.events == await insights_owner.fetchval("SELECT count(*) FROM events WHERE org_id = $1", org_id)
    assert result.orders == 100 and await insights_demo_loaded(demo["insights_owner"], org_id)


# --- business events (demo/business.py) -------------------------------------------------------------------

SENT_TYPES = {t.name for t in TYPES if t.counted_type is None}  # every type an integration sends (not `order`)


async def _business(conn: asyncpg.Connection, org_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM events WHERE org_id = $1 AND class = 'business' ORDER BY occurred_at, source_key", org_id
    )


async def test_every_business_type_has_entities_with_lifecycles_fields_and_money(
    demo: dict[str, Any], insights_owner: asyncpg.Connection, orders_owner: asyncpg.Connection
) -> None:
    org_id = demo["org_id"]
    rows = await _business(insights_owner, org_id)
    assert len(rows) == demo["result"].business_events > 20 * CUSTOMERS
    assert {r["type"] for r in rows} == SENT_TYPES
    products = {r["id"] for r in await orders_owner.fetch("SELECT id FROM products WHERE org_id = $1", org_id)}
    customers = {r["id"] for r in await orders_owner.fetch("SELECT id FROM customers WHERE org_id = $1", org_id)}
    entities: dict[tuple[str, str], list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        t = BY_NAME[r["type"]]
        entities[(r["type"], r["entity_id"])].append(r)
        assert r["state"] in t.states and r["customer_id"] in customers and r["device_id"] is None
        fields = json.loads(r["fields"])
        assert {f.name for f in t.fields if f.required} <= set(fields) <= {f.name for f in t.fields}, r["type"]
        for f in t.fields:
            if f.name in fields and f.values:
                assert fields[f.name] in f.values
        assert (r["amount"] is not None) == (t.amount is not None), r["type"]
        if t.amount is not None:
            assert r["currency"] in ("GBP", "EUR") and r["amount"] > 0
        if t.line_items:
            items = json.loads(r["items"])
            assert 2 <= len(items) <= 5 and {UUID(i["productId"]) for i in items} <= products
            assert sum(Decimal(i["amount"]) for i in items) == r["amount"]
        else:
            assert r["items"] is None
        assert r["product_id"] is None or r["product_id"] in products
    assert any(r["custom_fields"] for r in rows) and any(r["account_currency"] for r in rows)
    assert {r["currency"] for r in rows if r["currency"]} == {"GBP", "EUR"}
    # Lifecycles: each entity's events are in time order and in order of its type's states where it says so.
    order = {
        "invoice": ("draft", "posted", "void"),
        "service_request": ("open", "in_progress", "resolved", "closed"),
        "lead": ("created", "qualified", "converted"),
        "subscription": ("trial", "active", "cancelled"),
        "payment": ("pending", "posted"),
        "pass": ("issued", "redeemed"),
        "inventory_item": ("received", "allocated", "returned"),
    }
    multi = 0
    for (kind, _entity), events in entities.items():
        assert len({e["customer_id"] for e in events}) == 1 and len({e["integration_id"] for e in events}) == 1
        states = [e["state"] for e in events]
        multi += len(set(states)) > 1
        if kind in order:  # by each state's first report (a resend may come after a later state)
            ranks = [order[kind].index(s) for s in dict.fromkeys(states) if s in order[kind]]
            assert ranks == sorted(ranks), (kind, states)
    assert multi > len(entities) / 3
    # Posted invoices are paid, some payments fail, some requests are resolved, some leads convert.
    states_of: dict[str, set[str]] = defaultdict(set)
    for (kind, _entity), events in entities.items():
        states_of[kind].update(e["state"] for e in events)
    for kind, wanted in {
        "invoice": {"draft", "posted", "void"},
        "payment": {"pending", "posted"},
        "service_request": {"open", "in_progress", "resolved", "closed"},
        "lead": {"created", "qualified", "converted", "lost"},
        "subscription": {"trial", "active"},
        "pass": {"issued", "redeemed"},
        "award": {"pending", "granted"},
        "inventory_item": {"received", "allocated"},
    }.items():
        assert wanted <= states_of[kind], kind
    # Some entity reports the same counting state twice (a resend): stored both times, counted once.
    twice = [
        (k, s)
        for k, events in entities.items()
        for s in {e["state"] for e in events}
        if BY_NAME[k[0]].counts(s) and sum(e["state"] == s for e in events) > 1
    ]
    assert twice and demo["result"].business_duplicates >= len(twice) > 0
    for (kind, entity), state in twice:
        same = [e for e in entities[(kind, entity)] if e["state"] == state]
        group = [
            e for e in entities[(kind, entity)] if BY_NAME[kind].count_key(e["state"]) == BY_NAME[kind].count_key(state)
        ]
        assert (
            sum(e["counted"] for e in same) <= 1
            and sum(e["counted"] for e in group if BY_NAME[kind].counts(e["state"])) == 1
        )


async def test_business_events_count_once_per_entity_and_group_as_entity_counts_say(
    demo: dict[str, Any], insights_owner: asyncpg.Connection
) -> None:
    org_id = demo["org_id"]
    rows = await _business(insights_owner, org_id)
    groups: dict[tuple[UUID, str, str, str], list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        t = BY_NAME[r["type"]]
        if not t.counts(r["state"]):
            assert not r["counted"], (r["type"], r["state"])  # never in a state its type does not count
            continue
        groups[(r["integration_id"], r["type"], r["entity_id"], t.count_key(r["state"]))].append(r)
    expected = set()
    for key, events in groups.items():
        counted = [e for e in events if e["counted"]]
        assert len(counted) == 1, key  # no entity counted twice in a group
        first = min(events, key=lambda e: (e["occurred_at"], e["source_key"]))
        assert counted[0]["source_key"] == first["source_key"], key  # the first of its group
        expected.add((*key, first["source_key"], first["occurred_at"]))
    stored = {
        tuple(r)
        for r in await insights_owner.fetch(
            "SELECT integration_id, type, entity_id, count_key, source_key, occurred_at FROM entity_counts"
            " WHERE org_id = $1",
            org_id,
        )
    }
    assert stored == expected and len(stored) == demo["result"].entity_counts
    assert sum(r["counted"] for r in rows) == len(stored)
    # Both kinds of rule: a final-state type counts once per entity; a logged type once per entity and state.
    assert {k[3] for k in stored if k[1] == "invoice"} == {"final"}
    assert {k[3] for k in stored if k[1] == "service_request"} >= {"open", "resolved"}


async def test_business_rollups_equal_the_counted_raw_events(
    demo: dict[str, Any], insights_owner: asyncpg.Connection
) -> None:
    org_id = demo["org_id"]
    tz = await insights_owner.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", org_id)
    raw = await insights_owner.fetch(
        """SELECT (occurred_at AT TIME ZONE $2)::date AS day, type, integration_id,
                  coalesce(product_id, $3) AS product_id, coalesce(currency, '') AS currency,
                  count(*) AS events, coalesce(sum(amount), 0) AS amount
             FROM events WHERE org_id = $1 AND class = 'business' AND counted GROUP BY 1, 2, 3, 4, 5""",
        org_id,
        tz,
        NIL,
    )
    rolled = await insights_owner.fetch(
        """SELECT day, type, integration_id, product_id, currency, sum(events) AS events, sum(amount) AS amount
             FROM event_rollups_daily WHERE org_id = $1 AND type = ANY($2::text[]) GROUP BY 1, 2, 3, 4, 5""",
        org_id,
        sorted(SENT_TYPES),
    )
    assert raw and sorted(tuple(r) for r in raw) == sorted(tuple(r) for r in rolled)
    uncounted = await insights_owner.fetchval(
        "SELECT count(*) FROM events WHERE org_id = $1 AND class = 'business' AND NOT counted", org_id
    )
    assert uncounted > 0  # drafts, pending and resends are stored, never rolled up


async def test_the_default_dashboard_shows_the_demo(demo: dict[str, Any], insights_pool: Any) -> None:
    """Seed 002's three default insights (new contacts per day, leads created vs converted per week, service
    requests opened vs resolved per day by priority) answer with data on the demo."""
    org_id = demo["org_id"]
    async with tenant_tx(insights_pool, org_id) as conn:
        for name, _description, raw, _width in saved_insights.DEFAULT_INSIGHTS:
            answer = await builder.answer(conn, org_id, raw)
            totals = [t["value"] for t in answer["total"]]
            assert totals and all(v > 0 for v in totals), name
            if "state" in answer["breakdowns"]:
                values = {s["values"][0] for s in answer["series"] if s["total"]}
                assert values == set(raw["filters"][0]["values"]), name
            if "fields.priority" in answer["breakdowns"]:
                priorities = {s["values"][1] for s in answer["series"]}
                assert len(priorities) > 1 and priorities <= {"low", "medium", "high", "urgent"}, name
            days_with_data = sum(any(s["points"][k] for s in answer["series"]) for k in range(len(answer["buckets"])))
            assert days_with_data >= 5, name  # spread over the range (the full demo fills nearly every bucket)


async def test_the_same_seed_gives_the_same_business_events(demo: dict[str, Any]) -> None:
    import random

    import demo.insights as generator

    snap = await generator._read_orders_demo(demo["orders_owner"], demo["org_id"])
    rng = random.Random(f"insights:{demo['org_id']}:7")
    generator._assign_devices(rng, snap)
    start = demo["now"] - DAYS * 86_400
    plan = generator._plan_sessions(rng, snap, start, demo["now"], 14.0)

    def made(seed: str) -> list[tuple[Any, ...]]:
        rows, _made = generator._business_events(random.Random(seed), snap, plan, demo["org_id"], start, demo["now"])
        return [(r[3], r[1][0], r[4], r[13], r[14], r[20]) for r in rows]

    seed = f"business:{demo['org_id']}:7"
    first = made(seed)
    assert first == made(seed) and first != made("another seed")
    conn = await asyncpg.connect(demo["insights_owner"])
    try:
        await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=tuple, decoder=tuple, format="tuple")
        stored = await conn.fetch(
            "SELECT source_key, occurred_at, type, entity_id, state, counted FROM events"
            " WHERE org_id = $1 AND class = 'business'",
            demo["org_id"],
        )
    finally:
        await conn.close()
    assert sorted((r[0], r[1][0], *tuple(r)[2:]) for r in stored) == sorted(first)
