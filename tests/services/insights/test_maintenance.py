"""Maintenance: each slot runs once however many workers offer it; raw retention drops whole partitions and
leaves the rollups; expired rollups go; rebuild-rollups finds and repairs what differs from the raw events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from services.insights import admin
from services.insights.repository import events as store
from services.insights.service import maintenance
from services.insights.service.orders_events import raw_window_start
from shared.db import connection, tenant_tx
from tests.factories import create_order
from tests.services.insights.feed import apply, outbox_events


async def test_two_workers_offering_one_slot_run_it_once(insights_pool: Any) -> None:
    runs: list[str] = []

    async def slow(conn: asyncpg.Connection, now: datetime) -> dict[str, Any]:
        runs.append(now.isoformat())
        await asyncio.sleep(0.3)  # both claimers are inside the slot at once
        return {"ran": True}

    task = maintenance.Task(f"test-{uuid.uuid4().hex[:8]}", slow)
    now = datetime.now(UTC)
    outcomes = await asyncio.gather(*(maintenance.run_slot(insights_pool, task, now) for _ in range(3)))
    assert sorted(outcomes, key=lambda o: o is None) == [{"ran": True}, None, None] and len(runs) == 1
    # The next hour is another slot.
    assert await maintenance.run_slot(insights_pool, task, now + timedelta(hours=1)) == {"ran": True}
    assert await maintenance.run_slot(insights_pool, task, now) is None

    async def failing(conn: asyncpg.Connection, now: datetime) -> dict[str, Any]:
        raise RuntimeError("store down")

    # A failed run releases its slot with its transaction: the next offer runs it.
    flaky = maintenance.Task(f"test-{uuid.uuid4().hex[:8]}", failing)
    assert (await maintenance.run_due_tasks(insights_pool, (flaky,), now))[flaky.name] is None
    retry = maintenance.Task(flaky.name, slow)
    assert await maintenance.run_slot(insights_pool, retry, now) == {"ran": True}
    async with connection(insights_pool) as conn:
        rows = await conn.fetch("SELECT slot, outcome FROM maintenance_slots WHERE task = $1", task.name)
    assert sorted(r["slot"] for r in rows) == sorted(
        {maintenance.hour_slot(now), maintenance.hour_slot(now + timedelta(hours=1))}
    )
    assert all(r["outcome"] == {"ran": True} for r in rows)


async def test_retention_drops_old_partitions_whole_and_keeps_their_rollups(insights_pool: Any, tenant: Any) -> None:
    now = datetime.now(UTC)
    old_day = raw_window_start(now).date() - timedelta(days=3)
    kept_day = raw_window_start(now).date()
    async with connection(insights_pool) as conn:
        await conn.execute("SELECT ensure_event_partitions($1, $2)", old_day, kept_day)
    old = datetime.combine(old_day, datetime.min.time(), UTC) + timedelta(hours=12)
    kept = datetime.combine(kept_day, datetime.min.time(), UTC) + timedelta(hours=12)
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        stored, _ = await store.store(
            conn,
            tenant.org_id,
            tenant.integration_id,
            None,
            [
                store.NewEvent(
                    occurred_at=at,
                    source_key=f"ret-{uuid.uuid4().hex}",
                    type="purchase",
                    event_class="business",
                    customer_id=None,
                    amount=Decimal("5.00"),
                    currency="GBP",
                )
                for at in (old, kept)
            ],
        )
    assert stored == 2

    async with connection(insights_pool) as conn, conn.transaction():
        outcome = await maintenance.event_partitions(conn, now)
    assert f"events_{old_day:%Y%m%d}" in outcome["dropped"]
    assert f"events_{kept_day:%Y%m%d}" not in outcome["dropped"]
    async with connection(insights_pool) as conn:
        parts = {
            r["relname"]
            for r in await conn.fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'events'::regclass"
            )
        }
    ahead = {f"events_{now.date() + timedelta(days=n):%Y%m%d}" for n in range(maintenance.PARTITIONS_AHEAD_DAYS + 1)}
    assert ahead <= parts and f"events_{old_day:%Y%m%d}" not in parts
    assert min(parts) >= f"events_{kept_day:%Y%m%d}"
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        raw = await conn.fetch("SELECT occurred_at FROM events WHERE org_id = $1", tenant.org_id)
        daily = await conn.fetch(
            "SELECT day, events FROM event_rollups_daily WHERE org_id = $1 ORDER BY day", tenant.org_id
        )
    assert [r["occurred_at"] for r in raw] == [kept]
    assert [r["events"] for r in daily] == [1, 1]  # the dropped day's rollup stays


async def test_rollups_past_their_retention_are_deleted(insights_pool: Any, tenant: Any) -> None:
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    nil = store.NIL
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        for h in (hour - timedelta(hours=50), hour - timedelta(hours=47)):
            await conn.execute(
                "INSERT INTO event_rollups_hourly VALUES ($1, $2, 'visit', $3, $4, $4, '', '', 1, 0)",
                tenant.org_id,
                h,
                tenant.integration_id,
                nil,
            )
        for d in (now.date() - timedelta(days=800), now.date() - timedelta(days=700)):
            await conn.execute(
                "INSERT INTO event_rollups_daily VALUES ($1, $2, 'visit', $3, $4, $4, '', '', 1, 0)",
                tenant.org_id,
                d,
                tenant.integration_id,
                nil,
            )
    async with connection(insights_pool) as conn, conn.transaction():
        outcome = await maintenance.rollup_expiry(conn, now)
    assert outcome["deleted"]["hourly"] >= 1 and outcome["deleted"]["daily"] >= 1
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        hours = [
            r[0] for r in await conn.fetch("SELECT hour FROM event_rollups_hourly WHERE org_id = $1", tenant.org_id)
        ]
        days = [r[0] for r in await conn.fetch("SELECT day FROM event_rollups_daily WHERE org_id = $1", tenant.org_id)]
    assert hours == [hour - timedelta(hours=47)]
    assert days == [now.date() - timedelta(days=700)]


async def test_rebuild_rollups_reports_what_differs_and_repairs_it(
    pool: Any, insights_pool: Any, settings: Any, tenant: Any, other_tenant: Any
) -> None:
    for _ in range(2):
        await create_order(pool, tenant, created_at=datetime.now(UTC) - timedelta(days=5))
    await create_order(pool, other_tenant)
    for t in (tenant, other_tenant):
        await apply(insights_pool, settings, await outbox_events(pool, t.org_id))
    clean = await admin.rebuild_rollups(tenant.org_id, check=True)
    assert clean["differences"] == 0, clean

    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        await conn.execute("UPDATE event_rollups_daily SET events = events + 5 WHERE org_id = $1", tenant.org_id)
        await conn.execute("DELETE FROM customer_days WHERE org_id = $1", tenant.org_id)
        await conn.execute(
            "INSERT INTO funnel_firsts VALUES ($1, $2, $3, $4, $4, 1, now())",
            tenant.org_id,
            date.today(),
            tenant.integration_id,
            store.NIL,
        )
    checked = await admin.rebuild_rollups(tenant.org_id, check=True)
    tables = checked["by_organisation"][str(tenant.org_id)]["tables"]
    assert {t: (d["differing"], d["missing"], d["extra"]) for t, d in tables.items()} == {
        "event_rollups_daily": (1, 0, 0),
        "customer_days": (0, 2, 0),
        "funnel_firsts": (0, 0, 1),
    }
    sample = tables["event_rollups_daily"]["samples"][0]
    assert (sample["stored_events"], sample["rebuilt_events"]) == (7, 2)
    assert (await admin.rebuild_rollups(tenant.org_id, check=True))["differences"] == 4  # --check changed nothing

    repaired = await admin.rebuild_rollups(tenant.org_id, check=False)
    assert repaired["differences"] == 4 and repaired["replaced"]
    assert (await admin.rebuild_rollups(tenant.org_id, check=True))["differences"] == 0
    async with tenant_tx(insights_pool, other_tenant.org_id) as conn:  # the other organisation is untouched
        assert (
            await conn.fetchval("SELECT sum(events) FROM event_rollups_daily WHERE org_id = $1", other_tenant.org_id)
            == 1
        )
